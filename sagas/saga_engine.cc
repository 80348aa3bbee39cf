#include "sagas/saga_engine.h"

#include <algorithm>

#include "core/duration.h"
#include "core/log.h"
#include "core/random.h"
#include "core/status_macros.h"
#include "core/uuid.h"
#include "eventstore/prepared_append.h"
#include "eventstore/stream_name.h"

namespace rivulet::sagas {

namespace {
// How stale the trigger checkpoint may get while nothing else is written (a restart
// reads at most this much of the log again; starting an instance twice is idempotent).
constexpr auto kCheckpointAloneEvery = std::chrono::seconds(1);
}  // namespace

using core::Json;

namespace {

constexpr const char* kTriggerConsumer = "triggers";

bool Running(Phase p) {
  return p == Phase::kRunningStep || p == Phase::kAwaitingEvent || p == Phase::kWaitingToRetry;
}

// Appends an instance's pending events, its row and its emits in a unit of work.
// Returns the stream's last version, or nullopt when `is_new` and an instance with this
// id exists already (a second trigger: nothing is written).
Result<std::optional<int64_t>> WritePending(eventstore::Transaction& tx, const SagaInstance& inst,
                                            int64_t now, bool is_new) {
  if (is_new) {
    ASSIGN_OR_RETURN(bool exists, SagaTables::Exists(tx, inst.name, inst.id));
    if (exists) return std::optional<int64_t>();
  }
  InstanceRow row = inst.Row(now);
  ASSIGN_OR_RETURN(eventstore::AppendResult appended, tx.Append(inst.PendingAppend()));
  row.version = appended.last_version;
  RETURN_IF_ERROR(SagaTables::Upsert(tx, row));
  for (const auto& emit : inst.emits) RETURN_IF_ERROR(tx.Append(emit).status());
  return std::optional<int64_t>(appended.last_version);
}

// What a step's request or answer may take of an event: the event less room for the
// saga event around it (step name, attempt, headers, metadata).
size_t PayloadLimit(size_t max_event_bytes) {
  constexpr size_t kEnvelope = 16 * 1024;
  return max_event_bytes > 2 * kEnvelope ? max_event_bytes - kEnvelope : max_event_bytes / 2;
}

// The store's refusal of an event that is too large: reason "too_large".
bool TooLarge(const Status& status) {
  return status.code() == StatusCode::kResourceExhausted && status.reason() == "too_large";
}

Status AlreadyStarted(const std::string& saga, const std::string& id) {
  return Status::Aborted("saga " + saga + " already has an instance " + id).WithReason("conflict");
}

// A saga event the machine refused although the engine derived it: a bug, never silent.
void LogRefused(const SagaInstance& inst, const Status& status) {
  core::Log(core::LogLevel::kError, "saga/" + inst.name,
            "the saga machine refused an event the engine derived: " + status.message(),
            {{"id", inst.id}, {"code", StatusCodeName(status.code())}});
}

// Reads the instance, applies `type` to it and appends, retrying on a concurrent write.
Result<InstanceRow> ApplyByHand(eventstore::EventStore& store, const std::string& name,
                                const std::string& id, const std::string& type, const Json& data,
                                core::Clock& clock) {
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(SagaInstance inst, LoadInstance(store, name, id));
    Status applied = inst.Record(type, data);
    if (!applied.ok()) {
      return Status::Aborted("instance " + id + " of saga " + name + " is " +
                             StatusName(inst.machine->phase()) + ": " + applied.message())
          .WithReason("conflict");
    }
    const int64_t now = clock.NowMillis();
    InstanceRow row;
    Status written = store.Write([&](eventstore::Transaction& tx) -> Status {
      RETURN_IF_ERROR(WritePending(tx, inst, now, false).status());
      row = inst.Row(now);
      return Status::Ok();
    });
    if (written.ok()) return row;
    if (written.reason() != "wrong_expected_version" || attempt >= 10) return written;
  }
}

}  // namespace

std::string SagaEngine::KeyOf(const std::string& name, const std::string& id) {
  return name + '\x1f' + id;
}

SagaEngine::SagaEngine(eventstore::EventStore& store, std::vector<SagaDefinition> sagas,
                       SagaEngineOptions options)
    : store_(store),
      sagas_(std::move(sagas)),
      options_(std::move(options)),
      max_event_bytes_(store.max_event_bytes()),
      payload_limit_(PayloadLimit(max_event_bytes_)),
      caller_(payload_limit_) {
  if (options_.clock == nullptr) options_.clock = core::SystemClock::Default();
  if (options_.workers < 1) options_.workers = 1;
  if (options_.metrics != nullptr) {
    // Per saga, step and kind (action or compensation), registered up front: the
    // workers only observe. Steps of frozen definitions no longer declared share
    // the unlabelled series.
    const auto bounds = core::Histogram::LatencyBounds();
    for (const auto& saga : sagas_) {
      for (const auto& step : saga.steps) {
        for (const char* kind : {"action", "compensation"}) {
          if (std::string(kind) == "action" ? !step.action : !step.compensation) continue;
          step_latency_by_[{saga.name, step.name, kind}] = &options_.metrics->GetHistogram(
              "rivulet_saga_step_latency_seconds", "Duration of saga step calls", bounds,
              {{"saga", saga.name}, {"step", step.name}, {"kind", kind}});
        }
      }
    }
    step_latency_ = &options_.metrics->GetHistogram("rivulet_saga_step_latency_seconds",
                                                    "Duration of saga step calls", bounds);
    step_overhead_ =
        &options_.metrics->GetHistogram("rivulet_saga_step_overhead_seconds",
                                        "From a step's answer arriving to the next request leaving",
                                        core::Histogram::LatencyBounds());
    retries_ = &options_.metrics->GetCounter("rivulet_saga_retries_total",
                                             "Saga step and compensation retries scheduled");
    compensations_ = &options_.metrics->GetCounter("rivulet_saga_compensations_total",
                                                   "Saga compensations that succeeded");
    timers_pending_ =
        &options_.metrics->GetGauge("rivulet_saga_timers_pending", "Saga timers armed");
    for (const auto& saga : sagas_) {
      triggers_refused_[saga.name] = &options_.metrics->GetCounter(
          "rivulet_saga_triggers_refused_total",
          "Trigger events that could start no instance (no usable id), skipped",
          {{"saga", saga.name}});
    }
  }
}

