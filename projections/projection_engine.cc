#include "projections/projection_engine.h"

#include <algorithm>
#include <thread>

#include "core/status_macros.h"
#include "core/uuid.h"

namespace rivulet::projections {

namespace {

const Generation* FindRole(const std::vector<Generation>& rows, const char* role) {
  for (const Generation& g : rows) {
    if (g.role == role) return &g;
  }
  return nullptr;
}

Status NotDeclared(const std::string& name) {
  return Status::NotFound("no projection named " + name);
}

}  // namespace

core::Json ProjectionStatus::ToJson() const {
  core::Json j{
      {"name", name},
      {"state", state},
      {"position", position},
      {"lag", lag},
      {"last_error", last_error.empty() ? core::Json(nullptr) : core::Json(last_error)},
      {"failed_position", failed_position ? core::Json(*failed_position) : core::Json(nullptr)},
      {"generation", generation},
      {"definition_current", definition_current},
      {"rebuild", nullptr}};
  if (rebuild) {
    j["rebuild"] = {
        {"generation", rebuild->generation},
        {"position", rebuild->position},
        {"progress", rebuild->progress},
        {"state", rebuild->state},
        {"last_error",
         rebuild->last_error.empty() ? core::Json(nullptr) : core::Json(rebuild->last_error)},
        {"failed_position",
         rebuild->failed_position ? core::Json(*rebuild->failed_position) : core::Json(nullptr)}};
  }
  return j;
}

ProjectionEngine::ProjectionEngine(eventstore::EventStore& store,
                                   std::vector<ProjectionDefinition> definitions, Options options)
    : store_(store), definitions_(std::move(definitions)), options_(std::move(options)) {
  if (options_.clock == nullptr) options_.clock = core::SystemClock::Default();
  if (options_.owner.empty()) options_.owner = core::Uuid::NewV4().ToString();
  for (const ProjectionDefinition& def : definitions_) {
    auto slot = std::make_unique<Slot>();
    slot->definition = def;
    slot->trouble = std::make_unique<core::TroubleLog>("projection/" + def.name);
    if (options_.metrics != nullptr) {
      core::MetricsRegistry& m = *options_.metrics;
      slot->applied =
          &m.GetCounter("rivulet_projection_events_applied_total",
                        "Events applied to projection documents", {{"projection", def.name}});
      slot->position_gauge =
          &m.GetGauge("rivulet_projection_position", "Last log position the live copy applied",
                      {{"projection", def.name}});
      slot->lag_gauge = &m.GetGauge("rivulet_projection_lag_events",
                                    "Events committed after the live copy's position",
                                    {{"projection", def.name}});
      static const char* kStates[] = {"running", "rebuilding", "failed"};
      for (int i = 0; i < 3; ++i) {
        slot->state_gauges[i] =
            &m.GetGauge("rivulet_projection_state", "1 for the projection's current state",
                        {{"projection", def.name}, {"state", kStates[i]}});
      }
    }
    slots_.emplace(def.name, std::move(slot));
  }
}

ProjectionEngine::~ProjectionEngine() { Stop(); }

ProjectionEngine::Slot* ProjectionEngine::SlotFor(const std::string& name) {
  auto it = slots_.find(name);
  return it == slots_.end() ? nullptr : it->second.get();
}

const ProjectionDefinition* ProjectionEngine::Find(const std::string& name) const {
  auto it = slots_.find(name);
  return it == slots_.end() ? nullptr : &it->second->definition;
}

Status ProjectionEngine::Start(bool run_builders) {
  RETURN_IF_ERROR(ProjectionTables::Migrate(store_));
  if (options_.metrics != nullptr)
    collector_id_ = options_.metrics->AddCollector([this] { CollectMetrics(); });
  if (!run_builders) return Status::Ok();
  started_ = true;
  for (auto& [name, slot] : slots_) {
    Slot* s = slot.get();
    s->supervisor = std::thread([this, s] { Supervise(*s); });
  }
  return Status::Ok();
}

void ProjectionEngine::Stop() {
  if (collector_id_ != 0 && options_.metrics != nullptr) {
    options_.metrics->RemoveCollector(collector_id_);
    collector_id_ = 0;
  }
  stopping_.store(true);
  store_.WakeWaiters();
  for (auto& [name, slot] : slots_) {
    slot->wake.notify_all();
    slot->positions.notify_all();
  }
  for (auto& [name, slot] : slots_) {
    if (slot->supervisor.joinable()) slot->supervisor.join();
  }
}

void ProjectionEngine::StopRun(std::unique_ptr<Run>& run) {
  if (!run) return;
  run->stop.store(true);
  store_.WakeWaiters();  // a builder waiting for new events notices at once
  if (run->thread.joinable()) run->thread.join();
  run.reset();
}

ProjectionBuilder::Options ProjectionEngine::BuilderOptions(Slot& slot) {
  ProjectionBuilder::Options o;
  o.owner = options_.owner;
  o.clock = options_.clock;
  o.lease_ms = options_.lease_ms;
  o.batch_size = options_.batch_size;
  o.events_applied = slot.applied;
  o.ready_to_swap = [this, &slot](int64_t position) { return ReadyToSwap(slot, position); };
  o.became_live = [&slot] {
    std::lock_guard<std::mutex> lock(slot.mu);
    if (slot.candidate) slot.live = std::move(slot.candidate);
    slot.swapping = false;
  };
  o.progressed = [&slot](int64_t position, bool live) {
    if (!live) return;
    slot.live_position.store(position, std::memory_order_release);
    std::lock_guard<std::mutex> lock(slot.mu);
    slot.positions.notify_all();
  };
  return o;
}

std::unique_ptr<ProjectionEngine::Run> ProjectionEngine::StartRun(Slot& slot,
                                                                  Generation generation) {
  ProjectionDefinition def;
  if (generation.hash == slot.definition.hash) {
    def = slot.definition;
  } else {
    // A copy built with an earlier definition keeps following the log with it.
    auto compiled = CompileProjection(generation.definition);
    if (!compiled.ok()) return nullptr;
    def = std::move(compiled).value();
  }
  def.on_error = slot.definition.on_error;  // how to fail is the config's, not the copy's
  auto run = std::make_unique<Run>();
  run->builder = std::make_unique<ProjectionBuilder>(store_, std::move(def), std::move(generation),
                                                     BuilderOptions(slot));
  Run* raw = run.get();
  run->thread = std::thread([this, raw, &slot] {
    raw->outcome = raw->builder->Run([this, raw] { return stopping_.load() || raw->stop.load(); });
    {
      std::lock_guard<std::mutex> lock(slot.mu);
      raw->done.store(true);
    }
    slot.wake.notify_all();
  });
  return run;
}

bool ProjectionEngine::ReadyToSwap(Slot& slot, int64_t candidate_position) {
  std::unique_ptr<Run> live;
  {
    std::lock_guard<std::mutex> lock(slot.mu);
    live = std::move(slot.live);
    slot.swapping = true;
  }
  int64_t live_position = 0;
  if (live) {
    // Stop the live builder here, so the new copy starts at least where it stopped and
    // no reader sees the position go backwards.
    StopRun(live);
    live_position = slot.live_position.load();
  } else {
    auto rows = ProjectionTables::Load(store_, slot.definition.name);
    if (!rows.ok()) return false;
    if (const Generation* g = FindRole(*rows, "live")) live_position = g->position;
  }
  return candidate_position >= live_position;
}

Status ProjectionEngine::CreateGeneration(const ProjectionDefinition& def, const std::string& role,
                                          int64_t position, std::optional<int64_t> end_position) {
  return store_.Write([&](eventstore::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(eventstore::SqlRows next,
                     tx.Query("SELECT COALESCE(MAX(generation), 0) + 1 FROM "
                              "projection_generations WHERE name = $1",
                              {def.name}));
    Generation g;
    g.name = def.name;
    g.generation = std::get<int64_t>(next[0][0]);
    g.role = role;
    g.definition = def.definition;
    g.hash = def.hash;
    g.position = position;
    g.end_position = end_position;
    return ProjectionTables::Create(tx, g, def.indexes, options_.clock->NowMillis());
  });
}

Result<bool> ProjectionEngine::Reconcile(Slot& slot) {
  const ProjectionDefinition& def = slot.definition;
  // Reap builders that ended; their outcome is in the stored generation.
  std::unique_ptr<Run> ended_live, ended_candidate;
  {
    std::lock_guard<std::mutex> lock(slot.mu);
    if (slot.live && slot.live->done.load()) ended_live = std::move(slot.live);
    if (slot.candidate && slot.candidate->done.load()) {
      ended_candidate = std::move(slot.candidate);
      slot.swapping = false;
    }
  }
  StopRun(ended_live);
  StopRun(ended_candidate);

  ASSIGN_OR_RETURN(std::vector<Generation> rows, ProjectionTables::Load(store_, def.name));
  const Generation* live = FindRole(rows, "live");
  const Generation* candidate = FindRole(rows, "candidate");
  SayFailures(slot, live, candidate);
  const int64_t now = options_.clock->NowMillis();
  auto lease_free = [&](const Generation& g) {
    return g.owner.empty() || g.owner == options_.owner || g.lease_until < now;
  };

  if (live == nullptr && candidate == nullptr) {
    RETURN_IF_ERROR(CreateGeneration(def, "live", 0, std::nullopt));
    return true;
  }
  if (live != nullptr && live->hash != def.hash && candidate == nullptr) {
    // The definition changed: build a copy with it beside the live one.
    RETURN_IF_ERROR(CreateGeneration(def, "candidate", 0, std::nullopt));
    return true;
  }
  if (candidate != nullptr && candidate->hash != def.hash && lease_free(*candidate)) {
    // A rebuild for a definition this config no longer declares.
    std::unique_ptr<Run> stale;
    {
      std::lock_guard<std::mutex> lock(slot.mu);
      stale = std::move(slot.candidate);
      slot.swapping = false;
    }
    StopRun(stale);
    Generation g = *candidate;
    RETURN_IF_ERROR(
        store_.Write([&](eventstore::Transaction& tx) { return ProjectionTables::Drop(tx, g); }));
    return true;
  }

  // A copy that stopped at an event goes on, parking it, once the config says so.
  if (def.on_error == eventstore::OnError::kDeadLetter) {
    for (const Generation* g : {live, candidate}) {
      if (g == nullptr || !g->failed() || !lease_free(*g)) continue;
      const std::string name = g->name;
      const int64_t generation = g->generation;
      RETURN_IF_ERROR(store_.Write([&](eventstore::Transaction& tx) {
        return ProjectionTables::ClearFailure(tx, name, generation, now);
      }));
      return true;
    }
  }

  std::lock_guard<std::mutex> lock(slot.mu);
  if (live != nullptr && !live->failed() && !slot.live && !slot.swapping && lease_free(*live)) {
    slot.live = StartRun(slot, *live);
  }
  if (candidate != nullptr && !candidate->failed() && !slot.candidate && lease_free(*candidate)) {
    slot.candidate = StartRun(slot, *candidate);
  }
  return false;
}

void ProjectionEngine::SayFailures(Slot& slot, const Generation* live,
                                   const Generation* candidate) {
  const core::Logger& log = slot.trouble->log();
  for (const Generation* g : {live, candidate}) {
    const bool is_live = g == live;
    std::string& said = is_live ? slot.said_live : slot.said_candidate;
    std::string now;
    if (g != nullptr && g->failed()) {
      now = "generation " + std::to_string(g->generation) + " stopped at position " +
            std::to_string(*g->failed_position) + ": " + g->last_error;
    }
    if (now == said) continue;
    if (!now.empty()) {
      log.Error(std::string(is_live ? "" : "the rebuild's ") + now +
                    "; fix the definition (the projection is rebuilt) or the event's document, "
                    "or set on_error: dead_letter",
                {{"generation", g->generation}, {"position", *g->failed_position}});
    } else {
      log.Info(std::string(is_live ? "the live copy" : "the rebuild") + " is no longer stopped");
    }
    said = std::move(now);
  }
}

void ProjectionEngine::Supervise(Slot& slot) {
  while (!stopping_.load()) {
    auto changed = Reconcile(slot);  // a store that is down now may be up on the next pass
    if (!changed.ok()) {
      slot.trouble->Report("cannot read or update its copies: " + changed.status().message() +
                               "; trying again every second",
                           {{"code", StatusCodeName(changed.status().code())}});
    } else {
      slot.trouble->Resolved("reads and updates its copies again");
    }
    if (changed.ok() && *changed) continue;
    std::unique_lock<std::mutex> lock(slot.mu);
    slot.wake.wait_for(lock, std::chrono::seconds(1), [&] {
      return stopping_.load() || (slot.live && slot.live->done.load()) ||
             (slot.candidate && slot.candidate->done.load());
    });
  }
  std::unique_ptr<Run> live, candidate;
  {
    std::lock_guard<std::mutex> lock(slot.mu);
    live = std::move(slot.live);
    candidate = std::move(slot.candidate);
  }
  StopRun(candidate);
  StopRun(live);
}

Result<ProjectionStatus> ProjectionEngine::Describe(const std::string& name) {
  Slot* slot = SlotFor(name);
  if (slot == nullptr) return NotDeclared(name);
  ASSIGN_OR_RETURN(std::vector<Generation> rows, ProjectionTables::Load(store_, name));
  ASSIGN_OR_RETURN(eventstore::SqlRows head_rows,
                   store_.Query("SELECT COALESCE(MAX(position), 0) FROM events", {}));
  const int64_t head = std::get<int64_t>(head_rows[0][0]);
  const Generation* live = FindRole(rows, "live");
  const Generation* candidate = FindRole(rows, "candidate");

  ProjectionStatus status;
  status.name = name;
  std::optional<int64_t> live_in_memory, candidate_in_memory;
  {
    std::lock_guard<std::mutex> lock(slot->mu);
    if (slot->live && live != nullptr && slot->live->builder->generation() == live->generation) {
      live_in_memory = slot->live->builder->position();
    }
    if (slot->candidate && candidate != nullptr &&
        slot->candidate->builder->generation() == candidate->generation) {
      candidate_in_memory = slot->candidate->builder->position();
    }
  }
  if (live != nullptr) {
    status.generation = live->generation;
    status.position = live_in_memory.value_or(live->position);
    status.definition_current = live->hash == slot->definition.hash;
    if (live->failed()) {
      status.state = "failed";
      status.failed_position = live->failed_position;
      status.last_error = live->last_error;
    }
  }
  if (candidate != nullptr) {
    ProjectionStatus::Rebuild rebuild;
    rebuild.generation = candidate->generation;
    rebuild.position = candidate_in_memory.value_or(candidate->position);
    rebuild.progress =
        head > 0 ? std::min(1.0, static_cast<double>(rebuild.position) / static_cast<double>(head))
                 : 1.0;
    rebuild.state = candidate->failed() ? "failed" : "running";
    rebuild.last_error = candidate->last_error;
    rebuild.failed_position = candidate->failed_position;
    if (!candidate->failed() && status.state != "failed") status.state = "rebuilding";
    status.rebuild = rebuild;
  }
  status.lag = std::max<int64_t>(0, head - status.position);
  return status;
}

Result<std::vector<ProjectionStatus>> ProjectionEngine::DescribeAll() {
  std::vector<ProjectionStatus> all;
  for (const ProjectionDefinition& def : definitions_) {
    ASSIGN_OR_RETURN(ProjectionStatus status, Describe(def.name));
    all.push_back(std::move(status));
  }
  return all;
}

Result<ProjectionStatus> ProjectionEngine::Rebuild(const std::string& name) {
  Slot* slot = SlotFor(name);
  if (slot == nullptr) return NotDeclared(name);
  Status created = CreateGeneration(slot->definition, "candidate", 0, std::nullopt);
  if (!created.ok()) {
    if (created.code() == StatusCode::kAborted) {
      return Status::Aborted("a rebuild of " + name + " is already running").WithReason("conflict");
    }
    return created;
  }
  slot->wake.notify_all();
  return Describe(name);
}

Status ProjectionEngine::WaitForPosition(const std::string& name, int64_t position,
                                         std::chrono::milliseconds wait) {
  Slot* slot = SlotFor(name);
  if (slot == nullptr) return NotDeclared(name);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (true) {
    int64_t reached = slot->live_position.load(std::memory_order_acquire);
    std::optional<Generation> stored;
    if (reached < position) {
      // Not built here (or not yet): the stored checkpoint says where the copy is.
      ASSIGN_OR_RETURN(std::vector<Generation> rows, ProjectionTables::Load(store_, name));
      if (const Generation* live = FindRole(rows, "live")) {
        stored = *live;
        reached = std::max(reached, live->position);
      }
    }
    if (reached >= position) return Status::Ok();
    if (stored && stored->failed()) {
      return Status::FailedPrecondition(
          "projection " + name + " failed at position " + std::to_string(*stored->failed_position) +
          " and cannot reach position " + std::to_string(position) + ": " + stored->last_error);
    }
    if (std::chrono::steady_clock::now() >= deadline || stopping_.load()) {
      return Status::DeadlineExceeded(
          "projection " + name + " is at position " + std::to_string(reached) + ", not yet at " +
          std::to_string(position) + " (waited " + std::to_string(wait.count()) + " ms)");
    }
    std::unique_lock<std::mutex> lock(slot->mu);
    slot->positions.wait_until(
        lock, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(50)));
  }
}

