#pragma once

#include <memory>

#include "config/config.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "core/result.h"
#include "eventstore/event_store.h"

namespace rivulet::runtime {

// Opens the store a config names, creating the SQLite file's folder if needed.
// `metrics` and `clock` may be null (the store then owns a registry / uses the system
// clock). Unavailable if the database cannot be opened or its backend is not built in.
Result<std::unique_ptr<eventstore::EventStore>> OpenStore(const config::Config& config,
                                                          core::MetricsRegistry* metrics,
                                                          core::Clock* clock = nullptr);

}  // namespace rivulet::runtime
