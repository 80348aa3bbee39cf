#include "core/duration.h"

#include <cstdint>
#include <limits>

namespace rivulet::core {

namespace {
constexpr int64_t kMaxMillis = int64_t{100} * 365 * 24 * 3600 * 1000;  // 100 years

Status BadDuration(std::string_view text) {
  return Status::InvalidArgument("expected a duration like 30s, got \"" +
                                 std::string(text.substr(0, 64)) + "\"");
}
}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return BadDuration(text);
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') return BadDuration(text);
    int64_t number = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      number = number * 10 + (text[i] - '0');
      if (number > kMaxMillis) return BadDuration(text);
      ++i;
    }
    size_t unit_start = i;
    while (i < text.size() && text[i] >= 'a' && text[i] <= 'z') ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    int64_t scale = 0;
    if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1000;
    else if (unit == "m")
      scale = 60 * 1000;
    else if (unit == "h")
      scale = 3600 * 1000;
    else if (unit == "d")
      scale = 24 * 3600 * 1000;
    else
      return BadDuration(text);
    if (number > kMaxMillis / scale) return BadDuration(text);
    total += number * scale;
    if (total > kMaxMillis) return BadDuration(text);
  }
  return std::chrono::milliseconds(total);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  struct Unit {
    int64_t scale;
    const char* name;
  };
  static constexpr Unit kUnits[] = {
      {24 * 3600 * 1000, "d"}, {3600 * 1000, "h"}, {60 * 1000, "m"}, {1000, "s"}};
  if (ms != 0) {
    for (const Unit& unit : kUnits) {
      if (ms % unit.scale == 0) return std::to_string(ms / unit.scale) + unit.name;
    }
  }
  return std::to_string(ms) + "ms";
}

}  // namespace rivulet::core
