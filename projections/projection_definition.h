#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/filter.h"
#include "core/json.h"
#include "core/json_reader.h"
#include "core/template.h"
#include "eventstore/dead_letters.h"

namespace rivulet::projections {

// A compiled projection (SPEC section 4, Projections): which events it reads, the key
// of the document each event goes to, and what each event type does to that document.
// Compiled from the JSON form of its config, which is also what a built copy stores,
// so a copy can be kept up to date with the definition it was built with.
struct ProjectionDefinition {
  struct Push {
    core::JsonTemplate value;
    std::optional<int64_t> limit;  // keep the last N
  };
  // What one event type does to its document, applied in this order:
  // set, unset, inc, min, max, push. `remove` (delete: true) stands alone.
  struct Handler {
    std::map<std::string, core::JsonTemplate> set;
    std::vector<std::string> unset;
    std::map<std::string, core::JsonTemplate> inc;
    std::map<std::string, core::JsonTemplate> min;
    std::map<std::string, core::JsonTemplate> max;
    std::map<std::string, Push> push;
    bool remove = false;
  };

  std::string name;
  std::vector<std::string> from_types;
  std::vector<std::string> from_streams;  // globs
  std::optional<core::Filter> from_match;
  core::Template key;
  std::map<std::string, Handler> on;  // by event type, or "*"
  std::vector<std::string> indexes;
  // An event whose key or operation fails: stop the copy there, or park it and go on.
  // An operating choice, not part of what the copy is built with: it is left out of
  // `hash`, so changing it never rebuilds.
  eventstore::OnError on_error = eventstore::OnError::kStop;
  core::Json definition;  // the JSON this was compiled from
  std::string hash;       // SHA-256 (hex) of `definition` without on_error, serialized canonically

  // The handler for an event type: its own, else "*", else none.
  const Handler* HandlerFor(const std::string& type) const;
  // The types worth reading from the log: nullopt means every type (a "*" handler and
  // no `from.types`).
  std::optional<std::vector<std::string>> TypesToRead() const;
  // The event fields (position, stream, data, ...) the key and operations read.
  std::set<std::string> EventFieldsRead() const;
};

// Compiles `definition` (the JSON form of one `projections:` item). Errors go to
// `reader` with paths under `path` (e.g. "projections[0].on.OrderInsert.set.total");
// the result is only meaningful if no error was added.
ProjectionDefinition CompileProjection(const core::Json& definition, const std::string& path,
                                       core::JsonReader& reader);

// The same, for a stored definition: InvalidArgument listing every error.
Result<ProjectionDefinition> CompileProjection(const core::Json& definition);

// Document fields: letters, digits and '_'; names starting with '_' are reserved for
// _key, _version and _position.
bool IsDocumentField(const std::string& field);

}  // namespace rivulet::projections
