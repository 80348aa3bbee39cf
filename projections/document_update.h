#pragma once

#include <optional>
#include <string>

#include "core/json.h"
#include "core/status.h"
#include "projections/projection_definition.h"

namespace rivulet::projections {

// Applies one event to the document its key selects (SPEC section 4, Projection
// operations). `doc` is nullopt when no document has the key; a handler with set, inc,
// min, max or push creates it, `delete` removes it (a later event creates it afresh,
// with _version starting over), and a handler that only unsets leaves a missing
// document missing. Every applied event sets `_key`, `_position` and adds one to
// `_version`.
//
// Operations run in the order set, unset, inc, min, max, push. `inc` adds a number to
// a number (a missing field counts as 0); `min`/`max` keep the smaller or larger of two
// numbers or two strings (a missing or null field takes the value); `push` appends to a
// list (created if missing) and keeps the last `limit` entries.
//
// Errors (a template that fails, a value of the wrong kind) name the operation and the
// field, e.g. `inc.revenue: expected a number to add, got string "12.50"`, and leave
// `doc` unchanged.
Status ApplyEvent(const ProjectionDefinition::Handler& handler, const core::Json& event,
                  const std::string& key, int64_t position, std::optional<core::Json>& doc);

// The document key an event maps to: the key template's value, which must be a
// non-empty string (numbers are written in their JSON form).
Result<std::string> EvaluateKey(const core::Template& key, const core::Json& event);

}  // namespace rivulet::projections
