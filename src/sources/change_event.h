#pragma once

#include <string>

#include "core/json.h"
#include "core/result.h"

namespace rivulet::sources {

// MongoDB Extended JSON (canonical or relaxed) to plain JSON values, recursively:
//   {"$oid": "..."}                     -> "..." (the hex string)
//   {"$date": "2024-..."} or {"$date": {"$numberLong": "ms"}} or {"$date": ms}
//                                       -> RFC 3339 text with milliseconds, UTC
//   {"$numberLong": "n"}, {"$numberInt": "n"}   -> the integer
//   {"$numberDouble": "x"}              -> the number ("NaN", "Infinity": the text)
//   {"$numberDecimal": "x"}             -> "x" (a decimal string: no precision lost)
//   {"$timestamp": {"t": T, "i": I}}    -> {"t": T, "i": I}
//   {"$uuid": "..."}                    -> "..."
//   {"$binary": {"base64": B, ...}}     -> B
// A malformed one ({"$numberLong": "x"}) is an InvalidArgument naming its path.
Result<core::Json> FromExtendedJson(const core::Json& value);

// A change event (SPEC section 1) checked and completed: Extended JSON converted (unless
// `extended_json` is false: values that only look like it, such as a PostgreSQL jsonb
// column holding {"$oid": ...}, stay as they are), and every field that does not apply
// present with null. InvalidArgument says what is
// wrong: not an object, no `_id`, no `operationType`, `ns.coll` missing for a data
// operation, `documentKey` not an object, and so on.
Result<core::Json> NormalizeChangeEvent(const core::Json& raw, bool extended_json = true);

// insert, update, replace, delete: the operations mappings turn into events. Others
// (drop, rename, invalidate, ...) are accepted and counted as ignored.
bool IsDataOperation(const std::string& operation_type);

// The key a change event's `_id` is remembered by (its compact JSON text).
std::string ChangeIdKey(const core::Json& change);

}  // namespace rivulet::sources
