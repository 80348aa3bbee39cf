#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/filter.h"
#include "core/metrics.h"
#include "eventstore/event_store.h"
#include "sagas/saga_definition.h"
#include "sagas/saga_instance.h"
#include "sagas/step_call.h"

namespace rivulet::sagas {

struct SagaEngineOptions {
  std::map<std::string, std::string> services;  // name -> base URL
  int workers = 64;                             // concurrent step calls
  core::Clock* clock = nullptr;                 // default: the system clock
  core::MetricsRegistry* metrics = nullptr;
  std::chrono::milliseconds default_step_timeout{30'000};  // per attempt, when not declared
  // How long the loop sleeps when nothing happens (timers of a manual clock are seen
  // at least this often).
  std::chrono::milliseconds idle_wait{50};
  // Called with the engine's overhead for each call that follows an answer: seconds from
  // the answer's arrival to the next request leaving (benchmarks).
  std::function<void(double)> on_step_overhead;
};

// Runs the sagas of one process. One loop thread owns every instance in memory: it
// turns call results, due timers and new log events into saga events, appends them
// (many instances in one unit of work, each with its expected version and its
// saga_instances row), then sends the calls and arms the timers they ask for. A pool
// of `workers` threads makes the HTTP calls, so slow services never hold up timers or
// other instances.
//
// Triggers are consumed from the log after a checkpoint that commits with the
// instances they start; a saga_instances row per (name, id) makes a second trigger a
// no-op. A trigger that can start no instance (its id is missing, or cannot name a
// stream: see ValidateInstanceId) is refused once: one warning in the log, a count in
// rivulet_saga_triggers_refused_total{saga}, and the checkpoint moves past it. Events written to a
// saga stream by anyone else (the CLI, an HTTP request, another process) make the loop reload that
// instance from its stream.
//
// Start() resumes every unfinished instance from its stream: an attempt that was in
// flight when the process died is recorded as failed with an unknown outcome and
// retried with the same Idempotency-Key (or compensated when attempts are exhausted).
class SagaEngine {
 public:
  SagaEngine(eventstore::EventStore& store, std::vector<SagaDefinition> sagas,
             SagaEngineOptions options);
  ~SagaEngine();
  SagaEngine(const SagaEngine&) = delete;
  SagaEngine& operator=(const SagaEngine&) = delete;

  Status Start();
  void Stop();
  // Makes the loop look at timers and the log now (after a manual clock moved).
  void Wake();
  // The log position up to which the engine has read triggers and awaited events.
  int64_t ConsumedPosition() const { return consumed_position_.load(); }

  const SagaDefinition* Find(const std::string& name) const;
  const std::vector<SagaDefinition>& definitions() const { return sagas_; }

 private:
  struct Job {
    std::string key;
    bool compensation = false;
    int step = 0;
    std::string step_name;
    int attempt = 0;
    CallRequest request;
    std::chrono::milliseconds timeout{0};
    // When the answer this call follows arrived, for the overhead histogram.
    std::optional<std::chrono::steady_clock::time_point> after_answer;
  };
  struct CallResult {
    Job job;
    CallOutcome outcome;
    double seconds = 0;
    std::chrono::steady_clock::time_point received;
  };
  enum class TimerKind { kRetry, kCompensationRetry, kAwaitTimeout, kDeadline };
  struct Timer {
    std::string key;
    TimerKind kind;
    int step;
    int64_t due;
  };
  struct Waiter {
    std::string key;
    int step;
    core::Filter match;
    int64_t after;
  };
  // What a committed batch asks for: calls to send, timers to arm, waits to register.
  struct Followups {
    std::vector<Job> calls;
    std::vector<Timer> timers;
    std::vector<std::string> waits;  // instance keys entering an await
  };

  void Loop();
  void Work();
  void Tick();
  // Records the events that follow from the instance's phase until it must wait, and
  // marks it for the next commit if anything (here or before) was recorded.
  void Advance(SagaInstance& inst, int64_t now, Followups& followups);
  void Derive(SagaInstance& inst, int64_t now, Followups& followups);
  Status RecordCall(SagaInstance& inst, bool compensation, Followups& followups);
  void ApplyResult(const CallResult& result, int64_t now, Followups& followups);
  void FireTimer(const Timer& timer, int64_t now, Followups& followups);
  void ConsumeLog(int64_t now, Followups& followups);
  // `event` is the trigger event as JSON, at `position` in the log.
  void StartFromTrigger(const SagaDefinition& saga, const core::Json& event, int64_t position,
                        int64_t now, Followups& followups);
  void RegisterWait(const std::string& key, Followups& followups);
  void Commit(int64_t now, Followups& followups);
  void Reload(const std::string& key, int64_t now, Followups& followups);
  void Arm(const Timer& timer);
  // Logs that `saga` passes over the trigger at `position`, and counts it in
  // rivulet_saga_triggers_refused_total.
  void RefuseTrigger(const std::string& saga, int64_t position, const std::string& why);
  // The declared saga whose stream this is ("$saga-<name>-<id>"), as (name, id).
  std::optional<std::pair<std::string, std::string>> SagaOfStream(const std::string& stream) const;
  static std::string KeyOf(const std::string& name, const std::string& id);

