#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"

namespace rivulet::core {

// One step of a path into a JSON document: an object key, or an array index (negative
// indexes count from the end). A key made only of digits also indexes an array, so the
// MongoDB style `items.0.sku` and the template style `items[0].sku` both work.
struct PathSegment {
  std::string key;
  int64_t index = 0;
  bool is_index = false;

  friend bool operator==(const PathSegment& a, const PathSegment& b) {
    return a.is_index == b.is_index && a.key == b.key && a.index == b.index;
  }
};

using JsonPath = std::vector<PathSegment>;

// Parses a dotted path with optional [N] and ["key"] steps: `data.after.items[0].sku`.
// Errors say what was expected at which offset.
Result<JsonPath> ParseJsonPath(std::string_view text);

// The path as written by ParseJsonPath's grammar.
std::string FormatJsonPath(const JsonPath& path);

// The value at `path`, or nullptr when any step is missing.
const Json* FindJsonPath(const Json& root, const JsonPath& path);

}  // namespace rivulet::core
