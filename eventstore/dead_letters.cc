#include "eventstore/dead_letters.h"

#include "core/status_macros.h"
#include "core/time_format.h"

namespace rivulet::eventstore {

namespace {

const std::vector<Migration>& Migrations() {
  static const auto* migrations = new std::vector<Migration>{
      {1, "dead letters of sources and projections",
       "CREATE TABLE dead_letters ("
       "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
       "  kind TEXT NOT NULL,"
       "  component TEXT NOT NULL,"
       "  generation INTEGER NOT NULL DEFAULT 0,"
       "  position TEXT NOT NULL,"
       "  payload TEXT NOT NULL,"
       "  context TEXT NOT NULL,"
       "  error TEXT NOT NULL,"
       "  attempts INTEGER NOT NULL,"
       "  retry_requested INTEGER NOT NULL DEFAULT 0,"
       "  created_at INTEGER NOT NULL,"
       "  updated_at INTEGER NOT NULL);"
       "CREATE INDEX dead_letters_component ON dead_letters (kind, component, generation, id);"},
  };
  return *migrations;
}

constexpr const char* kColumns =
    "id, kind, component, generation, position, payload, context, error, attempts, "
    "retry_requested, created_at, updated_at";

core::Json ParseStored(const SqlValue& value) {
  auto parsed = core::ParseJson(std::get<std::string>(value), core::kStoredJson);
  return parsed.ok() ? std::move(parsed).value() : core::Json(std::get<std::string>(value));
}

DeadLetter FromRow(const SqlRow& row) {
  DeadLetter d;
  d.id = std::get<int64_t>(row[0]);
  d.kind = std::get<std::string>(row[1]);
  d.component = std::get<std::string>(row[2]);
  d.generation = std::get<int64_t>(row[3]);
  d.position = ParseStored(row[4]);
  d.payload = ParseStored(row[5]);
  d.context = ParseStored(row[6]);
  d.error = std::get<std::string>(row[7]);
  d.attempts = std::get<int64_t>(row[8]);
  d.retry_requested = std::get<int64_t>(row[9]) != 0;
  d.created_at = std::get<int64_t>(row[10]);
  d.updated_at = std::get<int64_t>(row[11]);
  return d;
}

std::vector<DeadLetter> FromRows(const SqlRows& rows) {
  std::vector<DeadLetter> out;
  out.reserve(rows.size());
  for (const SqlRow& row : rows) out.push_back(FromRow(row));
  return out;
}

}  // namespace

const char* OnErrorName(OnError on_error) {
  return on_error == OnError::kDeadLetter ? "dead_letter" : "stop";
}

core::Json DeadLetter::ToJson() const {
  core::Json j{{"id", id},
               {"kind", kind},
               {kind, component},
               {"position", position},
               {"payload", payload},
               {"error", error},
               {"attempts", attempts},
               {"retry_requested", retry_requested},
               {"created_at", core::FormatRfc3339Millis(created_at)},
               {"updated_at", core::FormatRfc3339Millis(updated_at)}};
  if (kind == "projection") j["generation"] = generation;
  return j;
}

Status DeadLetters::Migrate(EventStore& store) {
  if (store.dialect() != SqlDialect::kSqlite)
    return Status::Unavailable("dead letters need the sqlite store backend in this build");
  return store.ApplyMigrations("dead_letters", Migrations());
}

Result<int64_t> DeadLetters::Add(Transaction& tx, const DeadLetter& letter) {
  ASSIGN_OR_RETURN(
      SqlRows rows,
      tx.Query("INSERT INTO dead_letters (kind, component, generation, position, payload, "
               "context, error, attempts, retry_requested, created_at, updated_at) VALUES "
               "($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $9) RETURNING id",
               {letter.kind, letter.component, letter.generation, core::DumpJson(letter.position),
                core::DumpJson(letter.payload), core::DumpJson(letter.context), letter.error,
                std::max<int64_t>(letter.attempts, 1), tx.now_millis()}));
  return std::get<int64_t>(rows[0][0]);
}

Result<std::optional<DeadLetter>> DeadLetters::Get(Transaction& tx, int64_t id) {
  ASSIGN_OR_RETURN(
      SqlRows rows,
      tx.Query(std::string("SELECT ") + kColumns + " FROM dead_letters WHERE id = $1", {id}));
  if (rows.empty()) return std::optional<DeadLetter>();
  return std::optional<DeadLetter>(FromRow(rows[0]));
}

Result<std::optional<DeadLetter>> DeadLetters::Find(EventStore& store, int64_t id) {
  ASSIGN_OR_RETURN(
      SqlRows rows,
      store.Query(std::string("SELECT ") + kColumns + " FROM dead_letters WHERE id = $1", {id}));
  if (rows.empty()) return std::optional<DeadLetter>();
  return std::optional<DeadLetter>(FromRow(rows[0]));
}

Result<std::vector<DeadLetter>> DeadLetters::List(EventStore& store, const ListOptions& options) {
  const int64_t limit = static_cast<int64_t>(options.limit);
  if (options.kind.empty()) {
    ASSIGN_OR_RETURN(SqlRows rows,
                     store.Query(std::string("SELECT ") + kColumns +
                                     " FROM dead_letters WHERE id > $1 ORDER BY id LIMIT $2",
                                 {options.after_id, limit}));
    return FromRows(rows);
  }
  if (options.component.empty()) {
    ASSIGN_OR_RETURN(SqlRows rows, store.Query(std::string("SELECT ") + kColumns +
                                                   " FROM dead_letters WHERE kind = $1 AND id > "
                                                   "$2 ORDER BY id LIMIT $3",
                                               {options.kind, options.after_id, limit}));
    return FromRows(rows);
  }
  ASSIGN_OR_RETURN(SqlRows rows,
                   store.Query(std::string("SELECT ") + kColumns +
                                   " FROM dead_letters WHERE kind = $1 AND component = $2 AND id "
                                   "> $3 ORDER BY id LIMIT $4",
                               {options.kind, options.component, options.after_id, limit}));
  return FromRows(rows);
}

Result<bool> DeadLetters::Remove(Transaction& tx, int64_t id) {
  ASSIGN_OR_RETURN(SqlRows rows,
                   tx.Query("DELETE FROM dead_letters WHERE id = $1 RETURNING id", {id}));
  return !rows.empty();
}

Status DeadLetters::RecordFailure(Transaction& tx, int64_t id, const std::string& error) {
  return tx.Execute(
      "UPDATE dead_letters SET attempts = attempts + 1, error = $2, retry_requested = 0, "
      "updated_at = $3 WHERE id = $1",
      {id, error, tx.now_millis()});
}

Result<bool> DeadLetters::RequestRetry(Transaction& tx, int64_t id) {
  ASSIGN_OR_RETURN(
      SqlRows rows,
      tx.Query("UPDATE dead_letters SET retry_requested = 1, updated_at = $2 WHERE id = $1 "
               "RETURNING id",
               {id, tx.now_millis()}));
  return !rows.empty();
}

Result<std::vector<DeadLetter>> DeadLetters::RetryRequests(EventStore& store,
                                                           const std::string& component,
                                                           int64_t generation) {
  ASSIGN_OR_RETURN(SqlRows rows,
                   store.Query(std::string("SELECT ") + kColumns +
                                   " FROM dead_letters WHERE kind = 'projection' AND component = "
                                   "$1 AND generation = $2 AND retry_requested = 1 ORDER BY id",
                               {component, generation}));
  return FromRows(rows);
}

Status DeadLetters::RemoveGeneration(Transaction& tx, const std::string& component,
                                     int64_t generation) {
  return tx.Execute(
      "DELETE FROM dead_letters WHERE kind = 'projection' AND component = $1 AND generation = $2",
      {component, generation});
}

Result<std::map<std::pair<std::string, std::string>, int64_t>> DeadLetters::Counts(
    EventStore& store) {
  ASSIGN_OR_RETURN(SqlRows rows,
                   store.Query("SELECT kind, component, COUNT(*) FROM dead_letters GROUP BY kind, "
                               "component",
                               {}));
  std::map<std::pair<std::string, std::string>, int64_t> counts;
  for (const SqlRow& row : rows) {
    counts[{std::get<std::string>(row[0]), std::get<std::string>(row[1])}] =
        std::get<int64_t>(row[2]);
  }
  return counts;
}

}  // namespace rivulet::eventstore
