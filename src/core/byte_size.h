#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace rivulet::core {

// Sizes are an integer with a binary unit: "512KiB", "4MiB", "1GiB", or plain bytes
// ("1024" or "1024B"). Errors read `expected a size like 4MiB, got "big"`.
Result<uint64_t> ParseByteSize(std::string_view text);

// The largest exact unit: 4194304 -> "4MiB".
std::string FormatByteSize(uint64_t bytes);

}  // namespace rivulet::core
