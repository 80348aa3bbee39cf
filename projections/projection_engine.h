#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/component_state.h"
#include "core/metrics.h"
#include "core/trouble_log.h"
#include "eventstore/event_store.h"
#include "projections/projection_builder.h"
#include "projections/projection_definition.h"

namespace rivulet::projections {

// What GET /v1/projections says about one projection.
struct ProjectionStatus {
  struct Rebuild {
    int64_t generation = 0;
    int64_t position = 0;
    double progress = 0;  // position / head
    std::string state;    // "running" | "failed"
    std::string last_error;
    std::optional<int64_t> failed_position;
  };
  std::string name;
  std::string state = "running";  // "running" | "rebuilding" | "failed"
  int64_t position = 0;           // of the live copy
  int64_t lag = 0;                // events committed after `position`
  std::string last_error;
  std::optional<int64_t> failed_position;
  int64_t generation = 0;
  bool definition_current = true;  // the live copy is built with the configured definition
  std::optional<Rebuild> rebuild;

  core::Json ToJson() const;
};

// Runs the declared projections of one process: for each, a supervisor thread keeps the
// stored copies in line with the configured definition (the first copy, an automatic
// rebuild when the definition's hash changed, builders for copies whose lease is free)
// and a builder thread per copy it builds. Several processes may run engines on one
// store; leases and guarded checkpoints keep each copy built by one at a time. The log
// ("projection/<name>") says once when a copy stops at an event and once when it goes
// on, and once when the store cannot be read and once when it can again.
//
// Thread-safe. Stop (or destruction) stops and joins every thread.
class ProjectionEngine {
 public:
  struct Options {
    core::Clock* clock = nullptr;
    core::MetricsRegistry* metrics = nullptr;
    std::string owner;  // lease id; default: a fresh UUID
    size_t batch_size = 5'000;
    int64_t lease_ms = 6'000;  // renewed every 2 s; a dead process's copy resumes after this
  };

  ProjectionEngine(eventstore::EventStore& store, std::vector<ProjectionDefinition> definitions,
                   Options options);
  ~ProjectionEngine();

  // Creates the tables if needed and, if `run_builders`, starts the supervisors.
  Status Start(bool run_builders = true);
  void Stop();

  const ProjectionDefinition* Find(const std::string& name) const;
  const std::vector<ProjectionDefinition>& definitions() const { return definitions_; }

  Result<ProjectionStatus> Describe(const std::string& name);
  Result<std::vector<ProjectionStatus>> DescribeAll();

  // Starts a rebuild beside the live copy (with the configured definition); queries keep
  // answering from the live copy until the new one has caught up and replaces it.
  // Aborted (reason "conflict") if a rebuild is already running.
  Result<ProjectionStatus> Rebuild(const std::string& name);

  // Read-your-writes: Ok once the live copy has applied `position`; DeadlineExceeded
  // after `wait`; FailedPrecondition if the copy failed before reaching it.
  Status WaitForPosition(const std::string& name, int64_t position, std::chrono::milliseconds wait);

  // For `rivulet replay --projection`: builds a new copy from events after `from`
  // (exclusive) up to `to` (inclusive; the head if unset) in the calling thread, makes
  // it live and returns. Works beside a running server on the same store.
  Result<ProjectionStatus> Replay(const std::string& name, int64_t from, std::optional<int64_t> to,
                                  const std::function<void(int64_t position)>& progress,
                                  const std::function<bool()>& cancelled);

  // The live copy's indexed fields (as stored with it), for query planning.
  Result<std::vector<std::string>> LiveIndexes(const std::string& name);

  // Retries a projection's dead letter: the builder of the copy that parked it applies
  // the event with the copy's definition, in a unit that removes the letter (this
  // process's builder, or one started here for the retry when no process builds the
  // copy). Waits up to `wait` for the outcome: Ok once applied; Aborted (reason
  // "conflict") if it failed again (the letter stays, its error updated); NotFound,
  // InvalidArgument (not a projection's letter); DeadlineExceeded if the builder has not
  // run it yet (the request stays and is run later).
  Status RetryDeadLetter(int64_t id, std::chrono::milliseconds wait);

  // Each projection's state for readiness: ok, stopped at an event (on_error: stop), or
  // degraded when its copy cannot be read.
  std::vector<core::ComponentState> Components();

 private:
  struct Run {
    std::unique_ptr<ProjectionBuilder> builder;
    std::thread thread;
    std::atomic<bool> stop{false};
    std::atomic<bool> done{false};
    ProjectionBuilder::Outcome outcome = ProjectionBuilder::Outcome::kStopped;
  };
  struct Slot {
    ProjectionDefinition definition;
    std::mutex mu;
    std::condition_variable wake;       // the supervisor's
    std::condition_variable positions;  // WaitForPosition's
    std::unique_ptr<Run> live;          // GUARDED_BY(mu)
    std::unique_ptr<Run> candidate;     // GUARDED_BY(mu)
    bool swapping = false;              // GUARDED_BY(mu): the live builder was stopped for a swap
    std::atomic<int64_t> live_position{-1};  // published by this process's live builder
    std::thread supervisor;
    core::Counter* applied = nullptr;
    core::Gauge* position_gauge = nullptr;
    core::Gauge* lag_gauge = nullptr;
    core::Gauge* state_gauges[3] = {};  // running, rebuilding, failed
    // The supervisor's own: what the log last said about each copy's failure ("" while
    // it is not failed), and the store's trouble when a pass cannot read the copies.
    std::string said_live;
    std::string said_candidate;
    std::unique_ptr<core::TroubleLog> trouble;
  };

  Slot* SlotFor(const std::string& name);
  void Supervise(Slot& slot);
  // One pass; true if it changed the stored copies (so another pass should follow now).
  Result<bool> Reconcile(Slot& slot);
  // Logs a copy that stopped at an event, once, and once when it goes on again.
  void SayFailures(Slot& slot, const Generation* live, const Generation* candidate);
  std::unique_ptr<Run> StartRun(Slot& slot, Generation generation);
  bool ReadyToSwap(Slot& slot, int64_t candidate_position);
  Status CreateGeneration(const ProjectionDefinition& def, const std::string& role,
                          int64_t position, std::optional<int64_t> end_position);
  void StopRun(std::unique_ptr<Run>& run);
  ProjectionBuilder::Options BuilderOptions(Slot& slot);
  void CollectMetrics();

  eventstore::EventStore& store_;
  std::vector<ProjectionDefinition> definitions_;
  Options options_;
  std::map<std::string, std::unique_ptr<Slot>> slots_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  uint64_t collector_id_ = 0;
};

}  // namespace rivulet::projections
