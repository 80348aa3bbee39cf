#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "cli/commands.h"
#include "cli/progress.h"
#include "core/status_macros.h"
#include "core/time_format.h"
#include "eventstore/stream_name.h"

namespace rivulet::cli {

namespace {

// One line of `rivulet export` output, checked field by field.
Result<eventstore::RecordedEvent> ParseLine(const std::string& line) {
  ASSIGN_OR_RETURN(core::Json j, core::ParseJson(line));
  if (!j.is_object()) return Status::InvalidArgument("expected an event object");
  static const std::set<std::string> kFields = {"position", "stream", "version",  "id",
                                                "type",     "data",   "metadata", "recorded_at"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!kFields.count(it.key()))
      return Status::InvalidArgument("unknown field \"" + it.key() + "\"");
  }
  for (const std::string& f : kFields) {
    if (!j.contains(f)) return Status::InvalidArgument(f + ": required");
  }
  eventstore::RecordedEvent e;
  // Positions stay exact in JSON (kMaxPosition, 2^53 - 1); a larger one would also
  // make SQLite pick random positions for the appends after it.
  if (!j["position"].is_number_integer() || j["position"].get<int64_t>() < 1 ||
      (j["position"].is_number_unsigned() &&
       j["position"].get<uint64_t>() > static_cast<uint64_t>(eventstore::kMaxPosition))) {
    return Status::InvalidArgument("position: expected an integer from 1 to " +
                                   std::to_string(eventstore::kMaxPosition) +
                                   " (2^53 - 1, the largest integer JSON carries exactly)");
  }
  e.position = j["position"].get<int64_t>();
  if (!j["stream"].is_string()) return Status::InvalidArgument("stream: expected a string");
  e.stream = j["stream"].get<std::string>();
  RETURN_IF_ERROR(eventstore::ValidateStreamName(e.stream, true).WithContext("stream"));
  if (!j["version"].is_number_integer() || j["version"].get<int64_t>() < 0) {
    return Status::InvalidArgument("version: expected an integer >= 0");
  }
  e.version = j["version"].get<int64_t>();
  if (!j["id"].is_string()) return Status::InvalidArgument("id: expected a UUID string");
  ASSIGN_OR_RETURN(e.id, core::Uuid::Parse(j["id"].get<std::string>()));
  if (!j["type"].is_string()) return Status::InvalidArgument("type: expected a string");
  e.type = j["type"].get<std::string>();
  RETURN_IF_ERROR(eventstore::ValidateEventType(e.type).WithContext("type"));
  if (!j["data"].is_object()) return Status::InvalidArgument("data: expected an object");
  if (!j["metadata"].is_object()) return Status::InvalidArgument("metadata: expected an object");
  e.data = core::DumpJson(j["data"]);
  e.metadata = core::DumpJson(j["metadata"]);
  if (!j["recorded_at"].is_string())
    return Status::InvalidArgument("recorded_at: expected a timestamp");
  auto recorded = core::ParseRfc3339(j["recorded_at"].get<std::string>());
  if (!recorded.ok()) return recorded.status().WithContext("recorded_at");
  e.recorded_at = *recorded;
  return e;
}

// Reads and checks every line before anything is written: positions increase and stay
// below 2^53, each stream's versions run on from 0 without gaps, ids are unique, and
// no event is larger than `max_event_bytes` (server.max_body).
Result<std::vector<eventstore::RecordedEvent>> ReadAll(std::istream& in, const std::string& name,
                                                       size_t max_event_bytes) {
  std::vector<eventstore::RecordedEvent> events;
  std::map<std::string, int64_t> next_version;
  std::set<std::string> ids;
  std::string line;
  int64_t number = 0;
  int64_t last_position = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    auto where = [&](const Status& s) {
      return s.WithContext(name + ":" + std::to_string(number));
    };
    auto event = ParseLine(line);
    if (!event.ok()) return where(event.status());
    Status size = eventstore::CheckEventSize(
        "position " + std::to_string(event->position),
        eventstore::StoredEventBytes(event->type, event->data, event->metadata), max_event_bytes);
    if (!size.ok()) return where(Status::InvalidArgument(size.message()));
    if (event->position <= last_position) {
      return where(Status::InvalidArgument("position " + std::to_string(event->position) +
                                           " does not follow " + std::to_string(last_position)));
    }
    int64_t& expected = next_version[event->stream];
    if (event->version != expected) {
      return where(Status::InvalidArgument("stream " + event->stream + ": version " +
                                           std::to_string(event->version) + ", expected " +
                                           std::to_string(expected)));
    }
    if (!ids.insert(event->id.ToString()).second) {
      return where(Status::InvalidArgument("id " + event->id.ToString() + " appears twice"));
    }
    ++expected;
    last_position = event->position;
    events.push_back(std::move(event).value());
  }
  return events;
}

}  // namespace

