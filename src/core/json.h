#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/result.h"

namespace rivulet::core {

using Json = nlohmann::json;

// Every JSON text Rivulet parses goes through ParseJson (or ParseJsonOr), which never
// throws and refuses texts over its limits before building anything: later walks over a
// document (dump, copy, comparison, templates, filters) are recursive, and no input may
// exhaust the stack or the memory.
//
// Text from outside (request bodies, query parameters, CLI arguments, source lines,
// participant answers, PostgreSQL json columns) may nest this deep.
inline constexpr int kMaxJsonDepth = 64;
// Text Rivulet wrote itself (stored events, saga histories, projection documents,
// outbox rows) wraps input in a few levels of its own (a participant's answer becomes
// `response` inside a StepSucceeded event, an event's data becomes a document field), so
// it is read back with room to spare: whatever was stored stays readable.
inline constexpr int kMaxStoredJsonDepth = 512;
// No text is larger than the largest body any side accepts (server.max_body's maximum);
// callers with a tighter bound (participant answers) pass their own.
inline constexpr size_t kMaxJsonBytes = size_t{1} << 30;

struct JsonLimits {
  int max_depth;
  size_t max_bytes;
};
inline constexpr JsonLimits kInputJson{kMaxJsonDepth, kMaxJsonBytes};
inline constexpr JsonLimits kStoredJson{kMaxStoredJsonDepth, kMaxJsonBytes};

// Parses text within `limits`. Errors say what was wrong, e.g. `invalid JSON: syntax
// error while parsing object key at line 1, column 3` or `invalid JSON: number overflow
// parsing '1e400'` (InvalidArgument); `invalid JSON: nested deeper than 64 levels`
// (InvalidArgument, reason "too_deep"); a text over max_bytes is ResourceExhausted with
// reason "too_large". No exception escapes.
Result<Json> ParseJson(std::string_view text, const JsonLimits& limits = kInputJson);

// The parsed value, or `fallback` when the text is not JSON within `limits`.
Json ParseJsonOr(std::string_view text, Json fallback, const JsonLimits& limits);

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
