#pragma once

#include "core/json.h"

namespace rivulet::bench {

// Single-event appends over HTTP from `clients` keep-alive connections against a real
// `rivulet serve`, with request latency percentiles.
core::Json MeasureHttpAppends(int clients, double seconds);

// Resident memory of an idle `rivulet serve`, a few seconds after start.
core::Json MeasureIdleMemory();

}  // namespace rivulet::bench
