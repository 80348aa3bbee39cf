#include "core/byte_size.h"

namespace rivulet::core {

namespace {
constexpr uint64_t kMaxBytes = uint64_t{1} << 50;  // 1 PiB: anything larger is a typo

Status BadSize(std::string_view text) {
  return Status::InvalidArgument("expected a size like 4MiB, got \"" +
                                 std::string(text.substr(0, 64)) + "\"");
}
}  // namespace

Result<uint64_t> ParseByteSize(std::string_view text) {
  size_t i = 0;
  uint64_t number = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    number = number * 10 + static_cast<uint64_t>(text[i] - '0');
    if (number > kMaxBytes) return BadSize(text);
    ++i;
  }
  if (i == 0) return BadSize(text);
  std::string_view unit = text.substr(i);
  uint64_t scale = 0;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "KiB")
    scale = uint64_t{1} << 10;
  else if (unit == "MiB")
    scale = uint64_t{1} << 20;
  else if (unit == "GiB")
    scale = uint64_t{1} << 30;
  else
    return BadSize(text);
  if (number > kMaxBytes / scale) return BadSize(text);
  return number * scale;
}

std::string FormatByteSize(uint64_t bytes) {
  static constexpr struct {
    int shift;
    const char* name;
  } kUnits[] = {{30, "GiB"}, {20, "MiB"}, {10, "KiB"}};
  if (bytes != 0) {
    for (const auto& unit : kUnits) {
      uint64_t scale = uint64_t{1} << unit.shift;
      if (bytes % scale == 0) return std::to_string(bytes / scale) + unit.name;
    }
  }
  return std::to_string(bytes) + "B";
}

}  // namespace rivulet::core
