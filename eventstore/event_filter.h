#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/filter.h"
#include "eventstore/event.h"

namespace rivulet::eventstore {

// Which events a global read or change stream returns. Every part that is set must
// match: `types` (any of, exact), `streams` (any of, globs like "order-*"), and
// `match`, a filter over the event's SPEC shape (position, stream, version, id, type,
// data, metadata, recorded_at).
struct EventFilter {
  std::vector<std::string> types;
  std::vector<std::string> streams;
  std::optional<core::Filter> match;

  bool empty() const { return types.empty() && streams.empty() && !match; }

  // The cheap part, decided from the stream and type alone.
  bool MatchesHeader(std::string_view stream, std::string_view type) const;
  // The `match` part; parses data/metadata only if the filter reads them.
  bool MatchesBody(const RecordedEvent& event) const;
};

}  // namespace rivulet::eventstore
