#pragma once

#include "core/json.h"

namespace rivulet::bench {

// Single-event appends over HTTP from `clients` keep-alive connections against a real
// `rivulet serve`, with request latency percentiles.
core::Json MeasureHttpAppends(int clients, double seconds);

// Resident memory of an idle `rivulet serve`, a few seconds after start.
core::Json MeasureIdleMemory();

// Latency of /v1/health and of a single-event append, each on a new connection, against
// a default `rivulet serve` while `idle` keep-alive connections sit idle (each made one
// request, as a client pool leaves them) and `long_polls` long polls wait; beside the
// same requests with nothing held. `samples` of each.
core::Json MeasureHeldConnections(int idle, int long_polls, int samples);

}  // namespace rivulet::bench
