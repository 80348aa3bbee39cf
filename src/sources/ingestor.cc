#include "sources/ingestor.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <unordered_set>

#include "core/byte_size.h"
#include "core/status_macros.h"
#include "eventstore/prepared_append.h"
#include "sources/change_event.h"

namespace rivulet::sources {

namespace {

const std::vector<eventstore::Migration>& Migrations() {
  static const auto* migrations = new std::vector<eventstore::Migration>{
      {1, "source checkpoints and ingested change ids",
       "CREATE TABLE source_checkpoints ("
       "  source TEXT PRIMARY KEY,"
       "  checkpoint TEXT NOT NULL,"
       "  updated_at INTEGER NOT NULL);"
       "CREATE TABLE source_change_ids ("
       "  source TEXT NOT NULL,"
       "  id TEXT NOT NULL,"
       "  PRIMARY KEY (source, id)) WITHOUT ROWID;"},
  };
  return *migrations;
}

}  // namespace

core::Json IngestStats::ToJson() const {
  core::Json j{{"ingested", ingested},
               {"duplicates", duplicates},
               {"unmatched", unmatched},
               {"ignored", ignored},
               {"position", last_position}};
  if (dead_lettered > 0) {
    j["dead_lettered"] = dead_lettered;
    j["dead_letters"] = dead_letters;
  }
  return j;
}

Ingestor::Ingestor(eventstore::EventStore& store, const Mapper& mapper,
                   core::MetricsRegistry* metrics)
    : store_(store), mapper_(mapper), metrics_(metrics) {}

Status Ingestor::Migrate(eventstore::EventStore& store) {
  if (store.dialect() != eventstore::SqlDialect::kSqlite)
    return Status::Unavailable("sources need the sqlite store backend in this build");
  RETURN_IF_ERROR(store.ApplyMigrations("sources", Migrations()));
  return eventstore::DeadLetters::Migrate(store);
}

Result<core::Json> Ingestor::Checkpoint(eventstore::EventStore& store, const std::string& source) {
  ASSIGN_OR_RETURN(
      eventstore::SqlRows rows,
      store.Query("SELECT checkpoint FROM source_checkpoints WHERE source = $1", {source}));
  if (rows.empty()) return core::Json();
  return core::ParseJson(std::get<std::string>(rows[0][0]), core::kStoredJson);
}

std::vector<Ingestor::Mapped> Ingestor::Map(const std::string& source,
                                            const std::vector<Change>& changes,
                                            bool skip_seen_ids) const {
  std::vector<Mapped> mapped(changes.size());
  for (size_t i = 0; i < changes.size(); ++i) {
    const Change& c = changes[i];
    if (!c.error.empty()) {
      mapped[i].error = c.error;
      continue;
    }
    Result<core::Json> change = NormalizeChangeEvent(c.event, c.extended_json);
    if (!change.ok()) {
      mapped[i].error = change.status().message();
      continue;
    }
    if (skip_seen_ids) mapped[i].id_key = ChangeIdKey(*change);
    if (!IsDataOperation((*change)["operationType"])) {
      mapped[i].ignored = true;
      continue;
    }
    Origin origin{source, c.position, c.extra};
    auto event = mapper_.Map(
        *change, origin,
        c.event_id.empty() ? DerivedEventId(source + "\n" + ChangeIdKey(*change)) : c.event_id);
    if (!event.ok()) {
      mapped[i].error = event.status().message();
      continue;
    }
    mapped[i].event = std::move(*event);
  }
  return mapped;
}

Status Ingestor::Refusal(const std::vector<Mapped>& mapped, size_t first_index) {
  core::Json errors = core::Json::array();
  size_t failed = 0;
  for (size_t i = 0; i < mapped.size(); ++i) {
    if (mapped[i].error.empty()) continue;
    if (++failed <= kMaxReportedErrors)
      errors.push_back({{"index", first_index + i}, {"message", mapped[i].error}});
  }
  if (failed == 0) return Status::Ok();
  core::Json details{{"errors", errors}};
  if (failed > kMaxReportedErrors) details["errors_total"] = failed;
  return Status::InvalidArgument(std::to_string(failed) + " of " + std::to_string(mapped.size()) +
                                 " change events rejected, nothing written; first: " +
                                 errors[0]["message"].get<std::string>() + " (item " +
                                 std::to_string(errors[0]["index"].get<size_t>()) + ")")
      .WithReason("", std::move(details));
}

namespace {

// The store refused an event of `append` as too large (details: index, bytes, limit):
// the same refusal, naming the change it came from (`appended` maps an event of the
// append to its change's index) the way a failed mapping does.
Status NameTooLarge(const Status& status, const std::vector<size_t>& appended, size_t first_index) {
  const core::Json& d = status.details();
  if (status.reason() != "too_large" || !d.is_object() || !d.contains("index")) return status;
  const std::string message =
      "the event it maps to is " + std::to_string(d["bytes"].get<uint64_t>()) +
      " bytes (type, data and metadata); the store accepts events up to " +
      core::FormatByteSize(d["limit"].get<uint64_t>()) + " (server.max_body)";
  const size_t index = first_index + appended.at(d["index"].get<size_t>());
  return Status::InvalidArgument("change event " + std::to_string(index) + ": " + message)
      .WithReason("", core::Json{{"errors", core::Json::array({core::Json{
                                                {"index", index}, {"message", message}}})}});
}

// What the store refuses an append for that is its events' own doing: an event id used
// elsewhere (Aborted, reason "conflict"), an event over the store's size limit
// ("too_large"). Anything else (the store unavailable, a lost transaction, corruption,
// an SQL error) is not the change's fault: the whole unit fails and is tried again, and
// nothing is parked for it.
bool RefusedForItsEvents(const Status& status) {
  if (status.code() == StatusCode::kAborted) return status.reason() != "wrong_expected_version";
  return status.reason() == "too_large";
}

// A retried dead letter that fails again for what it is (its mapping, its event): the
// failure is recorded on the letter. Other errors fail the retry and leave it as it was.
bool ChangeAtFault(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kAborted:
    case StatusCode::kResourceExhausted:
    case StatusCode::kAlreadyExists:
      return true;
    default:
      return false;
  }
}

}  // namespace