SagaEngine::~SagaEngine() { Stop(); }

const SagaDefinition* SagaEngine::Find(const std::string& name) const {
  for (const auto& s : sagas_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

Status SagaEngine::Start() {
  RETURN_IF_ERROR(SagaTables::Migrate(store_));
  // Triggers committed before the first start are not sagas' business: begin at the head.
  ASSIGN_OR_RETURN(int64_t checkpoint, SagaTables::StoredCheckpoint(store_, kTriggerConsumer));
  if (checkpoint == 0) {
    const int64_t head = store_.HeadPosition();
    RETURN_IF_ERROR(store_.Write([&](eventstore::Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(int64_t stored, SagaTables::Checkpoint(tx, kTriggerConsumer));
      if (stored == 0) RETURN_IF_ERROR(SagaTables::SetCheckpoint(tx, kTriggerConsumer, head));
      return Status::Ok();
    }));
    ASSIGN_OR_RETURN(checkpoint, SagaTables::StoredCheckpoint(store_, kTriggerConsumer));
  }
  trigger_checkpoint_ = checkpoint;
  log_position_ = checkpoint;
  // The log events the loop needs: triggers, awaited types, and what others append to
  // saga streams (its own appends are never of these types, except SagaStarted).
  std::set<std::string> types = {"SagaStarted", "AbortRequested", "RetryRequested"};
  for (const auto& saga : sagas_) {
    if (saga.trigger_type) types.insert(*saga.trigger_type);
  }
  log_types_.assign(types.begin(), types.end());

  // Every unfinished instance resumes from its stream.
  ASSIGN_OR_RETURN(std::vector<InstanceRow> unfinished, SagaTables::Unfinished(store_));
  Followups followups;
  const int64_t now = options_.clock->NowMillis();
  for (const InstanceRow& row : unfinished) {
    auto inst = LoadInstance(store_, row.name, row.id);
    if (!inst.ok()) return inst.status();
    const std::string key = KeyOf(row.name, row.id);
    auto [it, inserted] = instances_.emplace(key, std::move(inst).value());
    Advance(it->second, now, followups);
  }
  Commit(now, followups);

  if (options_.metrics != nullptr) {
    // Gauges are registered here: a collector runs under the registry's lock.
    static const char* kStatuses[] = {"running",     "compensating", "completed",
                                      "compensated", "failed",       "aborted"};
    std::map<std::pair<std::string, std::string>, core::Gauge*> gauges;
    for (const auto& saga : sagas_) {
      for (const char* status : kStatuses) {
        gauges[{saga.name, status}] = &options_.metrics->GetGauge(
            "rivulet_saga_instances", "Saga instances by saga and status",
            {{"saga", saga.name}, {"status", status}});
      }
    }
    collector_ = options_.metrics->AddCollector([this, gauges] {
      auto counts = SagaTables::Counts(store_);
      if (!counts.ok()) return;
      for (const auto& [key, gauge] : gauges) gauge->Set(0);
      for (const auto& [name, status, n] : *counts) {
        if (auto it = gauges.find({name, status}); it != gauges.end()) it->second->Set(n);
      }
    });
  }
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { Work(); });
  loop_ = std::thread([this] { Loop(); });
  watcher_ = std::thread([this] {
    int64_t seen = store_.HeadPosition();
    while (!stopping_.load()) {
      if (store_.WaitForPositionAfter(seen,
                                      std::chrono::steady_clock::now() + std::chrono::seconds(1))) {
        seen = store_.HeadPosition();
        Wake();
      }
    }
  });
  return Status::Ok();
}

void SagaEngine::Stop() {
  if (stopping_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    poked_ = true;
  }
  wake_.notify_all();
  jobs_ready_.notify_all();
  store_.WakeWaiters();
  if (loop_.joinable()) loop_.join();
  if (watcher_.joinable()) watcher_.join();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  if (options_.metrics != nullptr && collector_ != 0) options_.metrics->RemoveCollector(collector_);
}

void SagaEngine::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    poked_ = true;
  }
  wake_.notify_all();
}

