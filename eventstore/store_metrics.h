#pragma once

#include "core/metrics.h"

namespace rivulet::eventstore {

// The store's instruments, registered once per registry. Every backend records the
// same names so dashboards do not care which database is behind them.
struct StoreMetrics {
  explicit StoreMetrics(core::MetricsRegistry& registry);

  core::Counter& appends;           // append requests that committed
  core::Counter& events_appended;   // events those appends wrote
  core::Counter& append_conflicts;  // wrong_expected_version and id conflicts
  core::Counter& append_errors;     // everything else that failed
  core::Histogram& append_latency;  // call to durable acknowledgement, seconds
  core::Counter& commit_groups;     // write transactions committed
  core::Histogram& group_units;     // units per committed transaction
  core::Gauge& waiters;             // change-stream readers waiting for new events
  core::Gauge& head_position;       // last committed position
  core::Gauge& read_only;           // 1 after a failed commit, until reopened
};

}  // namespace rivulet::eventstore
