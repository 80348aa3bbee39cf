#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "core/metrics.h"
#include "sources/ingestor.h"

namespace rivulet::sources {

// Runs the sources of `rivulet serve` that read by themselves: a jsonl source follows
// its file from the stored checkpoint; a postgres source streams logical replication.
// (http sources take their changes through the HTTP API.) One thread each; a source
// that fails logs why and tries again after a backoff. The gauge rivulet_source_up{source}
// is 1 while a source reads (its file is open, its replication stream started) and 0
// while it waits to try again.
class SourceRunner {
 public:
  SourceRunner(eventstore::EventStore& store, Ingestor& ingestor,
               std::vector<config::SourceConfig> sources, core::MetricsRegistry* metrics);
  ~SourceRunner();

  Status Start();
  void Stop();

 private:
  void RunJsonl(const config::SourceConfig& source);
  void RunPostgres(const config::SourceConfig& source);
  // Sleeps up to `ms` unless stopping; false when stopping.
  bool Pause(int64_t ms);
  // The source's rivulet_source_up gauge, or null without metrics.
  core::Gauge* UpGauge(const config::SourceConfig& source);

  eventstore::EventStore& store_;
  Ingestor& ingestor_;
  std::vector<config::SourceConfig> sources_;
  core::MetricsRegistry* metrics_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
};

}  // namespace rivulet::sources