void SagaEngine::Work() {
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      jobs_ready_.wait(lock, [&] { return stopping_.load() || !jobs_.empty(); });
      if (stopping_.load()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    auto started = std::chrono::steady_clock::now();
    if (job.after_answer) {
      const double overhead = std::chrono::duration<double>(started - *job.after_answer).count();
      if (step_overhead_ != nullptr) step_overhead_->Observe(overhead);
      if (options_.on_step_overhead) options_.on_step_overhead(overhead);
    }
    CallOutcome outcome = caller_.Call(job.request, job.timeout);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (step_latency_ != nullptr) {
      auto it = step_latency_by_.find({job.key.substr(0, job.key.find('\x1f')), job.step_name,
                                       job.compensation ? "compensation" : "action"});
      (it != step_latency_by_.end() ? it->second : step_latency_)->Observe(seconds);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      results_.push_back(CallResult{std::move(job), std::move(outcome), seconds,
                                    std::chrono::steady_clock::now()});
    }
    wake_.notify_all();
  }
}

void SagaEngine::Loop() {
  while (!stopping_.load()) {
    Tick();
    std::unique_lock<std::mutex> lock(mu_);
    auto wait = options_.idle_wait;
    if (!timers_.empty()) {
      const int64_t until = timers_.begin()->first - options_.clock->NowMillis();
      wait = std::min(wait, std::chrono::milliseconds(std::max<int64_t>(0, until)));
    }
    wake_.wait_for(lock, wait, [&] { return poked_ || !results_.empty() || stopping_.load(); });
    poked_ = false;
  }
  // What was consumed is not consumed again after a restart.
  flush_checkpoint_ = true;
  Followups none;
  Commit(options_.clock->NowMillis(), none);
}

void SagaEngine::Tick() {
  const int64_t now = options_.clock->NowMillis();
  Followups followups;
  std::vector<CallResult> results;
  {
    std::lock_guard<std::mutex> lock(mu_);
    results.swap(results_);
  }
  for (const CallResult& r : results) {
    applying_answer_ = r.received;
    ApplyResult(r, now, followups);
  }
  applying_answer_.reset();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    Timer timer = timers_.begin()->second;
    timers_.erase(timers_.begin());
    FireTimer(timer, now, followups);
  }
  // Answers become the next requests before the log is read, which may take longer.
  Commit(now, followups);
  ConsumeLog(now, followups);
  Commit(now, followups);
  if (timers_pending_ != nullptr) timers_pending_->Set(static_cast<int64_t>(timers_.size()));
}

Status SagaEngine::RecordCall(SagaInstance& inst, bool compensation, Followups& followups) {
  const int index = inst.machine->current_step();
  const Step& step = inst.definition->steps[static_cast<size_t>(index)];
  const HttpCall& call = compensation ? *step.compensation : *step.action;
  const StepState& state = inst.machine->steps()[static_cast<size_t>(index)];
  const int attempt = (compensation ? state.compensation_attempts : state.attempts) + 1;
  const char* started = compensation ? "CompensationStarted" : "StepStarted";
  const char* failed = compensation ? "CompensationFailed" : "StepFailed";

  // The request, from templates over the saga's context; a template that fails is a
  // failed attempt (permanent for an action, retried for a compensation).
  Json context = inst.Context(options_.services);
  CallRequest request;
  request.method = call.method;
  std::string error;
  auto base = options_.services.find(call.service);
  auto path = call.path.EvaluateString(context);
  if (base == options_.services.end()) {
    error = "service " + call.service + " is not declared under services:";
  } else if (!path.ok()) {
    error = "path: " + path.status().message();
  } else {
    request.url = base->second + *path;
  }
  if (error.empty() && call.body) {
    auto body = call.body->Evaluate(context);
    if (!body.ok()) {
      error = "body: " + body.status().message();
    } else {
      request.body = std::move(body).value();
    }
  }
  for (const auto& [name, t] : call.headers) {
    if (!error.empty()) break;
    auto value = t.EvaluateString(context);
    if (!value.ok()) {
      error = "headers." + name + ": " + value.status().message();
    } else {
      request.headers[name] = *value;
    }
  }
  request.headers["Idempotency-Key"] = inst.name + "/" + inst.id + "/" + step.name + "/" +
                                       (compensation ? "compensation" : "action");
  request.headers["Rivulet-Attempt"] = std::to_string(attempt);
  request.headers["Rivulet-Correlation-Id"] = inst.correlation_id;
  if (error.empty()) {
    const size_t bytes = core::DumpJson(request.ToJson()).size();
    if (bytes > payload_limit_) {
      error = "the request is " + std::to_string(bytes) + " bytes; a step's request is kept in " +
              "its StepStarted event, and the store keeps events up to " +
              std::to_string(max_event_bytes_) + " bytes (server.max_body)";
    }
  }

  if (!error.empty()) {
    RETURN_IF_ERROR(inst.Record(started, Json{{"step", step.name}, {"attempt", attempt}}));
    return inst.Record(failed, Json{{"step", step.name},
                                    {"attempt", attempt},
                                    {"error", error},
                                    {"retryable", compensation},
                                    {"outcome", "known"}});
  }
  RETURN_IF_ERROR(inst.Record(
      started, Json{{"step", step.name}, {"attempt", attempt}, {"request", request.ToJson()}}));
  Job job;
  job.key = KeyOf(inst.name, inst.id);
  job.compensation = compensation;
  job.step = index;
  job.attempt = attempt;
  job.request = std::move(request);
  job.timeout = step.timeout.value_or(options_.default_step_timeout);
  job.after_answer = applying_answer_;
  job.step_name = step.name;
  followups.calls.push_back(std::move(job));
  calls_in_flight_[KeyOf(inst.name, inst.id)] = {compensation, index, attempt};
  return Status::Ok();
}

