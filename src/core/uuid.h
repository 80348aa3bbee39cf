#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace rivulet::core {

// A 128-bit RFC 9562 UUID. Text form is 8-4-4-4-12 lowercase hex.
class Uuid {
 public:
  Uuid() = default;
  explicit Uuid(const std::array<uint8_t, 16>& bytes) : bytes_(bytes) {}

  // Accepts the 8-4-4-4-12 hex form in either case; anything else is InvalidArgument.
  static Result<Uuid> Parse(std::string_view text);
  // From exactly 16 raw bytes (as stored); anything else is InvalidArgument.
  static Result<Uuid> FromBytes(std::string_view bytes);

  static Uuid NewV4();
  // Time-ordered (version 7): ids generated later sort later, which keeps the store's
  // id index appending at its right edge instead of touching random pages.
  static Uuid NewV7(int64_t unix_millis);

  std::string ToString() const;
  // Appends the 36-character text form without allocating.
  void AppendTo(std::string& out) const;
  std::string_view bytes_view() const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  int version() const { return bytes_[6] >> 4; }

  friend bool operator==(const Uuid& a, const Uuid& b) { return a.bytes_ == b.bytes_; }
  friend bool operator!=(const Uuid& a, const Uuid& b) { return !(a == b); }
  friend bool operator<(const Uuid& a, const Uuid& b) { return a.bytes_ < b.bytes_; }

 private:
  std::array<uint8_t, 16> bytes_{};
};

}  // namespace rivulet::core
