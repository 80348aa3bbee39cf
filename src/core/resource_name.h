#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rivulet::core {

// SPEC section 4: the names of sources, projections, sagas, services and outbox
// destinations match [a-z][a-z0-9_]{0,47}. Names the runtime derives from them rely on
// it: a saga stream "$saga-<name>-<id>" splits at the first '-' after the prefix, and
// projection tables separate the name from what follows with a character names never
// hold (SQLite compares identifiers without case, so names have one case only).
inline constexpr size_t kMaxResourceNameBytes = 48;

inline bool IsResourceName(std::string_view name) {
  if (name.empty() || name.size() > kMaxResourceNameBytes) return false;
  if (name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// The rule in words, for errors: `expected a name matching ..., got "Orders"`.
inline std::string ResourceNameError(std::string_view name) {
  std::string shown(name.substr(0, 64));
  if (name.size() > 64) shown += "...";
  return "expected a name matching [a-z][a-z0-9_]{0,47} (a lower-case letter, then up to 47 "
         "lower-case letters, digits or '_'), got \"" +
         shown + "\"";
}

}  // namespace rivulet::core