Result<ProjectionStatus> ProjectionEngine::Replay(
    const std::string& name, int64_t from, std::optional<int64_t> to,
    const std::function<void(int64_t position)>& progress, const std::function<bool()>& cancelled) {
  Slot* slot = SlotFor(name);
  if (slot == nullptr) return NotDeclared(name);
  ASSIGN_OR_RETURN(std::vector<Generation> rows, ProjectionTables::Load(store_, name));
  if (const Generation* candidate = FindRole(rows, "candidate")) {
    const int64_t now = options_.clock->NowMillis();
    if (!candidate->owner.empty() && candidate->owner != options_.owner &&
        candidate->lease_until >= now) {
      return Status::Aborted("a rebuild of " + name +
                             " is running in another process (generation " +
                             std::to_string(candidate->generation) + ", at position " +
                             std::to_string(candidate->position) + ")")
          .WithReason("conflict");
    }
    Generation stale = *candidate;
    RETURN_IF_ERROR(store_.Write(
        [&](eventstore::Transaction& tx) { return ProjectionTables::Drop(tx, stale); }));
  }
  RETURN_IF_ERROR(CreateGeneration(slot->definition, "candidate", from, to));
  ASSIGN_OR_RETURN(rows, ProjectionTables::Load(store_, name));
  const Generation* candidate = FindRole(rows, "candidate");
  if (candidate == nullptr) return Status::Internal("the new copy of " + name + " vanished");

  ProjectionBuilder::Options o = BuilderOptions(*slot);
  o.stop_after_swap = true;
  o.poll = std::chrono::milliseconds(50);  // nobody is waiting on new events here
  o.progressed = [&progress](int64_t position, bool) {
    if (progress) progress(position);
  };
  o.became_live = nullptr;
  // Swap once the copy has reached its end, or the live copy's stored position (another
  // process may be building the live copy right now).
  o.ready_to_swap = [this, name, to](int64_t position) {
    if (to) return true;
    auto current = ProjectionTables::Load(store_, name);
    if (!current.ok()) return false;
    const Generation* live = FindRole(*current, "live");
    return live == nullptr || position >= live->position;
  };
  ProjectionBuilder builder(store_, slot->definition, *candidate, std::move(o));
  auto outcome = builder.Run(cancelled);
  switch (outcome) {
    case ProjectionBuilder::Outcome::kFinished:
      return Describe(name);
    case ProjectionBuilder::Outcome::kFailed:
      return Status::Aborted("replay of " + name + " failed: " + builder.last_error())
          .WithReason("conflict");
    case ProjectionBuilder::Outcome::kLost:
      return Status::Aborted("replay of " + name +
                             " was interrupted by another process: " + builder.last_error())
          .WithReason("conflict");
    case ProjectionBuilder::Outcome::kStopped: {
      Generation g = *candidate;
      store_.Write([&](eventstore::Transaction& tx) { return ProjectionTables::Drop(tx, g); })
          .IgnoreError();
      return Status::Cancelled("replay of " + name + " cancelled; the live copy is unchanged");
    }
  }
  return Status::Internal("unknown replay outcome");
}

