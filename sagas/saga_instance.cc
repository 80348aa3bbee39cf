#include "sagas/saga_instance.h"

#include <map>
#include <mutex>
#include <optional>

#include "core/status_macros.h"
#include "core/time_format.h"
#include "core/utf8.h"

namespace rivulet::sagas {

using core::Json;

namespace {

// Instances of one definition share one compiled copy (10,000 parked instances would
// otherwise hold 10,000 copies of its templates and filters).
class DefinitionCache {
 public:
  std::shared_ptr<const SagaDefinition> Get(const std::string& hash) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_hash_.find(hash);
    return it == by_hash_.end() ? nullptr : it->second.lock();
  }
  std::shared_ptr<const SagaDefinition> Put(SagaDefinition definition) {
    auto shared = std::make_shared<const SagaDefinition>(std::move(definition));
    std::lock_guard<std::mutex> lock(mu_);
    if (by_hash_.size() > 1000) {
      for (auto it = by_hash_.begin(); it != by_hash_.end();) {
        it = it->second.expired() ? by_hash_.erase(it) : std::next(it);
      }
    }
    by_hash_[shared->hash] = shared;
    return shared;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::weak_ptr<const SagaDefinition>> by_hash_;  // GUARDED_BY(mu_)
};

DefinitionCache& Definitions() {
  static auto* cache = new DefinitionCache();
  return *cache;
}

std::string StringField(const Json& data, const char* key) {
  auto it = data.find(key);
  return it != data.end() && it->is_string() ? it->get<std::string>() : "";
}

int IntField(const Json& data, const char* key) {
  auto it = data.find(key);
  return it != data.end() && it->is_number_integer() ? it->get<int>() : 0;
}

// The log note for `type` moving an instance from `before` to `after`, if any.
std::optional<SagaInstance::LogNote> NoteFor(const std::string& type, const Json& data,
                                             Phase before, Phase after, const std::string& name,
                                             const std::string& id) {
  if (!data.is_object()) return std::nullopt;
  const std::string step = StringField(data, "step");
  const int attempt = IntField(data, "attempt");
  const std::string error = StringField(data, "error");
  using Level = core::LogLevel;
  if (type == "StepFailed" || type == "CompensationFailed") {
    const bool compensation = type == "CompensationFailed";
    const std::string what = (compensation ? "compensation of step " : "step ") + step;
    if (after == Phase::kWaitingToRetry || after == Phase::kWaitingToRetryCompensation) {
      return SagaInstance::LogNote{
          Level::kDebug,
          what + " attempt " + std::to_string(attempt) + " failed: " + error + "; retrying", step,
          attempt};
    }
    if (after == Phase::kFailed) {
      return SagaInstance::LogNote{
          Level::kError,
          what + " failed for good: " + error +
              "; the instance is failed and waits for a person: fix the participant, then "
              "POST /v1/sagas/" +
              name + "/" + id + "/retry (or rivulet sagas retry " + name + " " + id + ")",
          step, attempt};
    }
    if (after == Phase::kCompensating || after == Phase::kCompensated) {
      return SagaInstance::LogNote{
          Level::kWarn,
          what + " failed: " + error +
              (after == Phase::kCompensating ? "; compensating the steps before it"
                                             : "; no step before it to compensate"),
          step, attempt};
    }
    return std::nullopt;
  }
  if (type == "SagaTimedOut" && before != after) {
    return SagaInstance::LogNote{
        Level::kWarn,
        error + (after == Phase::kCompensating ? "; compensating the steps done"
                                               : "; no step to compensate"),
        "", 0};
  }
  if (type == "AbortRequested" && before != after) {
    return SagaInstance::LogNote{Level::kInfo,
                                 after == Phase::kCompensating
                                     ? "abort requested; compensating the steps done"
                                     : "abort requested",
                                 "", 0};
  }
  if (type == "RetryRequested") {
    return SagaInstance::LogNote{Level::kInfo, "retry requested; compensating again", "", 0};
  }
  const std::string emit_error = StringField(data, "emit_error");
  if (type == "SagaCompleted" || type == "SagaCompensated" || type == "SagaAborted") {
    const std::string done = type == "SagaCompleted"     ? "completed"
                             : type == "SagaCompensated" ? "compensated"
                                                         : "aborted";
    if (!emit_error.empty()) {
      return SagaInstance::LogNote{Level::kWarn,
                                   done + ", but its event was not emitted: " + emit_error, "", 0};
    }
    return SagaInstance::LogNote{type == "SagaCompleted" ? Level::kDebug : Level::kInfo, done, "",
                                 0};
  }
  return std::nullopt;
}

}  // namespace

Status SagaInstance::Record(const std::string& type, Json data) {
  const Phase before = machine->phase();
  RETURN_IF_ERROR(machine->Apply(type, data));
  if (auto note = NoteFor(type, data, before, machine->phase(), name, id))
    log_notes.push_back(std::move(*note));
  if (type == "StepSucceeded") {
    if (auto it = data.find("event"); it != data.end() && it->contains("position")) {
      last_consumed = (*it)["position"].get<int64_t>();
    }
  }
  if (type == "AwaitStarted") await_match = data.value("match", Json::object());
  eventstore::EventData e;
  e.type = type;
  e.data = std::move(data);
  e.metadata = Json{{"correlation_id", correlation_id}};
  pending.push_back(std::move(e));
  return Status::Ok();
}

Json SagaInstance::Context(const std::map<std::string, std::string>& services) const {
  Json steps = Json::object();
  for (size_t i = 0; i < definition->steps.size(); ++i) {
    const StepState& s = machine->steps()[i];
    if (!s.succeeded) continue;
    steps[definition->steps[i].name] =
        Json{{"response", s.response}, {"status", s.status ? Json(*s.status) : Json()}};
  }
  return Json{{"trigger", machine->trigger()},
              {"saga", {{"name", name}, {"id", id}, {"error", machine->error()}}},
              {"steps", std::move(steps)},
              {"services", services}};
}

InstanceRow SagaInstance::Row(int64_t now) const {
  InstanceRow row;
  row.name = name;
  row.id = id;
  row.status = StatusName(machine->phase());
  row.phase = PhaseName(machine->phase());
  int step = machine->current_step();
  if (step >= 0) row.step = definition->steps[static_cast<size_t>(step)].name;
  row.version = version + static_cast<int64_t>(pending.size());
  row.finished = machine->finished();
  row.definition_hash = definition->hash;
  row.started_at = started_at;
  row.updated_at = now;
  row.error = machine->error();
  return row;
}

eventstore::AppendRequest SagaInstance::PendingAppend() const {
  eventstore::AppendRequest request;
  request.stream = stream();
  request.expected = version < 0 ? eventstore::ExpectedVersion::NoStream()
                                 : eventstore::ExpectedVersion::Exact(version);
  request.events = pending;
  request.allow_reserved_stream = true;
  return request;
}

void SagaInstance::Stored(int64_t last_version) {
  version = last_version;
  pending.clear();
  emits.clear();
  for (const LogNote& note : log_notes) {
    if (!core::LogEnabled(note.level)) continue;
    const std::string component = "saga/" + name;
    if (note.step.empty()) {
      core::Log(note.level, component, note.message, {{"id", id}});
    } else {
      core::Log(note.level, component, note.message,
                {{"id", id}, {"step", note.step}, {"attempt", note.attempt}});
    }
  }
  log_notes.clear();
}

namespace {

Result<SagaInstance> Restore(const std::string& name, const std::string& id,
                             const std::vector<eventstore::RecordedEvent>& events) {
  if (events.empty() || events[0].type != "SagaStarted") {
    return Status::FailedPrecondition("saga stream " + SagaTables::StreamOf(name, id) +
                                      " does not begin with SagaStarted");
  }
  auto started = core::ParseJson(events[0].data, core::kStoredJson);
  if (!started.ok()) return started.status();
  const Json& first = *started;
  SagaInstance inst;
  inst.name = name;
  inst.id = id;
  inst.definition = Definitions().Get(first.value("hash", std::string()));
  if (inst.definition == nullptr ||
      inst.definition->definition != first.value("definition", Json())) {
    auto definition = CompileSaga(first.value("definition", Json()));
    if (!definition.ok()) {
      return definition.status().WithContext("frozen definition of " +
                                             SagaTables::StreamOf(name, id));
    }
    inst.definition = Definitions().Put(std::move(definition).value());
  }
  inst.machine = std::make_unique<SagaMachine>(inst.definition);
  inst.started_at = events[0].recorded_at;
  inst.from_position = first.value("from_position", int64_t{0});
  inst.correlation_id = first.value("correlation_id", name + "/" + id);
  for (const auto& e : events) {
    auto data = core::ParseJson(e.data, core::kStoredJson);
    if (!data.ok()) return data.status();
    Status applied = inst.machine->Apply(e.type, *data);
    if (!applied.ok()) {
      return applied.WithContext(SagaTables::StreamOf(name, id) + " v" + std::to_string(e.version));
    }
    if (e.type == "StepSucceeded") {
      if (auto it = data->find("event"); it != data->end() && it->contains("position"))
        inst.last_consumed = (*it)["position"].get<int64_t>();
    }
    if (e.type == "AwaitStarted") inst.await_match = data->value("match", Json::object());
    inst.version = e.version;
  }
  return inst;
}

Result<std::vector<eventstore::RecordedEvent>> ReadAll(eventstore::EventStore& store,
                                                       const std::string& stream) {
  std::vector<eventstore::RecordedEvent> events;
  eventstore::StreamReadOptions read;
  read.stream = stream;
  read.from = 0;
  read.limit = 1000;
  while (true) {
    ASSIGN_OR_RETURN(eventstore::StreamSlice slice, store.ReadStream(read));
    for (auto& e : slice.events) events.push_back(std::move(e));
    if (!slice.next) break;
    read.from = *slice.next;
  }
  return events;
}

}  // namespace

Result<SagaInstance> LoadInstance(eventstore::EventStore& store, const std::string& name,
                                  const std::string& id) {
  auto events = ReadAll(store, SagaTables::StreamOf(name, id));
  if (!events.ok()) {
    if (events.status().code() == StatusCode::kNotFound) {
      return Status::NotFound("no instance " + id + " of saga " + name);
    }
    return events.status();
  }
  return Restore(name, id, *events);
}

Status ValidateInstanceId(std::string_view id) {
  // The id as a message can show it on one line: the first 64 bytes, bytes other than
  // printable ASCII as \xNN.
  std::string shown;
  for (char c : id.substr(0, 64)) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7f && c != '\\' && c != '"') {
      shown += c;
    } else {
      static const char kHex[] = "0123456789abcdef";
      shown += std::string("\\x") + kHex[b >> 4] + kHex[b & 15];
    }
  }
  if (id.size() > 64) shown += "...";
  auto refuse = [&](const std::string& why) {
    return Status::InvalidArgument("instance id \"" + shown + "\" " + why +
                                   " (an id is 1-200 bytes of UTF-8 without '/' or control "
                                   "characters)");
  };
  if (id.empty()) return Status::InvalidArgument("the instance id is empty");
  if (id.size() > kMaxInstanceIdBytes)
    return refuse("is " + std::to_string(id.size()) + " bytes long");
  if (!core::IsValidUtf8(id)) return refuse("is not valid UTF-8");
  if (core::HasControlCharacter(id)) return refuse("contains a control character");
  if (id.find('/') != std::string_view::npos) return refuse("contains '/'");
  return Status::Ok();
}

