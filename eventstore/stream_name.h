#pragma once

#include <string_view>

#include "core/status.h"

namespace rivulet::eventstore {

inline constexpr size_t kMaxStreamNameBytes = 256;
inline constexpr size_t kMaxEventTypeBytes = 256;

// A stream name is 1-256 bytes of UTF-8 without '/' or control characters. Names
// starting with '$' are reserved for the runtime: they pass only if `allow_reserved`.
Status ValidateStreamName(std::string_view name, bool allow_reserved);

// An event type is 1-256 bytes of UTF-8 without control characters.
Status ValidateEventType(std::string_view type);

inline bool IsReservedStream(std::string_view name) { return !name.empty() && name[0] == '$'; }

}  // namespace rivulet::eventstore