Result<std::vector<std::string>> ProjectionEngine::LiveIndexes(const std::string& name) {
  Slot* slot = SlotFor(name);
  if (slot == nullptr) return NotDeclared(name);
  ASSIGN_OR_RETURN(std::vector<Generation> rows, ProjectionTables::Load(store_, name));
  const Generation* live = FindRole(rows, "live");
  if (live == nullptr || live->hash == slot->definition.hash) return slot->definition.indexes;
  std::vector<std::string> indexes;
  if (auto it = live->definition.find("indexes"); it != live->definition.end() && it->is_array()) {
    for (const auto& f : *it) {
      if (f.is_string()) indexes.push_back(f.get<std::string>());
    }
  }
  return indexes;
}

Status ProjectionEngine::RetryDeadLetter(int64_t id, std::chrono::milliseconds wait) {
  ASSIGN_OR_RETURN(std::optional<eventstore::DeadLetter> letter,
                   eventstore::DeadLetters::Find(store_, id));
  if (!letter) return Status::NotFound("no dead letter " + std::to_string(id));
  if (letter->kind != "projection") {
    return Status::InvalidArgument("dead letter " + std::to_string(id) + " belongs to " +
                                   letter->kind + " " + letter->component +
                                   ", not to a projection");
  }
  Slot* slot = SlotFor(letter->component);
  if (slot == nullptr) return NotDeclared(letter->component);
  bool requested = false;
  RETURN_IF_ERROR(store_.Write([&](eventstore::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(requested, eventstore::DeadLetters::RequestRetry(tx, id));
    return Status::Ok();
  }));
  if (!requested) return Status::NotFound("no dead letter " + std::to_string(id));

  bool built_here = false;
  {
    std::lock_guard<std::mutex> lock(slot->mu);
    for (Run* run : {slot->live.get(), slot->candidate.get()}) {
      if (run != nullptr && !run->done.load() && run->builder->generation() == letter->generation) {
        run->builder->WantRetries();
        built_here = true;
      }
    }
  }
  // A process that runs builders leaves the retry to the builder of the copy (its own
  // supervisor starts one as soon as the copy's lease is free); a process that runs
  // none (the CLI) runs it here, under a lease of its own, unless another process
  // holds the copy.
  if (!built_here && !started_) {
    ASSIGN_OR_RETURN(std::vector<Generation> rows,
                     ProjectionTables::Load(store_, slot->definition.name));
    const Generation* copy = nullptr;
    for (const Generation& g : rows) {
      if (g.generation == letter->generation) copy = &g;
    }
    if (copy == nullptr) {
      return Status::NotFound("the copy (generation " + std::to_string(letter->generation) +
                              ") that parked dead letter " + std::to_string(id) + " is gone");
    }
    ProjectionDefinition def = slot->definition;
    if (copy->hash != def.hash) {
      ASSIGN_OR_RETURN(def, CompileProjection(copy->definition));
      def.on_error = slot->definition.on_error;
    }
    ProjectionBuilder::Options o = BuilderOptions(*slot);
    o.owner = core::Uuid::NewV4().ToString();
    o.became_live = nullptr;
    o.progressed = nullptr;
    ProjectionBuilder builder(store_, std::move(def), *copy, std::move(o));
    RETURN_IF_ERROR(builder.RunRetries().status());
  }

  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (true) {
    ASSIGN_OR_RETURN(std::optional<eventstore::DeadLetter> now,
                     eventstore::DeadLetters::Find(store_, id));
    if (!now) return Status::Ok();
    if (!now->retry_requested) {
      return Status::Aborted("dead letter " + std::to_string(id) + " of projection " +
                             letter->component + " still fails: " + now->error)
          .WithReason("conflict");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::DeadlineExceeded("the retry of dead letter " + std::to_string(id) +
                                      " is requested; the builder of projection " +
                                      letter->component + " runs it when it next can");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::vector<core::ComponentState> ProjectionEngine::Components() {
  std::vector<core::ComponentState> out;
  for (const ProjectionDefinition& def : definitions_) {
    core::ComponentState c;
    c.kind = "projection";
    c.name = def.name;
    auto status = Describe(def.name);
    if (!status.ok()) {
      c.health = core::ComponentHealth::kDegraded;
      c.detail = status.status().message();
    } else if (status->state == "failed") {
      c.health = core::ComponentHealth::kStopped;
      c.detail = "stopped at " + status->last_error +
                 "; fix the definition (the projection is rebuilt) or set on_error: dead_letter";
    } else if (status->rebuild && status->rebuild->state == "failed") {
      c.health = core::ComponentHealth::kDegraded;
      c.detail = "the rebuild (generation " + std::to_string(status->rebuild->generation) +
                 ") stopped at " + status->rebuild->last_error;
    } else if (status->state == "rebuilding") {
      c.detail = "rebuilding: generation " + std::to_string(status->rebuild->generation) +
                 " at position " + std::to_string(status->rebuild->position);
    }
    out.push_back(std::move(c));
  }
  return out;
}

void ProjectionEngine::CollectMetrics() {
  // Runs under the registry's lock: it only sets gauges registered in the constructor.
  static const char* kStates[] = {"running", "rebuilding", "failed"};
  for (auto& [name, slot] : slots_) {
    auto status = Describe(name);
    if (!status.ok() || slot->position_gauge == nullptr) continue;
    slot->position_gauge->Set(status->position);
    slot->lag_gauge->Set(status->lag);
    for (int i = 0; i < 3; ++i) slot->state_gauges[i]->Set(status->state == kStates[i] ? 1 : 0);
  }
}

}  // namespace rivulet::projections