void SagaEngine::Advance(SagaInstance& inst, int64_t now, Followups& followups) {
  Derive(inst, now, followups);
  // Whatever was recorded, here or by the caller, goes into the next commit.
  if (!inst.pending.empty()) dirty_.insert(KeyOf(inst.name, inst.id));
}

void SagaEngine::Derive(SagaInstance& inst, int64_t now, Followups& followups) {
  const std::string key = KeyOf(inst.name, inst.id);
  if (Running(inst.machine->phase()) && inst.machine->deadline() > 0) {
    followups.timers.push_back(Timer{key, TimerKind::kDeadline, -1, inst.machine->deadline()});
  }
  for (int guard = 0; guard < 1000; ++guard) {
    SagaMachine& m = *inst.machine;
    const Phase phase = m.phase();
    const int index = m.current_step();
    Status status;
    switch (phase) {
      case Phase::kRunningStep:
      case Phase::kCompensating: {
        const bool compensation = phase == Phase::kCompensating;
        const std::string& step_name = inst.definition->steps[static_cast<size_t>(index)].name;
        const StepState& s = m.steps()[static_cast<size_t>(index)];
        const int started = compensation ? s.compensation_attempts : s.attempts;
        // An attempt recorded as started whose answer never came and that this process
        // is not making (it died during the call): its outcome is unknown.
        if (m.in_flight()) {
          if (calls_in_flight_.count(key)) return;
          status = inst.Record(compensation ? "CompensationFailed" : "StepFailed",
                               Json{{"step", step_name},
                                    {"attempt", started},
                                    {"error", "the runtime stopped during the call"},
                                    {"retryable", true},
                                    {"outcome", "unknown"}});
          break;
        }
        status = RecordCall(inst, compensation, followups);
        if (status.ok() && m.in_flight()) return;  // waits for the answer
        break;
      }
      case Phase::kWaitingToRetry:
      case Phase::kWaitingToRetryCompensation: {
        const auto due = m.due();
        if (due && *due > now) {
          followups.timers.push_back(Timer{
              key,
              phase == Phase::kWaitingToRetry ? TimerKind::kRetry : TimerKind::kCompensationRetry,
              index, *due});
          return;
        }
        const bool compensation = phase == Phase::kWaitingToRetryCompensation;
        if (!due) {  // scheduled nothing yet: do it now
          const StepState& s = m.steps()[static_cast<size_t>(index)];
          const auto& policy =
              compensation ? inst.definition->compensation_retry : inst.definition->retry;
          const int made = compensation ? s.compensation_attempts : s.attempts;
          const int64_t at = now + policy.Delay(made, core::RandomU64()).count();
          status =
              inst.Record(compensation ? "CompensationRetryScheduled" : "RetryScheduled",
                          Json{{"step", inst.definition->steps[static_cast<size_t>(index)].name},
                               {"attempt", made + 1},
                               {"due", at}});
          if (retries_ != nullptr) retries_->Inc();
          break;
        }
        status = RecordCall(inst, compensation, followups);
        if (status.ok() && m.in_flight()) return;  // waits for the answer
        break;
      }
      case Phase::kAwaitingEvent: {
        const Step& step = inst.definition->steps[static_cast<size_t>(index)];
        if (!m.await_started()) {
          Json match = Json::object();
          if (step.await->match) {
            auto evaluated = core::JsonTemplate::Parse(step.await->match->source())
                                 .value()
                                 .Evaluate(inst.Context(options_.services));
            if (!evaluated.ok()) {
              status = inst.Record("StepFailed",
                                   Json{{"step", step.name},
                                        {"error", "await.match: " + evaluated.status().message()},
                                        {"retryable", false}});
              break;
            }
            match = std::move(evaluated).value();
          }
          Json data{{"step", step.name}, {"match", match}};
          if (step.timeout) data["deadline"] = now + step.timeout->count();
          status = inst.Record("AwaitStarted", std::move(data));
          if (!status.ok()) break;
        }
        if (auto deadline = m.await_deadline()) {
          followups.timers.push_back(Timer{key, TimerKind::kAwaitTimeout, index, *deadline});
        }
        followups.waits.push_back(key);
        return;
      }
      case Phase::kCompleted:
      case Phase::kCompensated:
      case Phase::kAborted:
      case Phase::kFailed: {
        if (m.finished()) return;
        const char* type = phase == Phase::kCompleted     ? "SagaCompleted"
                           : phase == Phase::kCompensated ? "SagaCompensated"
                           : phase == Phase::kAborted     ? "SagaAborted"
                                                          : "SagaFailed";
        Json data = Json::object();
        if (!m.error().empty()) data["error"] = m.error();
        const std::optional<Emit>& emit = phase == Phase::kCompleted ? inst.definition->on_completed
                                          : phase == Phase::kFailed
                                              ? std::optional<Emit>()
                                              : inst.definition->on_compensated;
        if (emit) {
          Json context = inst.Context(options_.services);
          auto stream = emit->stream.EvaluateString(context);
          auto event_type = emit->type.EvaluateString(context);
          auto event_data = emit->data.Evaluate(context);
          std::optional<Json> metadata;
          Status emit_error = !stream.ok()       ? stream.status()
                              : !event_type.ok() ? event_type.status()
                                                 : event_data.status();
          // What the store would refuse is an emit error, not a write that fails forever;
          // '$' streams ("$saga-...") belong to the runtime.
          if (emit_error.ok()) emit_error = eventstore::ValidateStreamName(*stream, false);
          if (emit_error.ok()) emit_error = eventstore::ValidateEventType(*event_type);
          if (emit_error.ok() && emit->metadata) {
            auto evaluated = emit->metadata->Evaluate(context);
            if (evaluated.ok()) {
              metadata = std::move(evaluated).value();
            } else {
              emit_error = evaluated.status();
            }
          }
          if (emit_error.ok()) {
            eventstore::AppendRequest request;
            request.stream = *stream;
            eventstore::EventData e;
            e.type = *event_type;
            e.data = event_data->is_object() ? *event_data : Json{{"value", *event_data}};
            e.metadata = metadata && metadata->is_object() ? *metadata : Json::object();
            e.metadata["correlation_id"] = inst.correlation_id;
            e.metadata["causation_id"] = inst.stream();
            const size_t bytes = eventstore::StoredEventBytes(e.type, core::DumpJson(e.data),
                                                              core::DumpJson(e.metadata));
            emit_error = eventstore::CheckEventSize("the emitted event", bytes, max_event_bytes_);
            if (emit_error.ok()) {
              request.events.push_back(std::move(e));
              inst.emits.push_back(std::move(request));
            }
          }
          if (!emit_error.ok()) data["emit_error"] = emit_error.message();
        }
        status = inst.Record(type, std::move(data));
        if (status.ok()) return;
        break;
      }
      case Phase::kNotStarted:
        return;
    }
    if (!status.ok()) {
      // The machine refused what the engine derived: a bug, never silent.
      LogRefused(inst, status);
      return;
    }
  }
}