Status Ingestor::Park(eventstore::Transaction& tx, const std::string& source, const Change& change,
                      const std::string& error, size_t index, IngestStats& stats) {
  eventstore::DeadLetter letter;
  letter.kind = "source";
  letter.component = source;
  letter.position = change.position;
  letter.payload = change.event;
  letter.context = core::Json{{"extra", change.extra},
                              {"event_id", change.event_id},
                              {"extended_json", change.extended_json}};
  if (!change.error.empty()) letter.context["unparsed"] = true;
  if (!change.label.empty()) letter.context["label"] = change.label;
  letter.error = change.label.empty() ? error : change.label + ": " + error;
  ASSIGN_OR_RETURN(int64_t id, eventstore::DeadLetters::Add(tx, letter));
  ++stats.dead_lettered;
  if (stats.dead_letters.size() < kMaxReportedErrors)
    stats.dead_letters.push_back({{"index", index}, {"dead_letter", id}, {"message", error}});
  return Status::Ok();
}

Status Ingestor::Append(eventstore::Transaction& tx, const std::string& source,
                        const std::vector<Change>& changes, std::vector<Mapped>& mapped,
                        bool skip_seen_ids, eventstore::OnError on_error, size_t first_index,
                        IngestStats& stats) {
  const bool park = on_error == eventstore::OnError::kDeadLetter;
  std::unordered_set<std::string> seen;
  if (skip_seen_ids) {
    core::Json ids = core::Json::array();
    for (const Mapped& m : mapped) {
      if (!m.id_key.empty()) ids.push_back(m.id_key);
    }
    ASSIGN_OR_RETURN(eventstore::SqlRows rows,
                     tx.Query("SELECT id FROM source_change_ids WHERE source = $1 AND id IN "
                              "(SELECT value FROM json_each($2))",
                              {source, core::DumpJson(ids)}));
    for (const auto& row : rows) seen.insert(std::get<std::string>(row[0]));
  }
  core::Json fresh = core::Json::array();
  eventstore::AppendRequest append;
  std::vector<size_t> appended;  // the change index of each event in `append`
  auto flush = [&]() -> Status {
    if (append.events.empty()) return Status::Ok();
    Status status = Status::Ok();
    if (!park) {
      Result<eventstore::AppendResult> result = tx.Append(append);
      if (!result.ok()) return NameTooLarge(result.status(), appended, first_index);
      stats.last_position = result->position;
    } else {
      // Validation refuses an event for what it is; the store may refuse one for its id
      // or its size. Either way the group is tried again an event at a time below.
      Result<eventstore::PreparedAppend> prepared =
          eventstore::PrepareAppend(append, tx.now_millis());
      if (prepared.ok()) {
        status = tx.Attempt([&](eventstore::Transaction& t) -> Status {
          ASSIGN_OR_RETURN(eventstore::AppendResult result, t.Append(*prepared));
          stats.last_position = result.position;
          return Status::Ok();
        });
        if (!status.ok() && !RefusedForItsEvents(status)) return status;
      } else {
        status = prepared.status();
      }
    }
    if (!status.ok()) {
      stats.ingested -= static_cast<int64_t>(appended.size());
      for (size_t k = 0; k < append.events.size(); ++k) {
        const size_t i = appended[k];
        eventstore::AppendRequest one;
        one.stream = append.stream;
        one.events.push_back(std::move(append.events[k]));
        Result<eventstore::PreparedAppend> prepared =
            eventstore::PrepareAppend(one, tx.now_millis());
        if (!prepared.ok()) {
          RETURN_IF_ERROR(
              Park(tx, source, changes[i], prepared.status().message(), first_index + i, stats));
          continue;
        }
        Status single = tx.Attempt([&](eventstore::Transaction& t) -> Status {
          ASSIGN_OR_RETURN(eventstore::AppendResult result, t.Append(*prepared));
          stats.last_position = result.position;
          return Status::Ok();
        });
        if (single.ok()) {
          ++stats.ingested;
        } else if (RefusedForItsEvents(single)) {
          RETURN_IF_ERROR(Park(tx, source, changes[i], single.message(), first_index + i, stats));
        } else {
          return single;
        }
      }
    }
    append.events.clear();
    appended.clear();
    return Status::Ok();
  };
  for (size_t i = 0; i < mapped.size(); ++i) {
    Mapped& m = mapped[i];
    if (skip_seen_ids && !m.id_key.empty()) {
      if (!seen.insert(m.id_key).second) {
        ++stats.duplicates;
        continue;
      }
      fresh.push_back(m.id_key);
    }
    if (!m.error.empty()) {
      // Map left it here only when it may be parked.
      RETURN_IF_ERROR(Park(tx, source, changes[i], m.error, first_index + i, stats));
      continue;
    }
    if (m.ignored) {
      ++stats.ignored;
      continue;
    }
    if (!m.event) {
      ++stats.unmatched;
      continue;
    }
    if (append.stream != m.event->stream) {
      RETURN_IF_ERROR(flush());
      append.stream = m.event->stream;
    }
    append.events.push_back(std::move(m.event->event));
    appended.push_back(i);
    ++stats.ingested;
  }
  RETURN_IF_ERROR(flush());
  if (!fresh.empty()) {
    RETURN_IF_ERROR(
        tx.Execute("INSERT INTO source_change_ids (source, id) SELECT $1, value FROM json_each($2)",
                   {source, core::DumpJson(fresh)}));
  }
  return Status::Ok();
}

