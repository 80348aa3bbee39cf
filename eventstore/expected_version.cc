#include "eventstore/expected_version.h"

#include <limits>

namespace rivulet::eventstore {

namespace {
constexpr const char* kExpectedForms =
    "expected_version must be \"any\", \"no_stream\", \"stream_exists\" or a version number >= 0";
}

Result<ExpectedVersion> ExpectedVersion::FromJson(const core::Json& value) {
  if (value.is_string()) return Parse(value.get<std::string>());
  if (value.is_number_unsigned()) {
    uint64_t v = value.get<uint64_t>();
    if (v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Exact(static_cast<int64_t>(v));
    }
  } else if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    return Exact(value.get<int64_t>());
  }
  return Status::InvalidArgument(std::string(kExpectedForms) + ", got " +
                                 core::JsonForMessage(value));
}

Result<ExpectedVersion> ExpectedVersion::Parse(const std::string& text) {
  if (text == "any") return Any();
  if (text == "no_stream") return NoStream();
  if (text == "stream_exists") return StreamExists();
  if (!text.empty() && text.size() <= 18 &&
      text.find_first_not_of("0123456789") == std::string::npos) {
    return Exact(std::stoll(text));
  }
  return Status::InvalidArgument(std::string(kExpectedForms) + ", got \"" + text.substr(0, 64) +
                                 "\"");
}

bool ExpectedVersion::IsSatisfiedBy(int64_t current) const {
  switch (kind_) {
    case Kind::kAny:
      return true;
    case Kind::kNoStream:
      return current < 0;
    case Kind::kStreamExists:
      return current >= 0;
    case Kind::kExact:
      return current == version_;
  }
  return false;
}

core::Json ExpectedVersion::ToJson() const {
  switch (kind_) {
    case Kind::kAny:
      return "any";
    case Kind::kNoStream:
      return "no_stream";
    case Kind::kStreamExists:
      return "stream_exists";
    case Kind::kExact:
      return version_;
  }
  return nullptr;
}

std::string ExpectedVersion::ToString() const {
  core::Json j = ToJson();
  return j.is_string() ? j.get<std::string>() : j.dump();
}

core::Json ActualVersionToJson(int64_t current) {
  if (current < 0) return "no_stream";
  return current;
}

}  // namespace rivulet::eventstore
