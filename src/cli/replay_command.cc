#include <unistd.h>

#include <fstream>

#include "cli/commands.h"
#include "cli/progress.h"
#include "core/status_macros.h"
#include "core/time_format.h"
#include "core/uuid.h"
#include "outbox/outbox_store.h"
#include "projections/projection_engine.h"

namespace rivulet::cli {

namespace {

bool AllDigits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

int ReplayProjections(const config::Config& config, const ReplayOptions& options,
                      int64_t to_position) {
  std::vector<std::string> names;
  if (options.all_projections) {
    for (const auto& p : config.projections) names.push_back(p.name);
    if (names.empty())
      return ReportFailure(Status::InvalidArgument("the config declares no projections"));
  } else {
    bool declared = false;
    for (const auto& p : config.projections) declared = declared || p.name == options.projection;
    if (!declared)
      return ReportFailure(Status::InvalidArgument("no projection named " + options.projection));
    names.push_back(options.projection);
  }
  InstallStopSignals();
  auto store = OpenStoreOrReport(config);
  if (!store) return kExitFailed;
  projections::ProjectionEngine engine(*store, config.projections, {});
  Status started = engine.Start(/*run_builders=*/false);
  if (!started.ok()) return ReportFailure(started);
  const int64_t head = store->HeadPosition();
  const int64_t end = to_position > 0 ? std::min(to_position, head) : head;
  for (const std::string& name : names) {
    Progress progress("replay " + name, end);
    auto done = engine.Replay(
        name, options.from > 0 ? options.from - 1 : 0,
        to_position > 0 ? std::optional<int64_t>(to_position) : std::nullopt,
        [&](int64_t position) { progress.Update(position); }, [] { return StopRequested(); });
    if (!done.ok()) return ReportFailure(done.status());
    progress.Finish(done->position);
    PrintJsonLine(done->ToJson());
  }
  return kExitOk;
}

Result<int64_t> ParseTime(const std::string& text, const char* option) {
  auto ms = core::ParseRfc3339(text);
  if (!ms.ok()) return ms.status().WithContext(option);
  return *ms;
}

// Writes the selected events as JSON lines to --to-file, counts them (--dry-run), or
// re-publishes them through the outbox to `destination` (new message ids, headers
// Rivulet-Replay: true and Rivulet-Original-Event-Id), one unit of work per batch.
int ReplayEvents(const config::Config& config, const ReplayOptions& options, int64_t to_position,
                 const std::string& destination) {
  eventstore::LogReadOptions read;
  read.limit = 1000;
  if (!options.match.empty()) {
    auto json = core::ParseJson(options.match);
    if (!json.ok()) return ReportFailure(json.status().WithContext("--match"));
    auto filter = core::Filter::Parse(*json);
    if (!filter.ok()) return ReportFailure(filter.status().WithContext("--match"));
    read.filter.match = std::move(filter).value();
  }
  std::optional<int64_t> since, until;
  if (!options.since.empty()) {
    auto t = ParseTime(options.since, "--since");
    if (!t.ok()) return ReportFailure(t.status());
    since = *t;
  }
  if (!options.until.empty()) {
    auto t = ParseTime(options.until, "--until");
    if (!t.ok()) return ReportFailure(t.status());
    until = *t;
  }
  if (options.from > 0) read.after.position = options.from - 1;
  if (to_position > 0) read.up_to = to_position;

  std::ofstream file;
  if (!options.to_file.empty()) {
    file.open(options.to_file, std::ios::binary | std::ios::trunc);
    if (!file)
      return ReportFailure(Status::InvalidArgument("--to-file: cannot write " + options.to_file));
  }
  InstallStopSignals();
  auto store = OpenStoreOrReport(config);
  if (!store) return kExitFailed;
  const int64_t end = read.up_to.value_or(store->HeadPosition());
  if (!destination.empty()) {
    Status migrated = outbox::OutboxStore::Migrate(*store);
    if (!migrated.ok()) return ReportFailure(migrated);
  }
  Progress progress(options.dry_run        ? "replay (dry run)"
                    : !destination.empty() ? "replay to " + destination
                                           : "replay to " + options.to_file,
                    end);
  int64_t written = 0;
  std::optional<int64_t> first, last;
  std::string line;
  bool done = false;
  while (!done && !StopRequested()) {
    auto batch = store->ReadLog(read);
    if (!batch.ok()) return ReportFailure(batch.status());
    std::vector<outbox::Message> messages;
    for (const auto& event : batch->events) {
      // recorded_at never decreases along the log, so --until ends the scan.
      if (until && event.recorded_at > *until) {
        done = true;
        break;
      }
      if (since && event.recorded_at < *since) continue;
      if (!first) first = event.position;
      last = event.position;
      ++written;
      if (!destination.empty()) {
        outbox::Message m;
        m.id = core::Uuid::NewV4().ToString();
        m.destination = destination;
        m.key = event.stream;
        m.headers = core::DumpJson(core::Json{{"Rivulet-Event-Type", event.type},
                                              {"Rivulet-Event-Id", event.id.ToString()},
                                              {"Rivulet-Original-Event-Id", event.id.ToString()},
                                              {"Rivulet-Replay", "true"}});
        line.clear();
        eventstore::AppendEventJson(line, event);
        m.payload = line;
        messages.push_back(std::move(m));
      } else if (!options.dry_run) {
        line.clear();
        eventstore::AppendEventJson(line, event);
        line.push_back('\n');
        file.write(line.data(), static_cast<std::streamsize>(line.size()));
      }
    }
    if (!messages.empty()) {
      Status queued = store->Write([&](eventstore::Transaction& tx) -> Status {
        for (outbox::Message& m : messages) {
          m.created_at = tx.now_millis();
          RETURN_IF_ERROR(outbox::OutboxStore::Insert(tx, m));
        }
        return Status::Ok();
      });
      if (!queued.ok()) return ReportFailure(queued);
    }
    progress.Update(batch->resume.position);
    if (batch->reached_head) done = true;
    read.after = batch->resume;
    if (read.up_to && read.after.position >= *read.up_to) done = true;
  }
  if (StopRequested()) return ReportFailure(Status::Cancelled("interrupted"));
  if (destination.empty() && !options.dry_run) {
    file.flush();
    if (!file) return ReportFailure(Status::Unavailable("writing " + options.to_file + " failed"));
    file.close();
    // The file's contents are durable before we say so.
    FILE* f = std::fopen(options.to_file.c_str(), "rb");
    if (f != nullptr) {
      fsync(fileno(f));
      std::fclose(f);
    }
  }
  progress.Finish(read.after.position);
  core::Json summary{{"events", written},
                     {"first_position", first ? core::Json(*first) : core::Json()},
                     {"last_position", last ? core::Json(*last) : core::Json()},
                     {"dry_run", options.dry_run}};
  if (!destination.empty()) {
    summary["destination"] = destination;
  } else if (!options.dry_run) {
    summary["file"] = options.to_file;
  }
  PrintJsonLine(summary);
  return kExitOk;
}

}  // namespace

int RunReplay(const GlobalOptions& global, const ReplayOptions& options) {
  auto config = LoadConfigOrReport(global);
  if (!config) return kExitUsage;
  const bool projections = !options.projection.empty() || options.all_projections;
  const bool events = !options.to_file.empty() || options.dry_run;
  int64_t to_position = 0;
  std::string destination;
  if (!options.to.empty()) {
    if (AllDigits(options.to) && options.to.size() <= 18) {
      to_position = std::stoll(options.to);
    } else if (projections || events) {
      return ReportFailure(
          Status::InvalidArgument("--to: expected a position, got \"" + options.to + "\""));
    } else {
      bool declared = false;
      for (const auto& d : config->outbox.destinations) declared = declared || d.name == options.to;
      if (!declared) {
        return ReportFailure(Status::InvalidArgument("--to: no outbox destination named " +
                                                     options.to + " (and not a position)"));
      }
      destination = options.to;
    }
  }
  if (!destination.empty()) {
    if (options.from > 0 && !options.since.empty())
      return ReportFailure(Status::InvalidArgument("give either --from or --since, not both"));
    return ReplayEvents(*config, options, 0, destination);
  }
  if (projections + events != 1 || (!options.projection.empty() && options.all_projections) ||
      (!options.to_file.empty() && options.dry_run)) {
    return ReportFailure(Status::InvalidArgument(
        "choose one of --projection NAME, --all-projections, --to-file PATH, --dry-run"));
  }
  if (options.from > 0 && !options.since.empty()) {
    return ReportFailure(Status::InvalidArgument("give either --from or --since, not both"));
  }
  if (to_position > 0 && !options.until.empty()) {
    return ReportFailure(Status::InvalidArgument("give either --to or --until, not both"));
  }
  if (projections) {
    if (!options.match.empty() || !options.since.empty() || !options.until.empty()) {
      return ReportFailure(
          Status::InvalidArgument("--match, --since and --until apply to --to-file and --dry-run"));
    }
    return ReplayProjections(*config, options, to_position);
  }
  return ReplayEvents(*config, options, to_position, "");
}

}  // namespace rivulet::cli
