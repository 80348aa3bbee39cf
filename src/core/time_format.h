#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace rivulet::core {

// The instants RFC 3339 can write, with its four-digit years: 0000-01-01T00:00:00.000Z
// to 9999-12-31T23:59:59.999Z, in milliseconds since the epoch.
inline constexpr int64_t kMinRfc3339Millis = -62'167'219'200'000;
inline constexpr int64_t kMaxRfc3339Millis = 253'402'300'799'999;

// RFC 3339 in UTC with milliseconds, the form every timestamp Rivulet writes takes:
// "2026-11-21T09:05:03.042Z". For instants Rivulet makes itself (its clock, deadlines):
// a value outside the range above is written as the nearest end of it, never as
// garbage. Values that come from outside go through FormatTimestamp.
std::string FormatRfc3339Millis(int64_t unix_millis);
void AppendRfc3339Millis(std::string& out, int64_t unix_millis);

// FormatRfc3339Millis for a value from outside (a $date, a bucket): InvalidArgument,
// naming the value, when it is outside years 0000-9999.
Result<std::string> FormatTimestamp(int64_t unix_millis);

// Parses RFC 3339 ("2026-11-21T09:05:03Z", "...03.5+01:00", "...t...z"; a space for T is
// accepted too) into milliseconds since the epoch. Sub-millisecond digits are dropped.
// An offset that moves the instant outside years 0000-9999 is an error.
Result<int64_t> ParseRfc3339(std::string_view text);

}  // namespace rivulet::core
