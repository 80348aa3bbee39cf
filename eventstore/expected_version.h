#pragma once

#include <cstdint>
#include <string>

#include "core/json.h"
#include "core/result.h"

namespace rivulet::eventstore {

// The optimistic-concurrency condition of an append (SPEC 2.3).
class ExpectedVersion {
 public:
  enum class Kind { kAny, kNoStream, kStreamExists, kExact };

  static ExpectedVersion Any() { return ExpectedVersion(Kind::kAny, -1); }
  static ExpectedVersion NoStream() { return ExpectedVersion(Kind::kNoStream, -1); }
  static ExpectedVersion StreamExists() { return ExpectedVersion(Kind::kStreamExists, -1); }
  static ExpectedVersion Exact(int64_t version) { return ExpectedVersion(Kind::kExact, version); }

  // "any", "no_stream", "stream_exists" or a non-negative integer (JSON number, or
  // text of digits for the CLI).
  static Result<ExpectedVersion> FromJson(const core::Json& value);
  static Result<ExpectedVersion> Parse(const std::string& text);

  Kind kind() const { return kind_; }
  int64_t version() const { return version_; }

  // True if a stream whose last version is `current` (-1: no stream) satisfies it.
  bool IsSatisfiedBy(int64_t current) const;

  // As the API names it: "any", "no_stream", "stream_exists" or the number.
  core::Json ToJson() const;
  std::string ToString() const;

 private:
  ExpectedVersion(Kind kind, int64_t version) : kind_(kind), version_(version) {}
  Kind kind_;
  int64_t version_;
};

// How the API names a stream's actual version: the number, or "no_stream" for -1.
core::Json ActualVersionToJson(int64_t current);

}  // namespace rivulet::eventstore