void SagaEngine::Arm(const Timer& timer) {
  if (!armed_.emplace(timer.key, static_cast<int>(timer.kind), timer.due).second) return;
  timers_.emplace(timer.due, timer);
}

void SagaEngine::ApplyResult(const CallResult& result, int64_t now, Followups& followups) {
  const Job& job = result.job;
  auto flying = calls_in_flight_.find(job.key);
  if (flying != calls_in_flight_.end() &&
      flying->second == std::make_tuple(job.compensation, job.step, job.attempt)) {
    calls_in_flight_.erase(flying);
  }
  auto it = instances_.find(job.key);
  if (it == instances_.end()) return;
  SagaInstance& inst = it->second;
  SagaMachine& m = *inst.machine;
  const Phase expected = job.compensation ? Phase::kCompensating : Phase::kRunningStep;
  const StepState& s = m.steps()[static_cast<size_t>(job.step)];
  const int attempt = job.compensation ? s.compensation_attempts : s.attempts;
  // An answer to an attempt the instance has moved past (a timeout, an abort) is stale.
  if (m.phase() != expected || !m.in_flight() || m.current_step() != job.step ||
      attempt != job.attempt) {
    return;
  }
  const std::string& step = inst.definition->steps[static_cast<size_t>(job.step)].name;
  const CallOutcome& o = result.outcome;
  Status status;
  if (o.succeeded) {
    Json data{
        {"step", step}, {"status", o.status ? Json(*o.status) : Json()}, {"response", o.response}};
    status =
        inst.Record(job.compensation ? "CompensationSucceeded" : "StepSucceeded", std::move(data));
    if (job.compensation && compensations_ != nullptr) compensations_->Inc();
  } else {
    Json data{{"step", step},
              {"attempt", job.attempt},
              {"error", o.error},
              {"retryable", o.retryable},
              {"outcome", o.outcome_unknown ? "unknown" : "known"}};
    if (o.status) data["status"] = *o.status;
    status = inst.Record(job.compensation ? "CompensationFailed" : "StepFailed", std::move(data));
  }
  if (!status.ok()) {
    LogRefused(inst, status);
    return;
  }
  Advance(inst, now, followups);
}

void SagaEngine::FireTimer(const Timer& timer, int64_t now, Followups& followups) {
  armed_.erase({timer.key, static_cast<int>(timer.kind), timer.due});
  auto it = instances_.find(timer.key);
  if (it == instances_.end()) return;
  SagaInstance& inst = it->second;
  SagaMachine& m = *inst.machine;
  Status status;
  switch (timer.kind) {
    case TimerKind::kRetry:
    case TimerKind::kCompensationRetry: {
      const Phase expected = timer.kind == TimerKind::kRetry ? Phase::kWaitingToRetry
                                                             : Phase::kWaitingToRetryCompensation;
      if (m.phase() != expected || m.current_step() != timer.step || m.due() != timer.due) return;
      break;
    }
    case TimerKind::kAwaitTimeout: {
      if (m.phase() != Phase::kAwaitingEvent || m.current_step() != timer.step ||
          m.await_deadline() != timer.due) {
        return;
      }
      const Step& step = inst.definition->steps[static_cast<size_t>(timer.step)];
      status = inst.Record(
          "StepFailed",
          Json{{"step", step.name},
               {"error", "no " + step.await->type + " event within " +
                             core::FormatDuration(step.timeout.value_or(milliseconds(0)))},
               {"retryable", false}});
      break;
    }
    case TimerKind::kDeadline:
      if (!Running(m.phase()) || m.deadline() != timer.due) return;
      status = inst.Record("SagaTimedOut",
                           Json{{"error", "the saga timed out after " +
                                              core::FormatDuration(inst.definition->timeout)}});
      break;
  }
  if (!status.ok()) {
    LogRefused(inst, status);
    return;
  }
  Advance(inst, now, followups);
}

