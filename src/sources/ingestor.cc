#include "sources/ingestor.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <unordered_set>

#include "core/byte_size.h"
#include "core/status_macros.h"
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
  return core::Json{{"ingested", ingested},
                    {"duplicates", duplicates},
                    {"unmatched", unmatched},
                    {"ignored", ignored},
                    {"position", last_position}};
}

Ingestor::Ingestor(eventstore::EventStore& store, const Mapper& mapper,
                   core::MetricsRegistry* metrics)
    : store_(store), mapper_(mapper), metrics_(metrics) {}

Status Ingestor::Migrate(eventstore::EventStore& store) {
  if (store.dialect() != eventstore::SqlDialect::kSqlite)
    return Status::Unavailable("sources need the sqlite store backend in this build");
  return store.ApplyMigrations("sources", Migrations());
}

Result<core::Json> Ingestor::Checkpoint(eventstore::EventStore& store, const std::string& source) {
  ASSIGN_OR_RETURN(
      eventstore::SqlRows rows,
      store.Query("SELECT checkpoint FROM source_checkpoints WHERE source = $1", {source}));
  if (rows.empty()) return core::Json();
  return core::ParseJson(std::get<std::string>(rows[0][0]));
}

Result<std::vector<Ingestor::Mapped>> Ingestor::Map(const std::string& source,
                                                    const std::vector<Change>& changes,
                                                    bool skip_seen_ids, size_t first_index) const {
  std::vector<Mapped> mapped(changes.size());
  core::Json errors = core::Json::array();
  for (size_t i = 0; i < changes.size(); ++i) {
    const Change& c = changes[i];
    Result<core::Json> change = NormalizeChangeEvent(c.event, c.extended_json);
    if (!change.ok()) {
      errors.push_back({{"index", first_index + i}, {"message", change.status().message()}});
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
      errors.push_back({{"index", first_index + i}, {"message", event.status().message()}});
      continue;
    }
    mapped[i].event = std::move(*event);
  }
  if (!errors.empty()) {
    return Status::InvalidArgument(std::to_string(errors.size()) + " of " +
                                   std::to_string(changes.size()) +
                                   " change events rejected, nothing written; first: " +
                                   errors[0]["message"].get<std::string>() + " (item " +
                                   std::to_string(errors[0]["index"].get<size_t>()) + ")")
        .WithReason("", core::Json{{"errors", errors}});
  }
  return mapped;
}

Status Ingestor::Append(eventstore::Transaction& tx, const std::string& source,
                        std::vector<Mapped>& mapped, bool skip_seen_ids, IngestStats& stats,
                        size_t first_index) {
  std::unordered_set<std::string> seen;
  if (skip_seen_ids) {
    core::Json ids = core::Json::array();
    for (const Mapped& m : mapped) ids.push_back(m.id_key);
    ASSIGN_OR_RETURN(eventstore::SqlRows rows,
                     tx.Query("SELECT id FROM source_change_ids WHERE source = $1 AND id IN "
                              "(SELECT value FROM json_each($2))",
                              {source, core::DumpJson(ids)}));
    for (const auto& row : rows) seen.insert(std::get<std::string>(row[0]));
  }
  core::Json fresh = core::Json::array();
  eventstore::AppendRequest append;
  std::vector<size_t> origins;  // the index in `mapped` of each event in `append`
  auto flush = [&]() -> Status {
    if (append.events.empty()) return Status::Ok();
    Result<eventstore::AppendResult> result = tx.Append(append);
    if (!result.ok()) {
      const Status& s = result.status();
      const core::Json& d = s.details();
      if (s.reason() != "too_large" || !d.is_object() || !d.contains("index")) return s;
      const std::string message =
          "the event it maps to is " + std::to_string(d["bytes"].get<uint64_t>()) +
          " bytes (type, data and metadata); the store accepts events up to " +
          core::FormatByteSize(d["limit"].get<uint64_t>()) + " (server.max_body)";
      const size_t index = first_index + origins.at(d["index"].get<size_t>());
      return Status::InvalidArgument("change event " + std::to_string(index) + ": " + message)
          .WithReason("", core::Json{{"errors", core::Json::array({core::Json{
                                                    {"index", index}, {"message", message}}})}});
    }
    stats.last_position = result->position;
    append.events.clear();
    origins.clear();
    return Status::Ok();
  };
  for (size_t i = 0; i < mapped.size(); ++i) {
    Mapped& m = mapped[i];
    if (skip_seen_ids) {
      if (!seen.insert(m.id_key).second) {
        ++stats.duplicates;
        continue;
      }
      fresh.push_back(m.id_key);
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
    origins.push_back(i);
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
  ASSIGN_OR_RETURN(std::vector<Mapped> mapped,
                   Map(batch.source, batch.changes, batch.skip_seen_ids, 0));
  IngestStats stats;
  Status written = store_.Write([&](eventstore::Transaction& tx) -> Status {
    stats = IngestStats();
    RETURN_IF_ERROR(Append(tx, batch.source, mapped, batch.skip_seen_ids, stats, 0));  // runs once
    return StoreCheckpoint(tx, batch.source, batch.checkpoint);
  });
  if (!written.ok()) return written;
  Count(batch.source, stats);
  return stats;
}

Result<IngestStats> Ingestor::IngestSpool(const std::string& source, ChangeSpool& spool,
                                          const core::Json& checkpoint, size_t chunk) {
  IngestStats stats;
  Status written = store_.Write([&](eventstore::Transaction& tx) -> Status {
    stats = IngestStats();
    RETURN_IF_ERROR(spool.Rewind());
    std::vector<Change> changes;
    for (size_t first = 0;; first += changes.size()) {
      RETURN_IF_ERROR(spool.Read(chunk, &changes));
      if (changes.empty()) break;
      ASSIGN_OR_RETURN(std::vector<Mapped> mapped, Map(source, changes, false, first));
      RETURN_IF_ERROR(Append(tx, source, mapped, false, stats, first));
    }
    return StoreCheckpoint(tx, source, checkpoint);
  });
  if (!written.ok()) return written;
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
    auto parsed = core::ParseJson(std::string_view(line, static_cast<size_t>(n)));
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
                                                      {"ignored", stats.ignored}};
  for (const auto& [outcome, n] : outcomes) {
    if (n == 0) continue;
    metrics_
        ->GetCounter("rivulet_source_changes_total", "Change events read from sources, by outcome",
                     {{"source", source}, {"outcome", outcome}})
        .Inc(n);
  }
}

}  // namespace rivulet::sources
