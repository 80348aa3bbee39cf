#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rivulet::core {

// RFC 4648 section 5 (URL- and filename-safe alphabet), without padding.
std::string Base64UrlEncode(std::string_view bytes);
// Accepts input with or without '=' padding; nullopt on any other character.
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace rivulet::core