std::optional<std::pair<std::string, std::string>> SagaEngine::SagaOfStream(
    const std::string& stream) const {
  // Saga names never hold '-' (SPEC section 4), so the first '-' after the prefix ends
  // the name: "$saga-order-x-1" is instance "x-1" of saga "order", and no other pair
  // of name and id spells the same stream.
  static const std::string kPrefix = "$saga-";
  if (stream.rfind(kPrefix, 0) != 0) return std::nullopt;
  const size_t dash = stream.find('-', kPrefix.size());
  if (dash == std::string::npos || dash + 1 == stream.size()) return std::nullopt;
  std::string name = stream.substr(kPrefix.size(), dash - kPrefix.size());
  if (Find(name) == nullptr) return std::nullopt;
  return std::make_pair(std::move(name), stream.substr(dash + 1));
}

void SagaEngine::RefuseTrigger(const std::string& saga, int64_t position, const std::string& why) {
  core::Log(core::LogLevel::kWarn, "saga/" + saga,
            "refused the trigger at position " + std::to_string(position) + ": " + why +
                "; it starts no instance and is not retried",
            {{"position", position}});
  if (auto it = triggers_refused_.find(saga); it != triggers_refused_.end()) it->second->Inc();
}

void SagaEngine::StartFromTrigger(const SagaDefinition& saga, const Json& json, int64_t position,
                                  int64_t now, Followups& followups) {
  if (saga.trigger_match && !saga.trigger_match->Matches(json)) return;
  // A trigger that can never start an instance is refused once and passed over (the
  // checkpoint moves past it), never retried: retrying would stall every later trigger.
  auto id = saga.id->EvaluateString(json);
  if (!id.ok())
    return RefuseTrigger(saga.name, position, "no instance id: " + id.status().message());
  if (Status valid = ValidateInstanceId(*id); !valid.ok())
    return RefuseTrigger(saga.name, position, valid.message());
  const std::string key = KeyOf(saga.name, *id);
  if (instances_.count(key)) return;  // a duplicate trigger of a running instance
  auto inst = NewInstance(saga, *id, json, position, now);
  if (!inst.ok()) return RefuseTrigger(saga.name, position, inst.status().message());
  auto [it, inserted] = instances_.emplace(key, std::move(inst).value());
  new_instances_.insert(key);
  Advance(it->second, now, followups);
}

void SagaEngine::ConsumeLog(int64_t now, Followups& followups) {
  eventstore::LogReadOptions read;
  read.after.position = log_position_;
  read.limit = 1000;
  // Plus what waiting instances await (a frozen definition may await other types).
  read.filter.types = log_types_;
  for (auto w = waiters_.begin(); w != waiters_.end(); w = waiters_.upper_bound(w->first)) {
    if (!std::binary_search(log_types_.begin(), log_types_.end(), w->first))
      read.filter.types.push_back(w->first);
  }
  auto batch = store_.ReadLog(read);
  if (!batch.ok()) return;
  for (const auto& e : batch->events) {
    log_position_ = e.position;
    if (auto saga = SagaOfStream(e.stream)) {
      const std::string key = KeyOf(saga->first, saga->second);
      auto it = instances_.find(key);
      if (it == instances_.end()) {
        auto done = finished_versions_.find(key);
        if (done != finished_versions_.end() && e.version <= done->second) continue;
      }
      // Written by someone else: the CLI, an HTTP request, another process. (Of saga
      // events, log_types_ lets through only those others write.)
      if (it == instances_.end() || (e.version > it->second.version && !dirty_.count(key))) {
        Reload(key, now, followups);
      }
      continue;
    }
    const Json json = e.ToJson();  // what triggers and awaits match against
    for (const auto& saga : sagas_) {
      if (saga.trigger_type && *saga.trigger_type == e.type)
        StartFromTrigger(saga, json, e.position, now, followups);
    }
    auto range = waiters_.equal_range(e.type);
    if (range.first == range.second) continue;
    for (auto w = range.first; w != range.second;) {
      auto inst = instances_.find(w->second.key);
      if (inst == instances_.end() || inst->second.machine->phase() != Phase::kAwaitingEvent ||
          inst->second.machine->current_step() != w->second.step) {
        w = waiters_.erase(w);
        continue;
      }
      if (e.position <= w->second.after || !w->second.match.Matches(json)) {
        ++w;
        continue;
      }
      SagaInstance& i = inst->second;
      Status recorded =
          i.Record("StepSucceeded",
                   Json{{"step", i.definition->steps[static_cast<size_t>(w->second.step)].name},
                        {"response", json},
                        {"event", {{"position", e.position}}}});
      w = waiters_.erase(w);
      if (recorded.ok()) Advance(i, now, followups);
    }
  }
  log_position_ = std::max(log_position_, batch->resume.position);
  consumed_position_.store(log_position_);
  if (log_position_ != trigger_checkpoint_) checkpoint_dirty_ = true;
}

