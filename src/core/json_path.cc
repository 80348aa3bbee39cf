#include "core/json_path.h"

namespace rivulet::core {

namespace {
bool IsIdentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '$' || c == '-';
}

bool AllDigits(std::string_view s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}
}  // namespace

Result<JsonPath> ParseJsonPath(std::string_view text) {
  JsonPath path;
  size_t i = 0;
  auto error = [&](const std::string& what) {
    return Status::InvalidArgument("path \"" + std::string(text) + "\": " + what + " at offset " +
                                   std::to_string(i));
  };
  if (text.empty()) return Status::InvalidArgument("path is empty");
  bool expect_name = true;
  while (i < text.size()) {
    char c = text[i];
    if (expect_name) {
      size_t start = i;
      while (i < text.size() && IsIdentChar(text[i])) ++i;
      if (i == start) return error("expected a field name");
      PathSegment seg;
      seg.key = std::string(text.substr(start, i - start));
      path.push_back(std::move(seg));
      expect_name = false;
    } else if (c == '.') {
      ++i;
      expect_name = true;
    } else if (c == '[') {
      ++i;
      if (i < text.size() && text[i] == '"') {
        ++i;
        size_t start = i;
        while (i < text.size() && text[i] != '"') ++i;
        if (i >= text.size()) return error("unterminated quoted key");
        PathSegment seg;
        seg.key = std::string(text.substr(start, i - start));
        ++i;
        if (i >= text.size() || text[i] != ']') return error("expected ']'");
        ++i;
        path.push_back(std::move(seg));
        continue;
      }
      bool negative = i < text.size() && text[i] == '-';
      if (negative) ++i;
      size_t start = i;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
      if (i == start || i - start > 9) return error("expected an array index");
      if (i >= text.size() || text[i] != ']') return error("expected ']'");
      PathSegment seg;
      seg.is_index = true;
      seg.index = std::stoll(std::string(text.substr(start, i - start)));
      if (negative) seg.index = -seg.index;
      ++i;
      path.push_back(std::move(seg));
    } else {
      return error(std::string("unexpected '") + c + "'");
    }
  }
  if (expect_name) return error("expected a field name");
  return path;
}

std::string FormatJsonPath(const JsonPath& path) {
  std::string out;
  for (const PathSegment& seg : path) {
    if (seg.is_index) {
      out += "[" + std::to_string(seg.index) + "]";
    } else {
      if (!out.empty()) out.push_back('.');
      out += seg.key;
    }
  }
  return out;
}

const Json* FindJsonPath(const Json& root, const JsonPath& path) {
  const Json* cur = &root;
  for (const PathSegment& seg : path) {
    if (cur->is_object() && !seg.is_index) {
      auto it = cur->find(seg.key);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array() && (seg.is_index || AllDigits(seg.key))) {
      int64_t index = seg.is_index ? seg.index : std::stoll(seg.key);
      int64_t size = static_cast<int64_t>(cur->size());
      if (index < 0) index += size;
      if (index < 0 || index >= size) return nullptr;
      cur = &(*cur)[static_cast<size_t>(index)];
    } else {
      return nullptr;
    }
  }
  return cur;
}

}  // namespace rivulet::core
