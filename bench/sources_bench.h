#pragma once

#include <string>

#include "core/json.h"

namespace rivulet::bench {

// Sources: a private PostgreSQL 15 fills a slot with `single` one-row transactions and
// `batched` transactions of 100 rows; the postgres source ingests each backlog
// (changes/s) beside pg_recvlogical reading the same slot contents into a file. Then
// source commit to readable event latency at a steady `steady_rate` rows/s, and HTTP
// ingest of batches of 100 change events from 8 clients.
core::Json MeasureSources(const std::string& dir, int single, int batched, int steady_rate);

}  // namespace rivulet::bench