Result<SagaInstance> NewInstance(const SagaDefinition& definition, const std::string& id,
                                 const Json& trigger, int64_t from_position, int64_t now) {
  RETURN_IF_ERROR(ValidateInstanceId(id));
  SagaInstance inst;
  inst.name = definition.name;
  inst.id = id;
  inst.definition = Definitions().Get(definition.hash);
  if (inst.definition == nullptr) inst.definition = Definitions().Put(definition);
  inst.machine = std::make_unique<SagaMachine>(inst.definition);
  inst.started_at = now;
  inst.from_position = from_position;
  inst.correlation_id = definition.name + "/" + id;
  if (auto meta = trigger.find("metadata"); meta != trigger.end() && meta->is_object()) {
    if (auto c = meta->find("correlation_id"); c != meta->end() && c->is_string())
      inst.correlation_id = c->get<std::string>();
  }
  RETURN_IF_ERROR(inst.Record("SagaStarted", Json{{"trigger", trigger},
                                                  {"definition", definition.definition},
                                                  {"hash", definition.hash},
                                                  {"deadline", now + definition.timeout.count()},
                                                  {"from_position", from_position},
                                                  {"correlation_id", inst.correlation_id}}));
  return inst;
}

Result<Json> DescribeInstance(eventstore::EventStore& store, const std::string& name,
                              const std::string& id) {
  auto events = ReadAll(store, SagaTables::StreamOf(name, id));
  if (!events.ok()) {
    if (events.status().code() == StatusCode::kNotFound)
      return Status::NotFound("no instance " + id + " of saga " + name);
    return events.status();
  }
  ASSIGN_OR_RETURN(SagaInstance inst, Restore(name, id, *events));
  Json steps = Json::array();
  for (size_t i = 0; i < inst.definition->steps.size(); ++i) {
    const StepState& s = inst.machine->steps()[i];
    Json step{{"name", inst.definition->steps[i].name},
              {"attempts", s.attempts},
              {"succeeded", s.succeeded},
              {"outcome_unknown", s.outcome_unknown},
              {"compensated", s.compensated},
              {"compensation_attempts", s.compensation_attempts}};
    if (s.succeeded) {
      step["status"] = s.status ? Json(*s.status) : Json();
      step["response"] = s.response;
    }
    if (!s.last_error.empty()) step["last_error"] = s.last_error;
    steps.push_back(std::move(step));
  }
  Json history = Json::array();
  for (const auto& e : *events) {
    if (e.type == "SagaStarted") {
      history.push_back({{"version", e.version},
                         {"type", e.type},
                         {"at", core::FormatRfc3339Millis(e.recorded_at)}});
      continue;
    }
    history.push_back({{"version", e.version},
                       {"type", e.type},
                       {"at", core::FormatRfc3339Millis(e.recorded_at)},
                       {"data", core::ParseJsonOr(e.data, Json(), core::kStoredJson)}});
  }
  const int step = inst.machine->current_step();
  Json out{
      {"name", name},
      {"id", id},
      {"status", StatusName(inst.machine->phase())},
      {"phase", PhaseName(inst.machine->phase())},
      {"step", step >= 0 ? Json(inst.definition->steps[static_cast<size_t>(step)].name) : Json()},
      {"error", inst.machine->error().empty() ? Json() : Json(inst.machine->error())},
      {"trigger", inst.machine->trigger()},
      {"definition_hash", inst.definition->hash},
      {"started_at", core::FormatRfc3339Millis(inst.started_at)},
      {"deadline", core::FormatRfc3339Millis(inst.machine->deadline())},
      {"steps", std::move(steps)},
      {"history", std::move(history)}};
  if (auto due = inst.machine->due()) out["retry_at"] = core::FormatRfc3339Millis(*due);
  return out;
}

}  // namespace rivulet::sagas