  eventstore::EventStore& store_;
  std::vector<SagaDefinition> sagas_;
  SagaEngineOptions options_;
  // The largest event the store keeps, and what a step's request or answer may take of
  // it (the rest is the saga event around it). What would pass them fails the attempt
  // or the emit instead of becoming a write the store refuses on every try.
  const size_t max_event_bytes_;
  const size_t payload_limit_;
  StepCaller caller_;

  // Loop thread only.
  std::unordered_map<std::string, SagaInstance> instances_;
  std::set<std::string> dirty_;          // instances with pending events
  std::set<std::string> new_instances_;  // started in this batch (row must not exist)
  // Instances with a call being made: (compensation, step, attempt).
  std::map<std::string, std::tuple<bool, int, int>> calls_in_flight_;
  std::set<std::tuple<std::string, int, int64_t>> armed_;  // (key, kind, due) of timers_
  std::multimap<int64_t, Timer> timers_;
  std::multimap<std::string, Waiter> waiters_;  // by event type
  int64_t log_position_ = 0;
  std::atomic<int64_t> consumed_position_{0};  // log_position_, for other threads
  std::vector<std::string> log_types_;         // the event types ConsumeLog reads
  // Instances that finished and left memory, with their last version (bounded).
  std::unordered_map<std::string, int64_t> finished_versions_;
  std::deque<std::string> finished_order_;
  int64_t trigger_checkpoint_ = 0;
  bool checkpoint_dirty_ = false;
  // When the trigger checkpoint was last written. A checkpoint that only moved (past the
  // engine's own events, or events no saga wants) rides along with the next instance
  // write, or goes alone once kCheckpointAloneEvery has passed and when the engine
  // stops: written after every commit, it was a second fsync per tick that the next
  // step's call waited behind.
  std::chrono::steady_clock::time_point checkpoint_written_{};
  bool flush_checkpoint_ = false;  // Stop: write it now, whatever its age

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;             // GUARDED_BY(mu_)
  std::vector<CallResult> results_;  // GUARDED_BY(mu_)
  bool poked_ = false;               // GUARDED_BY(mu_)
  std::condition_variable jobs_ready_;
  std::atomic<bool> stopping_{false};
  std::thread loop_;
  std::thread watcher_;
  std::vector<std::thread> workers_;
  uint64_t collector_ = 0;

  core::Histogram* step_latency_ = nullptr;
  std::map<std::tuple<std::string, std::string, std::string>, core::Histogram*>
      step_latency_by_;  // (saga, step, kind); read-only once started
  core::Histogram* step_overhead_ = nullptr;
  // The arrival of the answer being applied (loop thread), stamped on the calls it leads to.
  std::optional<std::chrono::steady_clock::time_point> applying_answer_;
  core::Counter* retries_ = nullptr;
  core::Counter* compensations_ = nullptr;
  core::Gauge* timers_pending_ = nullptr;
  std::map<std::string, core::Counter*> triggers_refused_;  // by saga; read-only once built
};

// Operations on instances that work with or without a running engine (HTTP, CLI); a
// running engine notices the events they append and carries on from them.

// Starts an instance by hand: `input` becomes its trigger. Without an id a UUID is
// made. Conflict (reason "conflict") if the instance exists.
Result<InstanceRow> StartSaga(eventstore::EventStore& store, const SagaDefinition& saga,
                              std::optional<std::string> id, const core::Json& input,
                              core::Clock& clock);
// Resumes a failed instance (its compensation starts again with fresh attempts).
Result<InstanceRow> RetrySaga(eventstore::EventStore& store, const std::string& name,
                              const std::string& id, core::Clock& clock);
// Starts compensating a running instance; it ends `aborted`.
Result<InstanceRow> AbortSaga(eventstore::EventStore& store, const std::string& name,
                              const std::string& id, const std::string& reason, core::Clock& clock);

}  // namespace rivulet::sagas
