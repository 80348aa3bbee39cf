#include "sources/ingestor.h"

#include <unordered_set>

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

Result<IngestStats> Ingestor::Ingest(const IngestBatch& batch) {
  IngestStats stats;
  // Check and map everything before writing anything.
  struct Mapped {
    std::string id_key;  // "" for postgres changes
    std::optional<MappedEvent> event;
    bool ignored = false;
  };
  std::vector<Mapped> mapped(batch.changes.size());
  core::Json errors = core::Json::array();
  for (size_t i = 0; i < batch.changes.size(); ++i) {
    const Change& c = batch.changes[i];
    Result<core::Json> change = NormalizeChangeEvent(c.event);
    if (!change.ok()) {
      errors.push_back({{"index", i}, {"message", change.status().message()}});
      continue;
    }
    if (batch.skip_seen_ids) mapped[i].id_key = ChangeIdKey(*change);
    if (!IsDataOperation((*change)["operationType"])) {
      mapped[i].ignored = true;
      continue;
    }
    Origin origin{batch.source, c.position, c.extra};
    auto event =
        mapper_.Map(*change, origin,
                    c.event_id.empty() ? DerivedEventId(batch.source + "\n" + ChangeIdKey(*change))
                                       : c.event_id);
    if (!event.ok()) {
      errors.push_back({{"index", i}, {"message", event.status().message()}});
      continue;
    }
    mapped[i].event = std::move(*event);
  }
  if (!errors.empty()) {
    return Status::InvalidArgument(std::to_string(errors.size()) + " of " +
                                   std::to_string(batch.changes.size()) +
                                   " change events rejected, nothing written; first: " +
                                   errors[0]["message"].get<std::string>() + " (item " +
                                   std::to_string(errors[0]["index"].get<size_t>()) + ")")
        .WithReason("", core::Json{{"errors", errors}});
  }

  Status written = store_.Write([&](eventstore::Transaction& tx) -> Status {
    stats = IngestStats();
    std::unordered_set<std::string> seen;
    if (batch.skip_seen_ids) {
      core::Json ids = core::Json::array();
      for (const Mapped& m : mapped) ids.push_back(m.id_key);
      ASSIGN_OR_RETURN(eventstore::SqlRows rows,
                       tx.Query("SELECT id FROM source_change_ids WHERE source = $1 AND id IN "
                                "(SELECT value FROM json_each($2))",
                                {batch.source, core::DumpJson(ids)}));
      for (const auto& row : rows) seen.insert(std::get<std::string>(row[0]));
    }
    core::Json fresh = core::Json::array();
    // Consecutive events of one stream go in one append.
    eventstore::AppendRequest append;
    auto flush = [&]() -> Status {
      if (append.events.empty()) return Status::Ok();
      ASSIGN_OR_RETURN(eventstore::AppendResult result, tx.Append(append));
      stats.last_position = result.position;
      append.events.clear();
      return Status::Ok();
    };
    for (Mapped& m : mapped) {
      if (batch.skip_seen_ids) {
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
      append.events.push_back(m.event->event);
      ++stats.ingested;
    }
    RETURN_IF_ERROR(flush());
    if (!fresh.empty()) {
      RETURN_IF_ERROR(tx.Execute(
          "INSERT INTO source_change_ids (source, id) SELECT $1, value FROM json_each($2)",
          {batch.source, core::DumpJson(fresh)}));
    }
    if (!batch.checkpoint.is_null()) {
      RETURN_IF_ERROR(tx.Execute(
          "INSERT INTO source_checkpoints (source, checkpoint, updated_at) VALUES ($1, $2, $3) "
          "ON CONFLICT (source) DO UPDATE SET checkpoint = excluded.checkpoint, "
          "updated_at = excluded.updated_at",
          {batch.source, core::DumpJson(batch.checkpoint), tx.now_millis()}));
    }
    return Status::Ok();
  });
  if (!written.ok()) return written;
  Count(batch.source, stats);
  return stats;
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