void SagaEngine::RegisterWait(const std::string& key, Followups& followups) {
  auto it = instances_.find(key);
  if (it == instances_.end()) return;
  SagaInstance& inst = it->second;
  if (inst.machine->phase() != Phase::kAwaitingEvent) return;
  const int index = inst.machine->current_step();
  const Step& step = inst.definition->steps[static_cast<size_t>(index)];
  auto range = waiters_.equal_range(step.await->type);
  for (auto w = range.first; w != range.second; ++w) {
    if (w->second.key == key && w->second.step == index) return;  // registered already
  }
  auto filter = core::Filter::Parse(inst.await_match);
  if (!filter.ok()) {
    core::Log(core::LogLevel::kError, "saga/" + inst.name,
              "await filter of step " + step.name + ": " + filter.status().message(),
              {{"id", inst.id}});
    return;
  }
  Waiter waiter{key, index, std::move(filter).value(),
                std::max(inst.from_position, inst.last_consumed)};
  // Events already in the log (after the saga began) count: look back first.
  eventstore::LogReadOptions read;
  read.after.position = waiter.after;
  read.up_to = log_position_;
  read.filter.types = {step.await->type};
  read.limit = 1000;
  while (read.after.position < log_position_) {
    auto batch = store_.ReadLog(read);
    if (!batch.ok()) break;
    for (const auto& e : batch->events) {
      Json json = e.ToJson();
      if (!waiter.match.Matches(json)) continue;
      if (inst.Record("StepSucceeded", Json{{"step", step.name},
                                            {"response", json},
                                            {"event", {{"position", e.position}}}})
              .ok()) {
        Advance(inst, options_.clock->NowMillis(), followups);
      }
      return;
    }
    if (batch->resume.position <= read.after.position) break;
    read.after = batch->resume;
  }
  waiters_.emplace(step.await->type, std::move(waiter));
}

void SagaEngine::Reload(const std::string& key, int64_t now, Followups& followups) {
  finished_versions_.erase(key);
  const size_t sep = key.find('\x1f');
  const std::string name = key.substr(0, sep), id = key.substr(sep + 1);
  auto loaded = LoadInstance(store_, name, id);
  instances_.erase(key);
  dirty_.erase(key);
  new_instances_.erase(key);
  if (!loaded.ok()) return;
  auto [it, inserted] = instances_.emplace(key, std::move(loaded).value());
  Advance(it->second, now, followups);
}

