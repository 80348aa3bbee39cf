#pragma once

#include <memory>

#include "config/config.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "core/result.h"
#include "eventstore/event_store.h"

namespace rivulet::runtime {

// Who opens the store. A server owns a SQLite store alone (SPEC 3): it takes the
// store's serve lock and checks the file's integrity at open. Commands open it beside
// a running server.
enum class StoreRole { kCommand, kServer };

// Opens the store a config names, creating the SQLite file's folder if needed. Events
// larger than server.max_body are refused on every path (HTTP, ingest, import,
// sources, saga emits). `metrics` and `clock` may be null (the store then owns a
// registry / uses the system clock). Unavailable if the database cannot be opened or
// its backend is not built in; FailedPrecondition for a second server on the same
// SQLite file; DataLoss for a corrupt file (checked at open for servers).
Result<std::unique_ptr<eventstore::EventStore>> OpenStore(const config::Config& config,
                                                          core::MetricsRegistry* metrics,
                                                          core::Clock* clock = nullptr,
                                                          StoreRole role = StoreRole::kCommand);

}  // namespace rivulet::runtime