Status Ingestor::StoreCheckpoint(eventstore::Transaction& tx, const std::string& source,
                                 const core::Json& checkpoint) {
  if (checkpoint.is_null()) return Status::Ok();
  return tx.Execute(
      "INSERT INTO source_checkpoints (source, checkpoint, updated_at) VALUES ($1, $2, $3) "
      "ON CONFLICT (source) DO UPDATE SET checkpoint = excluded.checkpoint, "
      "updated_at = excluded.updated_at",
      {source, core::DumpJson(checkpoint), tx.now_millis()});
}

Result<IngestStats> Ingestor::Ingest(const IngestBatch& batch) {
  // Check and map everything before writing anything.
  std::vector<Mapped> mapped = Map(batch.source, batch.changes, batch.skip_seen_ids);
  if (batch.on_error == eventstore::OnError::kStop) RETURN_IF_ERROR(Refusal(mapped, 0));
  IngestStats stats;
  Status written = store_.Write([&](eventstore::Transaction& tx) -> Status {
    stats = IngestStats();
    RETURN_IF_ERROR(Append(tx, batch.source, batch.changes, mapped, batch.skip_seen_ids,
                           batch.on_error, 0, stats));  // runs once
    return StoreCheckpoint(tx, batch.source, batch.checkpoint);
  });
  if (!written.ok()) return written;
  Count(batch.source, stats);
  return stats;
}