void SagaEngine::Commit(int64_t now, Followups& followups) {
  auto checkpoint_due = [&] {
    return checkpoint_dirty_ &&
           (flush_checkpoint_ ||
            std::chrono::steady_clock::now() - checkpoint_written_ >= kCheckpointAloneEvery);
  };
  auto work_left = [&] {
    return !dirty_.empty() || checkpoint_due() || !followups.calls.empty() ||
           !followups.timers.empty() || !followups.waits.empty();
  };
  for (int round = 0; round < 100 && work_left(); ++round) {
    std::vector<std::string> keys(dirty_.begin(), dirty_.end());
    std::set<std::string> duplicates;
    std::map<std::string, int64_t> versions;
    const int64_t checkpoint = log_position_;
    auto write = [&](const std::vector<std::string>& which, bool with_checkpoint) {
      return store_.Write([&](eventstore::Transaction& tx) -> Status {
        duplicates.clear();
        versions.clear();
        for (const std::string& key : which) {
          const SagaInstance& inst = instances_.at(key);
          if (inst.pending.empty()) continue;
          ASSIGN_OR_RETURN(std::optional<int64_t> version,
                           WritePending(tx, inst, now, new_instances_.count(key) > 0));
          if (version) {
            versions[key] = *version;
          } else {
            duplicates.insert(key);  // a second trigger for the same id: nothing to do
          }
        }
        if (with_checkpoint)
          RETURN_IF_ERROR(SagaTables::SetCheckpoint(tx, kTriggerConsumer, checkpoint));
        return Status::Ok();
      });
    };
    auto stored = [&](const std::string& key) {
      SagaInstance& inst = instances_.at(key);
      if (auto v = versions.find(key); v != versions.end()) inst.Stored(v->second);
      new_instances_.erase(key);
      dirty_.erase(key);
      if (duplicates.count(key)) {
        instances_.erase(key);
        calls_in_flight_.erase(key);
      }
    };
    const bool with_checkpoint = checkpoint_dirty_;
    Status status = write(keys, with_checkpoint);
    if (status.ok()) {
      for (const std::string& key : keys) stored(key);
      if (with_checkpoint) {
        trigger_checkpoint_ = checkpoint;
        checkpoint_dirty_ = false;
        checkpoint_written_ = std::chrono::steady_clock::now();
      }
    } else {
      // One instance's conflict (written by someone else meanwhile) must not hold up the
      // others: each on its own; the checkpoint only with all of them.
      bool all = true;
      for (const std::string& key : keys) {
        Status one = write({key}, false);
        if (one.ok()) {
          stored(key);
          continue;
        }
        calls_in_flight_.erase(key);
        // Drop what was derived from the unstored events, then start again from the stream.
        followups.calls.erase(std::remove_if(followups.calls.begin(), followups.calls.end(),
                                             [&](const Job& j) { return j.key == key; }),
                              followups.calls.end());
        if (new_instances_.count(key) &&
            (one.code() == StatusCode::kInvalidArgument || TooLarge(one))) {
          // Its trigger makes an instance the store refuses, and would again: refused once.
          const SagaInstance& inst = instances_.at(key);
          RefuseTrigger(inst.name, inst.from_position, one.message());
          instances_.erase(key);
          new_instances_.erase(key);
          dirty_.erase(key);
          continue;
        }
        all = false;
        {
          // A conflict (another writer got there first) is routine; anything else is not.
          const SagaInstance& inst = instances_.at(key);
          core::Log(
              one.code() == StatusCode::kAborted ? core::LogLevel::kDebug : core::LogLevel::kWarn,
              "saga/" + inst.name, "storing the instance: " + one.message() + "; reloading it",
              {{"id", inst.id}, {"code", StatusCodeName(one.code())}});
        }
        if (new_instances_.count(key)) {
          instances_.erase(key);
          new_instances_.erase(key);
          dirty_.erase(key);
        } else {
          Reload(key, now, followups);  // what it derives again commits next round
        }
      }
      if (all) {
        Status cp = store_.Write([&](eventstore::Transaction& tx) {
          return SagaTables::SetCheckpoint(tx, kTriggerConsumer, checkpoint);
        });
        if (cp.ok()) {
          trigger_checkpoint_ = checkpoint;
          checkpoint_dirty_ = false;
          checkpoint_written_ = std::chrono::steady_clock::now();
        }
      } else {
        log_position_ = trigger_checkpoint_;  // consume again; starts are idempotent
        checkpoint_dirty_ = false;
      }
    }
    // What the stored events ask for. A call whose StepStarted is not stored yet (an
    // instance reloaded above and derived again) waits for the next round.
    std::vector<Job> calls;
    calls.swap(followups.calls);
    std::vector<Timer> timers;
    timers.swap(followups.timers);
    std::vector<std::string> waits;
    waits.swap(followups.waits);
    size_t queued = 0;
    if (!calls.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      for (Job& job : calls) {
        auto it = instances_.find(job.key);
        if (it == instances_.end()) continue;
        if (!it->second.pending.empty()) {
          followups.calls.push_back(std::move(job));
          continue;
        }
        jobs_.push_back(std::move(job));
        ++queued;
      }
    }
    // One wake per call: waking every idle worker for one job costs more than the call.
    for (size_t i = 0; i < queued; ++i) jobs_ready_.notify_one();
    for (const Timer& t : timers) {
      if (instances_.count(t.key)) Arm(t);
    }
    for (const std::string& key : waits) RegisterWait(key, followups);
    // Finished instances leave memory; their streams stay.
    for (auto it = instances_.begin(); it != instances_.end();) {
      if (it->second.machine->finished() && it->second.pending.empty() &&
          !dirty_.count(it->first)) {
        calls_in_flight_.erase(it->first);
        // Its own events may still be ahead in the log: remember them as seen.
        if (finished_versions_.emplace(it->first, it->second.version).second) {
          finished_order_.push_back(it->first);
          if (finished_order_.size() > 100'000) {
            finished_versions_.erase(finished_order_.front());
            finished_order_.pop_front();
          }
        }
        it = instances_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

Result<InstanceRow> StartSaga(eventstore::EventStore& store, const SagaDefinition& saga,
                              std::optional<std::string> id, const Json& input,
                              core::Clock& clock) {
  if (!id) id = core::Uuid::NewV4().ToString();
  RETURN_IF_ERROR(ValidateInstanceId(*id));
  RETURN_IF_ERROR(SagaTables::Migrate(store));
  const int64_t now = clock.NowMillis();
  ASSIGN_OR_RETURN(SagaInstance inst, NewInstance(saga, *id, input, store.HeadPosition(), now));
  InstanceRow row;
  Status written = store.Write([&](eventstore::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(std::optional<int64_t> version, WritePending(tx, inst, now, true));
    if (!version) return AlreadyStarted(saga.name, *id);
    row = inst.Row(now);
    return Status::Ok();
  });
  if (!written.ok() && written.reason() == "wrong_expected_version") {
    return AlreadyStarted(saga.name, *id);
  }
  RETURN_IF_ERROR(written);
  return row;
}

Result<InstanceRow> RetrySaga(eventstore::EventStore& store, const std::string& name,
                              const std::string& id, core::Clock& clock) {
  return ApplyByHand(store, name, id, "RetryRequested", Json::object(), clock);
}

Result<InstanceRow> AbortSaga(eventstore::EventStore& store, const std::string& name,
                              const std::string& id, const std::string& reason,
                              core::Clock& clock) {
  return ApplyByHand(store, name, id, "AbortRequested",
                     Json{{"reason", reason.empty() ? "by request" : reason}}, clock);
}

}  // namespace rivulet::sagas
