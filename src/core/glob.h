#pragma once

#include <string_view>

namespace rivulet::core {

// Shell-style match of a whole string: '*' matches any run of bytes (also none), '?'
// exactly one byte, every other byte itself. "order-*" matches "order-42".
bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace rivulet::core