Result<IngestStats> Ingestor::IngestSpool(const std::string& source, ChangeSpool& spool,
                                          const core::Json& checkpoint, size_t chunk,
                                          eventstore::OnError on_error) {
  IngestStats stats;
  Status written = store_.Write([&](eventstore::Transaction& tx) -> Status {
    stats = IngestStats();
    RETURN_IF_ERROR(spool.Rewind());
    std::vector<Change> changes;
    for (size_t first = 0;; first += changes.size()) {
      RETURN_IF_ERROR(spool.Read(chunk, &changes));
      if (changes.empty()) break;
      std::vector<Mapped> mapped = Map(source, changes, false);
      if (on_error == eventstore::OnError::kStop) RETURN_IF_ERROR(Refusal(mapped, first));
      RETURN_IF_ERROR(Append(tx, source, changes, mapped, false, on_error, first, stats));
    }
    return StoreCheckpoint(tx, source, checkpoint);
  });
  if (!written.ok()) return written;
  Count(source, stats);
  return stats;
}

Result<IngestStats> Ingestor::RetryDeadLetter(int64_t id) {
  IngestStats stats;
  std::string source;
  std::string failed_again;
  Status written = store_.Write([&](eventstore::Transaction& tx) -> Status {
    stats = IngestStats();
    failed_again.clear();
    ASSIGN_OR_RETURN(std::optional<eventstore::DeadLetter> letter,
                     eventstore::DeadLetters::Get(tx, id));
    if (!letter) return Status::NotFound("no dead letter " + std::to_string(id));
    if (letter->kind != "source") {
      return Status::InvalidArgument("dead letter " + std::to_string(id) + " belongs to " +
                                     letter->kind + " " + letter->component + ", not to a source");
    }
    source = letter->component;
    Change change;
    change.position = letter->position;
    change.extra = letter->context.value("extra", core::Json::object());
    change.event_id = letter->context.value("event_id", "");
    change.extended_json = letter->context.value("extended_json", true);
    change.label = letter->context.value("label", "");
    if (letter->context.value("unparsed", false) && letter->payload.is_string()) {
      auto parsed = core::ParseJson(letter->payload.get<std::string>());
      if (parsed.ok()) {
        change.event = std::move(parsed).value();
      } else {
        change.error = "not a JSON object: " + parsed.status().message();
      }
    } else {
      change.event = letter->payload;
    }
    std::vector<Change> changes;
    changes.push_back(std::move(change));
    std::vector<Mapped> mapped = Map(source, changes, false);
    // Parked again, the change would get a second letter: record the failure on this one.
    Status applied = tx.Attempt([&](eventstore::Transaction& t) -> Status {
      if (!mapped[0].error.empty()) return Status::InvalidArgument(mapped[0].error);
      RETURN_IF_ERROR(
          Append(t, source, changes, mapped, false, eventstore::OnError::kStop, 0, stats));
      ASSIGN_OR_RETURN(bool removed, eventstore::DeadLetters::Remove(t, id));
      if (!removed) return Status::NotFound("no dead letter " + std::to_string(id));
      return Status::Ok();
    });
    if (applied.ok()) return Status::Ok();
    if (!ChangeAtFault(applied)) return applied;
    failed_again =
        changes[0].label.empty() ? applied.message() : changes[0].label + ": " + applied.message();
    stats = IngestStats();
    return eventstore::DeadLetters::RecordFailure(tx, id, failed_again);
  });
  if (!written.ok()) return written;
  if (!failed_again.empty()) {
    return Status::Aborted("dead letter " + std::to_string(id) + " of source " + source +
                           " still fails: " + failed_again)
        .WithReason("conflict");
  }
  Count(source, stats);
  return stats;
}

