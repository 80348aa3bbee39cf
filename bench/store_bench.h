#pragma once

#include <string>

#include "core/json.h"

namespace rivulet::bench {

// Appends through the store API (1 appender x 1 event, 8 appenders x 1 event, 1
// appender x 100-event batches), the global log read, and change-stream end-to-end
// latency at a steady rate. Each measure uses a fresh store in `dir`.
core::Json MeasureStoreAppends(const std::string& dir, double seconds, int64_t batched_events);
// Reads the whole log of `db_path` through the store API.
core::Json MeasureStoreRead(const std::string& db_path);
core::Json MeasureChangeStreamLatency(const std::string& dir, double rate_per_s, double seconds);

}  // namespace rivulet::bench
