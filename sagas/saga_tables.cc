#include "sagas/saga_tables.h"

#include "core/status_macros.h"

namespace rivulet::sagas {

namespace {

using eventstore::SqlRow;
using eventstore::SqlRows;

const std::vector<eventstore::Migration>& Migrations() {
  static const auto* migrations = new std::vector<eventstore::Migration>{
      {1, "saga instances and checkpoints",
       "CREATE TABLE saga_instances ("
       "  name TEXT NOT NULL,"
       "  id TEXT NOT NULL,"
       "  status TEXT NOT NULL,"
       "  phase TEXT NOT NULL,"
       "  step TEXT NOT NULL DEFAULT '',"
       "  version INTEGER NOT NULL,"
       "  finished INTEGER NOT NULL DEFAULT 0,"
       "  definition_hash TEXT NOT NULL,"
       "  started_at INTEGER NOT NULL,"
       "  updated_at INTEGER NOT NULL,"
       "  error TEXT NOT NULL DEFAULT '',"
       "  PRIMARY KEY (name, id)"
       ") WITHOUT ROWID;"
       "CREATE INDEX saga_instances_status ON saga_instances (status, name, id);"
       "CREATE INDEX saga_instances_unfinished ON saga_instances (finished) WHERE finished = 0;"
       "CREATE TABLE saga_checkpoints (consumer TEXT PRIMARY KEY, position INTEGER NOT NULL) "
       "WITHOUT ROWID;"},
  };
  return *migrations;
}

constexpr const char* kColumns =
    "name, id, status, phase, step, version, finished, definition_hash, started_at, updated_at, "
    "error";

InstanceRow FromRow(const SqlRow& row) {
  InstanceRow r;
  r.name = std::get<std::string>(row[0]);
  r.id = std::get<std::string>(row[1]);
  r.status = std::get<std::string>(row[2]);
  r.phase = std::get<std::string>(row[3]);
  r.step = std::get<std::string>(row[4]);
  r.version = std::get<int64_t>(row[5]);
  r.finished = std::get<int64_t>(row[6]) != 0;
  r.definition_hash = std::get<std::string>(row[7]);
  r.started_at = std::get<int64_t>(row[8]);
  r.updated_at = std::get<int64_t>(row[9]);
  r.error = std::get<std::string>(row[10]);
  return r;
}

}  // namespace

core::Json InstanceRow::ToJson() const {
  return core::Json{{"name", name},
                    {"id", id},
                    {"status", status},
                    {"step", step.empty() ? core::Json() : core::Json(step)},
                    {"started_at", started_at},
                    {"updated_at", updated_at},
                    {"error", error.empty() ? core::Json() : core::Json(error)}};
}

Status SagaTables::Migrate(eventstore::EventStore& store) {
  if (store.dialect() != eventstore::SqlDialect::kSqlite) {
    return Status::Unavailable("sagas need the sqlite store backend in this build");
  }
  return store.ApplyMigrations("sagas", Migrations());
}

std::string SagaTables::StreamOf(const std::string& saga, const std::string& id) {
  return "$saga-" + saga + "-" + id;
}

Result<bool> SagaTables::Exists(eventstore::Transaction& tx, const std::string& name,
                                const std::string& id) {
  ASSIGN_OR_RETURN(
      SqlRows rows,
      tx.Query("SELECT 1 FROM saga_instances WHERE name = $1 AND id = $2", {name, id}));
  return !rows.empty();
}

Status SagaTables::Upsert(eventstore::Transaction& tx, const InstanceRow& r) {
  return tx.Execute(
      "INSERT INTO saga_instances (name, id, status, phase, step, version, finished, "
      "definition_hash, started_at, updated_at, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
      "$9, $10, $11) ON CONFLICT (name, id) DO UPDATE SET status = $3, phase = $4, step = $5, "
      "version = $6, finished = $7, updated_at = $10, error = $11",
      {r.name, r.id, r.status, r.phase, r.step, r.version, static_cast<int64_t>(r.finished),
       r.definition_hash, r.started_at, r.updated_at, r.error});
}

Result<int64_t> SagaTables::Checkpoint(eventstore::Transaction& tx, const std::string& consumer) {
  ASSIGN_OR_RETURN(
      SqlRows rows,
      tx.Query("SELECT position FROM saga_checkpoints WHERE consumer = $1", {consumer}));
  return rows.empty() ? 0 : std::get<int64_t>(rows[0][0]);
}

Status SagaTables::SetCheckpoint(eventstore::Transaction& tx, const std::string& consumer,
                                 int64_t position) {
  return tx.Execute(
      "INSERT INTO saga_checkpoints (consumer, position) VALUES ($1, $2) ON CONFLICT (consumer) "
      "DO UPDATE SET position = $2",
      {consumer, position});
}

Result<std::optional<InstanceRow>> SagaTables::Get(eventstore::EventStore& store,
                                                   const std::string& name, const std::string& id) {
  ASSIGN_OR_RETURN(SqlRows rows, store.Query(std::string("SELECT ") + kColumns +
                                                 " FROM saga_instances WHERE name = $1 AND id = $2",
                                             {name, id}));
  if (rows.empty()) return std::optional<InstanceRow>();
  return std::optional<InstanceRow>(FromRow(rows[0]));
}

Result<std::vector<InstanceRow>> SagaTables::Unfinished(eventstore::EventStore& store) {
  ASSIGN_OR_RETURN(SqlRows rows, store.Query(std::string("SELECT ") + kColumns +
                                             " FROM saga_instances WHERE finished = 0"));
  std::vector<InstanceRow> out;
  for (const SqlRow& row : rows) out.push_back(FromRow(row));
  return out;
}

Result<std::vector<InstanceRow>> SagaTables::List(eventstore::EventStore& store,
                                                  const std::string& name,
                                                  const std::string& status,
                                                  const std::pair<std::string, std::string>& after,
                                                  int limit) {
  ASSIGN_OR_RETURN(
      SqlRows rows,
      store.Query(std::string("SELECT ") + kColumns +
                      " FROM saga_instances WHERE ($1 = '' OR name = $1) AND ($2 = '' OR "
                      "status = $2) AND (name > $3 OR (name = $3 AND id > $4)) ORDER BY name, id "
                      "LIMIT $5",
                  {name, status, after.first, after.second, static_cast<int64_t>(limit)}));
  std::vector<InstanceRow> out;
  for (const SqlRow& row : rows) out.push_back(FromRow(row));
  return out;
}

Result<std::vector<std::tuple<std::string, std::string, int64_t>>> SagaTables::Counts(
    eventstore::EventStore& store) {
  ASSIGN_OR_RETURN(
      SqlRows rows,
      store.Query("SELECT name, status, count(*) FROM saga_instances GROUP BY name, status"));
  std::vector<std::tuple<std::string, std::string, int64_t>> out;
  for (const SqlRow& row : rows) {
    out.emplace_back(std::get<std::string>(row[0]), std::get<std::string>(row[1]),
                     std::get<int64_t>(row[2]));
  }
  return out;
}

Result<int64_t> SagaTables::StoredCheckpoint(eventstore::EventStore& store,
                                             const std::string& consumer) {
  ASSIGN_OR_RETURN(
      SqlRows rows,
      store.Query("SELECT position FROM saga_checkpoints WHERE consumer = $1", {consumer}));
  return rows.empty() ? 0 : std::get<int64_t>(rows[0][0]);
}

}  // namespace rivulet::sagas
