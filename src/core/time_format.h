#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace rivulet::core {

// RFC 3339 in UTC with milliseconds, the form every timestamp Rivulet writes takes:
// "2026-11-21T09:05:03.042Z".
std::string FormatRfc3339Millis(int64_t unix_millis);
void AppendRfc3339Millis(std::string& out, int64_t unix_millis);

// Parses RFC 3339 ("2026-11-21T09:05:03Z", "...03.5+01:00", "...t...z"; a space for T is
// accepted too) into milliseconds since the epoch. Sub-millisecond digits are dropped.
Result<int64_t> ParseRfc3339(std::string_view text);

}  // namespace rivulet::core
