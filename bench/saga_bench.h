#pragma once

#include <string>

#include "core/json.h"

namespace rivulet::bench {

// 3-step sagas (payment, reserve, ship) against the example services on loopback, no
// injected latency: `sagas` triggers appended at once, completed sagas per second, and
// the engine's overhead per step (answer received to next request sent) p50/p99, at
// that saturation and at a steady 300 sagas/s.
// Beside them, the services' own limit: plain POSTs from 64 keep-alive clients.
core::Json MeasureSagaThroughput(const std::string& dir, int sagas, int steady_rate);

// Resident memory of `rivulet serve` with `instances` sagas parked on an await step,
// and before they started.
core::Json MeasureParkedSagas(int instances);

}  // namespace rivulet::bench
