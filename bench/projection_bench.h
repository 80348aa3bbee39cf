#pragma once

#include <string>

#include "core/json.h"

namespace rivulet::bench {

// Projection catch-up over `events` events in 10,000 streams with three projections
// running at once (a document per stream, an aggregate, a list with a limit), in
// events/s per projection; then the time to rebuild the per-stream projection. Beside
// them, raw SQLite upserts of the same documents one event at a time.
core::Json MeasureProjectionCatchUp(const std::string& dir, int64_t events);

// Point lookups and indexed queries (limit 50) over HTTP from `clients` clients against
// a real rivulet serve with `documents` documents, p50/p99; beside them the same two
// statements through SQLite directly.
core::Json MeasureProjectionQueries(int64_t documents, int clients, double seconds);

}  // namespace rivulet::bench
