#pragma once

#include <string>

#include "core/json.h"

namespace rivulet::bench {

// The machine's limits, measured in the same run as the store (SPEC section 8):
// raw SQLite inserts with the store's schema, pragmas and rows straight through the C
// API, in 1,000-row transactions (for both row shapes the store benchmarks write:
// single events scattered over 10,000 streams, and 100-event batches per stream), the
// batched rows in 100-row transactions, and one row per transaction; reading every row back; fsyncs
// per second in the data directory.
core::Json MeasureRawInserts(const std::string& dir, int64_t batched_rows, double single_seconds);
core::Json MeasureRawRead(const std::string& db_path);
core::Json MeasureFsyncs(const std::string& dir, double seconds);

}  // namespace rivulet::bench