int RunImport(const GlobalOptions& global, const ImportOptions& options) {
  auto config = LoadConfigOrReport(global);
  if (!config) return kExitUsage;
  std::vector<eventstore::RecordedEvent> events;
  {
    Result<std::vector<eventstore::RecordedEvent>> read = Status::Internal("unread");
    if (options.file == "-") {
      read = ReadAll(std::cin, "stdin", config->server.max_body);
    } else {
      std::ifstream in(options.file, std::ios::binary);
      if (!in)
        return ReportFailure(Status::InvalidArgument(options.file + ": cannot read the file"));
      read = ReadAll(in, options.file, config->server.max_body);
    }
    if (!read.ok()) return ReportFailure(read.status());
    events = std::move(read).value();
  }
  InstallStopSignals();
  auto store = OpenStoreOrReport(*config);
  if (!store) return kExitFailed;

  // Into an empty store; or, after an interrupted import, on from where it stopped if
  // what is stored is exactly the start of this file.
  size_t start = 0;
  eventstore::LogReadOptions last_read;
  last_read.limit = 1;
  auto head_rows = store->Query("SELECT position FROM events ORDER BY position DESC LIMIT 1", {});
  if (!head_rows.ok()) return ReportFailure(head_rows.status());
  if (!head_rows->empty()) {
    int64_t head = std::get<int64_t>((*head_rows)[0][0]);
    last_read.after.position = head - 1;
    auto last = store->ReadLog(last_read);
    if (!last.ok()) return ReportFailure(last.status());
    while (start < events.size() && events[start].position < head) ++start;
    bool prefix = start < events.size() && events[start].position == head &&
                  !last->events.empty() && last->events[0].id == events[start].id;
    if (!prefix) {
      return ReportFailure(Status::FailedPrecondition(
          "the store is not empty (last position " + std::to_string(head) +
          ") and does not hold the start of this file; import into an empty store"));
    }
    ++start;
    PrintMessage("resuming an interrupted import after position " + std::to_string(head));
  }

  Progress progress("import", static_cast<int64_t>(events.size()));
  constexpr size_t kBatch = 2000;
  for (size_t i = start; i < events.size() && !StopRequested(); i += kBatch) {
    size_t end = std::min(events.size(), i + kBatch);
    Status written = store->Write([&](eventstore::Transaction& tx) -> Status {
      for (size_t k = i; k < end; ++k)
        RETURN_IF_ERROR(
            tx.Import(events[k]).WithContext("position " + std::to_string(events[k].position)));
      return Status::Ok();
    });
    if (!written.ok()) return ReportFailure(written);
    progress.Update(static_cast<int64_t>(end));
  }
  if (StopRequested())
    return ReportFailure(Status::Cancelled("interrupted; run the same import again to resume"));
  progress.Finish(static_cast<int64_t>(events.size()));
  PrintJsonLine(core::Json{
      {"imported", events.size() - start},
      {"last_position", events.empty() ? core::Json() : core::Json(events.back().position)}});
  return kExitOk;
}

}  // namespace rivulet::cli
