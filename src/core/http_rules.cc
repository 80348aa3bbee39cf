#include "core/http_rules.h"

#include <string>

namespace rivulet::core {

namespace {

// RFC 9110 tchar.
bool IsTokenChar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  static constexpr std::string_view kOthers = "!#$%&'*+-.^_`|~";
  return kOthers.find(static_cast<char>(c)) != std::string_view::npos;
}

std::string Hex(unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("0x") + kHex[c >> 4] + kHex[c & 0xf];
}

}  // namespace

Status CheckHeaderField(std::string_view name, std::string_view value) {
  const std::string shown(name.substr(0, 64));
  if (name.empty()) return Status::InvalidArgument("a header has an empty name (not sent)");
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (!IsTokenChar(c)) {
      return Status::InvalidArgument("header name \"" + shown + "\": character " + Hex(c) +
                                     " at byte " + std::to_string(i) +
                                     " is not allowed in a header name (not sent)");
    }
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return Status::InvalidArgument("header " + shown + ": control character " + Hex(c) +
                                     " at byte " + std::to_string(i) + " of its value (not sent)");
    }
  }
  return Status::Ok();
}

}  // namespace rivulet::core
