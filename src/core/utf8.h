#pragma once

#include <string_view>

namespace rivulet::core {

// Well-formed UTF-8 per RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view text);

// True if the text holds a C0 control character or DEL (bytes 0x00-0x1f, 0x7f).
bool HasControlCharacter(std::string_view text);

}  // namespace rivulet::core
