#include "eventstore/store_metrics.h"

namespace rivulet::eventstore {

StoreMetrics::StoreMetrics(core::MetricsRegistry& r)
    : appends(r.GetCounter("rivulet_appends_total", "Appends committed")),
      events_appended(r.GetCounter("rivulet_events_appended_total", "Events written by appends")),
      append_conflicts(r.GetCounter("rivulet_append_conflicts_total",
                                    "Appends refused by optimistic concurrency or id reuse")),
      append_errors(r.GetCounter("rivulet_append_errors_total", "Appends that failed otherwise")),
      append_latency(r.GetHistogram("rivulet_append_latency_seconds",
                                    "Time from append call to durable acknowledgement",
                                    core::Histogram::LatencyBounds())),
      commit_groups(r.GetCounter("rivulet_store_commits_total", "Write transactions committed")),
      group_units(r.GetHistogram("rivulet_store_commit_group_units",
                                 "Write units per committed transaction",
                                 {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})),
      waiters(r.GetGauge("rivulet_changestream_waiters",
                         "Change-stream readers waiting for new events")),
      head_position(r.GetGauge("rivulet_log_head_position", "Last committed log position")),
      read_only(r.GetGauge("rivulet_store_read_only",
                           "1 if the store refuses writes after a failed commit")) {}

}  // namespace rivulet::eventstore
