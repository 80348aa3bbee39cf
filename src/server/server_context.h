#pragma once

#include <atomic>
#include <cstddef>
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
  // Each waiting long poll and each event stream (SSE) holds a server thread. Past
  // `max_long_polls` a long poll answers at once with what there is (possibly nothing)
  // and its resume token; past `max_event_streams` an event stream is refused (503).
  int64_t max_long_polls = 256;
  std::atomic<int64_t> long_polls{0};
  int64_t max_event_streams = 128;
  std::atomic<int64_t> event_streams{0};
  // Reads of streams and of the log stop adding events once an answer would pass this
  // many bytes, and say where to continue; an answer always holds at least one event.
  size_t max_answer_bytes = 16 * 1024 * 1024;
};

}  // namespace rivulet::server
