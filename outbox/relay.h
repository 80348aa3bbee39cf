#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/component_state.h"
#include "core/log.h"
#include "core/metrics.h"
#include "eventstore/event_store.h"
#include "outbox/outbox_config.h"
#include "outbox/sink.h"

namespace rivulet::outbox {

// Delivers the outbox: one thread per destination. An http destination sends each key's
// oldest pending message, many keys at once; jsonl and nats destinations take up to
// 20,000 pending messages in seq order (jsonl writes them as one fsynced batch, nats
// publishes them in per-key waves). Each batch's outcomes are marked in one unit
// of work: delivered, retried after the policy's delay (on the injected clock), or dead
// after max_attempts (later messages of that key then proceed). A crash between
// delivery and marking delivers again, with the same message id. Delivered messages are
// pruned after `retention`, 500 at a time. A destination that cannot be reached at start
// (Unavailable) is opened again every second by its thread; its messages wait. One whose
// error needs a person (FailedPrecondition: a NATS stream that does not cover the
// subjects, a refused login, a jsonl directory that is missing or not writable) is
// failed, says so once in the log, and is not tried again until rivulet restarts.
// The log ("destination/<name>") says an outage (every attempt of a batch failing) once
// when it begins and once when deliveries succeed again, with how long it lasted and how
// many batches failed, not once per retry.
class Relay {
 public:
  struct Options {
    core::Clock* clock = nullptr;
    core::MetricsRegistry* metrics = nullptr;
    int http_connections = 16;
    // How often delivered messages older than the retention are deleted.
    std::chrono::milliseconds prune_every = std::chrono::seconds(60);
  };
  Relay(eventstore::EventStore& store, OutboxSettings settings, Options options);
  ~Relay();

  Status Start();
  void Stop();

  // Each destination's state for readiness: ok; degraded while it cannot be reached,
  // while every delivery of its last batch failed, or while it holds dead messages;
  // failed when a person must act (see above), with what to do.
  std::vector<core::ComponentState> Components();

 private:
  struct Health {
    std::mutex mu;
    core::ComponentHealth health = core::ComponentHealth::kOk;  // GUARDED_BY(mu)
    std::string detail;                                         // GUARDED_BY(mu)
    void Set(core::ComponentHealth h, std::string d) {
      std::lock_guard<std::mutex> lock(mu);
      health = h;
      detail = std::move(d);
    }
  };
  struct Batch {
    std::vector<Message> messages;
    bool blocked = false;  // some key was held back (its oldest message not due yet)
    bool cut = false;      // cut at the byte limit: more pending messages follow
  };
  // The next messages to deliver: each key's oldest pending (http), or pending messages
  // in seq order after `after_seq` (ordered sinks).
  Result<Batch> NextBatch(const Destination& destination, bool ordered, int64_t after_seq,
                          int64_t now);
  // One unit of work: delivered, retried after the policy's delay, or dead.
  Status Mark(const Batch& batch, const std::vector<Delivery>& outcomes, int64_t done);
  // `opened`: how the sink's Open went in Start.
  void Run(const Destination& destination, Sink& sink, Status opened, Health& health);
  // Shows `why` as failed, says it once, and waits for the stop.
  void Park(const core::Logger& log, const Status& why, Health& health);
  void Prune();

  eventstore::EventStore& store_;
  OutboxSettings settings_;
  Options options_;
  std::vector<std::unique_ptr<Sink>> sinks_;
  std::vector<Status> opened_;                   // how each sink's Open went at start
  std::vector<std::unique_ptr<Health>> health_;  // per destination
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  uint64_t collector_ = 0;
  core::Histogram* latency_ = nullptr;
  core::Counter* attempts_ = nullptr;
};

}  // namespace rivulet::outbox