ChangeSpool::ChangeSpool() {
  std::string path = (std::filesystem::temp_directory_path() / "rivulet-spool-XXXXXX").string();
  const int fd = ::mkstemp(path.data());
  if (fd < 0) {
    error_ = "cannot make a spool file in " + std::filesystem::temp_directory_path().string() +
             ": " + std::strerror(errno);
    return;
  }
  ::unlink(path.c_str());  // gone when closed, also after a crash
  file_ = ::fdopen(fd, "w+");
  if (file_ == nullptr) ::close(fd);
}

ChangeSpool::~ChangeSpool() {
  if (file_ != nullptr) std::fclose(file_);
}

Status ChangeSpool::Add(Change change) {
  if (file_ == nullptr) return Status::Unavailable(error_);
  std::string line = core::DumpJson(core::Json{{"e", std::move(change.event)},
                                               {"p", std::move(change.position)},
                                               {"x", std::move(change.extra)},
                                               {"i", std::move(change.event_id)},
                                               {"j", change.extended_json}});
  line += '\n';
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size())
    return Status::Unavailable(std::string("writing the spool file: ") + std::strerror(errno));
  ++size_;
  return Status::Ok();
}

Status ChangeSpool::Rewind() {
  if (file_ == nullptr) return Status::Unavailable(error_);
  if (std::fflush(file_) != 0 || std::fseek(file_, 0, SEEK_SET) != 0)
    return Status::Unavailable(std::string("rewinding the spool file: ") + std::strerror(errno));
  return Status::Ok();
}

Status ChangeSpool::Read(size_t max, std::vector<Change>* out) {
  out->clear();
  if (file_ == nullptr) return Status::Unavailable(error_);
  char* line = nullptr;
  size_t capacity = 0;
  while (out->size() < max) {
    const ssize_t n = ::getline(&line, &capacity, file_);
    if (n <= 0) break;
    auto parsed =
        core::ParseJson(std::string_view(line, static_cast<size_t>(n)), core::kStoredJson);
    if (!parsed.ok()) {
      std::free(line);
      return Status::Internal("the spool file is damaged: " + parsed.status().message());
    }
    Change change;
    change.event = std::move((*parsed)["e"]);
    change.position = std::move((*parsed)["p"]);
    change.extra = std::move((*parsed)["x"]);
    change.event_id = (*parsed)["i"].get<std::string>();
    change.extended_json = (*parsed)["j"].get<bool>();
    out->push_back(std::move(change));
  }
  std::free(line);
  if (std::ferror(file_))
    return Status::Unavailable(std::string("reading the spool file: ") + std::strerror(errno));
  return Status::Ok();
}

void Ingestor::Count(const std::string& source, const IngestStats& stats) {
  if (metrics_ == nullptr) return;
  const std::pair<const char*, int64_t> outcomes[] = {{"ingested", stats.ingested},
                                                      {"duplicate", stats.duplicates},
                                                      {"unmatched", stats.unmatched},
                                                      {"ignored", stats.ignored},
                                                      {"dead_letter", stats.dead_lettered}};
  for (const auto& [outcome, n] : outcomes) {
    if (n == 0) continue;
    metrics_
        ->GetCounter("rivulet_source_changes_total", "Change events read from sources, by outcome",
                     {{"source", source}, {"outcome", outcome}})
        .Inc(n);
  }
}

}  // namespace rivulet::sources
