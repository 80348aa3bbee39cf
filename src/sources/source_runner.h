#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "core/component_state.h"
#include "core/metrics.h"
#include "sources/ingestor.h"

namespace rivulet::sources {

// Runs the sources of `rivulet serve` that read by themselves: a jsonl source follows
// its file from the stored checkpoint; a postgres source streams logical replication.
// (http sources take their changes through the HTTP API.) One thread each. A source
// whose error may pass (Unavailable: a database or file not there yet) tries again after
// a backoff; one whose error needs a person (FailedPrecondition: a refused login, a
// missing publication or table, wal_level; DataLoss) stops trying, shows `failed` with
// what to do, and waits for the restart that follows the fix. The log ("source/<name>")
// says each trouble once when it starts or changes, and once "reading again"; retries
// in between are debug records. The gauge rivulet_source_up{source} is 1 while a source
// reads (its file is open, its replication stream started) and 0 otherwise;
// rivulet_source_attempts_total{source} counts its connections (file opens), retries
// included.
class SourceRunner {
 public:
  SourceRunner(eventstore::EventStore& store, Ingestor& ingestor,
               std::vector<config::SourceConfig> sources, core::MetricsRegistry* metrics);
  ~SourceRunner();

  Status Start();
  void Stop();

  // Each declared source's state for readiness: http sources are ok while the server
  // runs; a jsonl or postgres source is ok while it reads, degraded while it waits to
  // try again after an error that may pass (a database or file not there), stopped at a
  // change it cannot ingest under `on_error: stop`, and failed when a person must act
  // (an invalidated slot, a wrong wal_level).
  std::vector<core::ComponentState> Components();

 private:
  // Records how a source's last run ended (Ok: it reads).
  void SetState(const config::SourceConfig& source, const Status& ended);
  // The source reads again (`progressed`: it stored something). A source stopped or
  // failed at an input stays so until it gets past it, so its state does not flap with
  // every reconnection. True if this made it ok (it was not).
  bool Reading(const config::SourceConfig& source, bool progressed);
  // Shows `why` as failed, says it once, and waits for the stop.
  void Park(const config::SourceConfig& source, const Status& why);
  void RunJsonl(const config::SourceConfig& source);
  void RunPostgres(const config::SourceConfig& source);
  // Sleeps up to `ms` unless stopping; false when stopping.
  bool Pause(int64_t ms);
  // The source's rivulet_source_up gauge, or null without metrics.
  core::Gauge* UpGauge(const config::SourceConfig& source);
  core::Counter* AttemptsCounter(const config::SourceConfig& source);

  eventstore::EventStore& store_;
  Ingestor& ingestor_;
  std::vector<config::SourceConfig> sources_;
  core::MetricsRegistry* metrics_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::map<std::string, core::ComponentState> states_;  // GUARDED_BY(mu_), by source name
};

}  // namespace rivulet::sources
