#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/result.h"

namespace rivulet::core {

// Durations are written as one or more <integer><unit> parts, units ms, s, m, h, d:
// "250ms", "30s", "5m", "1h", "7d", "1h30m". The error message is the one a config
// error shows after its key path: `expected a duration like 30s, got "fast"`.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The shortest exact form: 90000ms -> "90s", 5400000ms -> "90m", 1500ms -> "1500ms".
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace rivulet::core
