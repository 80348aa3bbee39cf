#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/result.h"

namespace rivulet::core {

using Json = nlohmann::json;

// Documents nested deeper than this are rejected at parse time: every later walk over
// a document (dump, templates, filters) is recursive, and input must never crash us.
inline constexpr int kMaxJsonDepth = 64;

// Parses untrusted text. Errors name the byte offset and what was wrong, e.g.
// `invalid JSON: syntax error while parsing object key at line 1, column 3`.
Result<Json> ParseJson(std::string_view text);

// Serializes without throwing: invalid UTF-8 in strings is replaced by U+FFFD.
std::string DumpJson(const Json& value);

// Appends `text` as a quoted JSON string with the escapes RFC 8259 requires.
void AppendJsonString(std::string& out, std::string_view text);

// "object", "array", "string", "number", "boolean" or "null", for error messages.
const char* JsonTypeName(const Json& value);

// A value for error messages: strings as themselves in quotes, others as JSON, cut
// after 64 bytes.
std::string JsonForMessage(const Json& value);

}  // namespace rivulet::core
