#pragma once

#include <atomic>
#include <cstdint>

#include "config/config.h"
#include "core/metrics.h"
#include "eventstore/event_store.h"

namespace rivulet::server {

// What route handlers share. Owned by HttpServer; handlers get a reference that lives
// as long as the server.
struct ServerContext {
  ServerContext(eventstore::EventStore& store, core::MetricsRegistry& metrics,
                const config::Config& config)
      : store(store), metrics(metrics), config(config) {}

  eventstore::EventStore& store;
  core::MetricsRegistry& metrics;
  const config::Config& config;
  // Set when shutdown starts: long polls and event streams end promptly.
  std::atomic<bool> stopping{false};
  // Event streams (SSE) hold a server thread each; at most this many run at once so
  // plain requests always find a thread.
  int64_t max_event_streams = 8;
  std::atomic<int64_t> event_streams{0};
};

}  // namespace rivulet::server
