#include "projections/projection_tables.h"

#include "core/status_macros.h"
#include "eventstore/dead_letters.h"

namespace rivulet::projections {

namespace {

using eventstore::SqlParams;
using eventstore::SqlRow;
using eventstore::SqlRows;

const std::vector<eventstore::Migration>& Migrations() {
  static const std::vector<eventstore::Migration>* migrations = new std::vector<
      eventstore::Migration>{
      {1, "projection generations",
       "CREATE TABLE projection_generations ("
       "  name TEXT NOT NULL,"
       "  generation INTEGER NOT NULL,"
       "  role TEXT NOT NULL CHECK (role IN ('live', 'candidate')),"
       "  definition TEXT NOT NULL,"
       "  definition_hash TEXT NOT NULL,"
       "  position INTEGER NOT NULL,"
       "  end_position INTEGER,"
       "  failed_position INTEGER,"
       "  last_error TEXT NOT NULL DEFAULT '',"
       "  owner TEXT NOT NULL DEFAULT '',"
       "  lease_until INTEGER NOT NULL DEFAULT 0,"
       "  created_at INTEGER NOT NULL,"
       "  updated_at INTEGER NOT NULL,"
       "  PRIMARY KEY (name, generation)"
       ") WITHOUT ROWID;"
       "CREATE UNIQUE INDEX projection_generations_role ON projection_generations (name, role);"},
  };
  return *migrations;
}

// Identifiers are built from projection names ([a-z][a-z0-9_]*), document fields
// (letters, digits, '_') and '$'; quoting keeps any of them legal.
std::string Quote(const std::string& identifier) { return "\"" + identifier + "\""; }

constexpr const char* kColumns =
    "name, generation, role, definition, definition_hash, position, end_position, failed_position, "
    "last_error, "
    "owner, lease_until";

Result<Generation> FromRow(const SqlRow& row) {
  Generation g;
  g.name = std::get<std::string>(row[0]);
  g.generation = std::get<int64_t>(row[1]);
  g.role = std::get<std::string>(row[2]);
  auto definition = core::ParseJson(std::get<std::string>(row[3]), core::kStoredJson);
  if (!definition.ok()) return definition.status().WithContext("stored definition of " + g.name);
  g.definition = std::move(definition).value();
  g.hash = std::get<std::string>(row[4]);
  g.position = std::get<int64_t>(row[5]);
  if (auto* end = std::get_if<int64_t>(&row[6])) g.end_position = *end;
  if (auto* failed = std::get_if<int64_t>(&row[7])) g.failed_position = *failed;
  g.last_error = std::get<std::string>(row[8]);
  g.owner = std::get<std::string>(row[9]);
  g.lease_until = std::get<int64_t>(row[10]);
  return g;
}

// sqlite_stat1 rows are keyed by table name and survive DROP TABLE and ALTER TABLE
// RENAME, so they are moved and removed with the tables they describe: `table`'s rows
// are deleted, or with `renamed_to` they replace that table's.
Status MoveStatistics(eventstore::Transaction& tx, const std::string& table,
                      const std::string& renamed_to = "") {
  ASSIGN_OR_RETURN(SqlRows exists,
                   tx.Query("SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_stat1'", {}));
  if (exists.empty()) return Status::Ok();
  if (renamed_to.empty()) return tx.Execute("DELETE FROM sqlite_stat1 WHERE tbl = $1", {table});
  RETURN_IF_ERROR(tx.Execute("DELETE FROM sqlite_stat1 WHERE tbl = $1", {renamed_to}));
  // The renamed table keeps its indexes (and their names), so their statistics hold.
  return tx.Execute("UPDATE sqlite_stat1 SET tbl = $1 WHERE tbl = $2", {renamed_to, table});
}

int StructuredCount(const core::Json& doc, const std::vector<std::string>& indexes) {
  int count = 0;
  for (const std::string& field : indexes) {
    auto it = doc.find(field);
    if (it != doc.end() && it->is_structured()) ++count;
  }
  return count;
}

// The prefix of a generation's index names: "proj_<name>$g<N>", whatever its role, so
// that a candidate's indexes never meet the live copy's and keep their names on a swap.
std::string IndexPrefix(const Generation& g) {
  return ProjectionTables::LiveTable(g.name) + "$g" + std::to_string(g.generation);
}

// Whether the schema holds an object called exactly `name` (any type).
Result<bool> SchemaHas(eventstore::Transaction& tx, const std::string& name) {
  ASSIGN_OR_RETURN(SqlRows rows, tx.Query("SELECT 1 FROM sqlite_schema WHERE name = $1", {name}));
  return !rows.empty();
}

// Makes room for table `table`. SQLite compares names without case, and tables share
// one namespace with indexes, so any object spelled the same in any case blocks it:
//  - a table of this very copy (the same spelling), left over, is dropped, as before;
//  - an object of the scheme before this one (a "proj_" name without '$': a table of a
//    projection whose name differed only in case, "proj_Orders", or an index such as
//    "proj_a__i_x" that a projection named "a__i_x" would now meet) is renamed to
//    "<its name>$legacy", out of this scheme's way, keeping its rows;
//  - anything else (a table that is not Rivulet's) is refused.
Status ClearTableName(eventstore::Transaction& tx, const std::string& table) {
  ASSIGN_OR_RETURN(
      SqlRows rows,
      tx.Query("SELECT type, name, sql FROM sqlite_schema WHERE name = $1 COLLATE NOCASE",
               {table}));
  for (const SqlRow& row : rows) {
    const std::string& type = std::get<std::string>(row[0]);
    const std::string& name = std::get<std::string>(row[1]);
    if (type == "table" && name == table) {
      RETURN_IF_ERROR(MoveStatistics(tx, table));
      RETURN_IF_ERROR(tx.ExecuteScript("DROP TABLE " + Quote(table) + ";"));
      continue;
    }
    const std::string* sql = std::get_if<std::string>(&row[2]);
    const bool legacy = name.rfind("proj_", 0) == 0 && name.find('$') == std::string::npos;
    const std::string renamed = name + "$legacy";
    if (legacy && type == "table") {
      RETURN_IF_ERROR(
          tx.ExecuteScript("ALTER TABLE " + Quote(name) + " RENAME TO " + Quote(renamed) + ";"));
      RETURN_IF_ERROR(MoveStatistics(tx, name, renamed));
      continue;
    }
    const size_t at = sql == nullptr ? std::string::npos : sql->find(Quote(name));
    if (legacy && type == "index" && at != std::string::npos) {
      // No ALTER INDEX in SQLite: the index is made again under its new name.
      std::string create = *sql;
      create.replace(at, Quote(name).size(), Quote(renamed));
      RETURN_IF_ERROR(tx.ExecuteScript("DROP INDEX " + Quote(name) + "; " + create + ";"));
      ASSIGN_OR_RETURN(SqlRows stat,
                       tx.Query("SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_stat1'", {}));
      if (!stat.empty()) {
        RETURN_IF_ERROR(
            tx.Execute("UPDATE sqlite_stat1 SET idx = $1 WHERE idx = $2", {renamed, name}));
      }
      continue;
    }
    return Status::FailedPrecondition("cannot create table " + table + ": the database has " +
                                      type + " " + name +
                                      " already (SQLite compares names without case)");
  }
  return Status::Ok();
}

// Stores made before projection names followed SPEC section 4 named a candidate's table
// "proj_<name>__g<N>", which a projection called "<name>__g<N>" would now share; a
// candidate still being built is moved to its current name.
Status RenameLegacyCandidates(eventstore::EventStore& store) {
  ASSIGN_OR_RETURN(SqlRows candidates,
                   store.Query("SELECT g.name, g.generation FROM projection_generations g "
                               "JOIN sqlite_schema s ON s.type = 'table' AND s.name = 'proj_' || "
                               "g.name || '__g' || g.generation WHERE g.role = 'candidate'",
                               {}));
  for (const SqlRow& row : candidates) {
    Generation g;
    g.name = std::get<std::string>(row[0]);
    g.generation = std::get<int64_t>(row[1]);
    g.role = "candidate";
    const std::string legacy =
        ProjectionTables::LiveTable(g.name) + "__g" + std::to_string(g.generation);
    const std::string current = ProjectionTables::TableOf(g);
    RETURN_IF_ERROR(store.Write([&](eventstore::Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(bool has_legacy, SchemaHas(tx, legacy));
      ASSIGN_OR_RETURN(bool has_current, SchemaHas(tx, current));
      if (!has_legacy || has_current) return Status::Ok();  // another process did it
      RETURN_IF_ERROR(
          tx.ExecuteScript("ALTER TABLE " + Quote(legacy) + " RENAME TO " + Quote(current) + ";"));
      return MoveStatistics(tx, legacy, current);
    }));
  }
  return Status::Ok();
}

}  // namespace

Status ProjectionTables::Migrate(eventstore::EventStore& store) {
  if (store.dialect() != eventstore::SqlDialect::kSqlite) {
    return Status::Unavailable("projections need the sqlite store backend in this build");
  }
  RETURN_IF_ERROR(store.ApplyMigrations("projections", Migrations()));
  RETURN_IF_ERROR(eventstore::DeadLetters::Migrate(store));
  return RenameLegacyCandidates(store);
}

std::string ProjectionTables::LiveTable(const std::string& name) { return "proj_" + name; }

std::string ProjectionTables::TableOf(const Generation& g) {
  if (g.role == "live") return LiveTable(g.name);
  return LiveTable(g.name) + "$g" + std::to_string(g.generation);
}

std::string ProjectionTables::FieldColumn(const std::string& field) { return Quote("f_" + field); }

Result<std::vector<Generation>> ProjectionTables::Load(eventstore::EventStore& store,
                                                       const std::string& name) {
  ASSIGN_OR_RETURN(SqlRows rows, store.Query(std::string("SELECT ") + kColumns +
                                                 " FROM projection_generations WHERE name = $1 "
                                                 "ORDER BY role DESC, generation",
                                             {name}));
  std::vector<Generation> out;
  for (const SqlRow& row : rows) {
    ASSIGN_OR_RETURN(Generation g, FromRow(row));
    out.push_back(std::move(g));
  }
  return out;
}

Status ProjectionTables::Create(eventstore::Transaction& tx, const Generation& g,
                                const std::vector<std::string>& indexes, int64_t now) {
  ASSIGN_OR_RETURN(SqlRows taken,
                   tx.Query("SELECT generation FROM projection_generations WHERE name = $1 AND "
                            "role = $2",
                            {g.name, g.role}));
  if (!taken.empty()) {
    return Status::Aborted("projection " + g.name + " already has a " + g.role +
                           " copy (generation " + std::to_string(std::get<int64_t>(taken[0][0])) +
                           ")")
        .WithReason("conflict");
  }
  eventstore::SqlValue end =
      g.end_position ? eventstore::SqlValue(*g.end_position) : eventstore::SqlValue(nullptr);
  RETURN_IF_ERROR(tx.Execute(
      "INSERT INTO projection_generations (name, generation, role, definition, "
      "definition_hash, position, end_position, owner, lease_until, created_at, updated_at) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
      {g.name, g.generation, g.role, core::DumpJson(g.definition), g.hash, g.position, end, g.owner,
       g.lease_until, now}));
  const std::string table = TableOf(g);
  const std::string index = IndexPrefix(g);
  RETURN_IF_ERROR(ClearTableName(tx, table));
  std::string ddl =
      "CREATE TABLE " + Quote(table) +
      " (key TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL, structured INTEGER NOT NULL DEFAULT 0";
  for (const std::string& field : indexes) {
    if (field == "_key") continue;  // the primary key
    ddl += ", " + FieldColumn(field) + " GENERATED ALWAYS AS (ifnull(json_extract(doc, '$.\"" +
           field + "\"'), -9e999)) VIRTUAL";
  }
  ddl += ") WITHOUT ROWID;";
  for (const std::string& field : indexes) {
    if (field == "_key") continue;
    ddl += "CREATE INDEX " + Quote(index + "$f_" + field) + " ON " + Quote(table) + " (" +
           FieldColumn(field) + ", key);";
  }
  ddl += "CREATE INDEX " + Quote(index + "$structured") + " ON " + Quote(table) +
         " (structured) WHERE structured > 0;";
  return tx.ExecuteScript(ddl);
}

Status ProjectionTables::Drop(eventstore::Transaction& tx, const Generation& g) {
  RETURN_IF_ERROR(
      tx.Execute("DELETE FROM projection_generations WHERE name = $1 AND generation = $2",
                 {g.name, g.generation}));
  RETURN_IF_ERROR(eventstore::DeadLetters::RemoveGeneration(tx, g.name, g.generation));
  RETURN_IF_ERROR(MoveStatistics(tx, TableOf(g)));
  // Not DROP TABLE IF EXISTS: it would drop a table spelled in another case.
  ASSIGN_OR_RETURN(bool exists, SchemaHas(tx, TableOf(g)));
  if (!exists) return Status::Ok();
  return tx.ExecuteScript("DROP TABLE " + Quote(TableOf(g)) + ";");
}

Status ProjectionTables::Swap(eventstore::Transaction& tx, const std::string& name,
                              std::optional<int64_t> live_generation, int64_t candidate_generation,
                              int64_t now) {
  ASSIGN_OR_RETURN(
      SqlRows rows,
      tx.Query("SELECT generation, role FROM projection_generations WHERE name = $1", {name}));
  std::optional<int64_t> live;
  bool candidate_found = false;
  for (const SqlRow& row : rows) {
    int64_t gen = std::get<int64_t>(row[0]);
    const std::string& role = std::get<std::string>(row[1]);
    if (role == "live") live = gen;
    if (role == "candidate" && gen == candidate_generation) candidate_found = true;
  }
  if (!candidate_found || live != live_generation) {
    return Status::Aborted("projection " + name + " changed under the swap").WithReason("conflict");
  }
  const std::string live_table = LiveTable(name);
  Generation candidate;
  candidate.name = name;
  candidate.generation = candidate_generation;
  candidate.role = "candidate";
  const std::string candidate_table = TableOf(candidate);
  RETURN_IF_ERROR(ClearTableName(tx, live_table));  // drops the live copy's table
  RETURN_IF_ERROR(tx.ExecuteScript("ALTER TABLE " + Quote(candidate_table) + " RENAME TO " +
                                   Quote(live_table) + ";"));
  RETURN_IF_ERROR(MoveStatistics(tx, candidate_table, live_table));
  // The old copy's dead letters go with it: the new copy parked its own.
  if (live) RETURN_IF_ERROR(eventstore::DeadLetters::RemoveGeneration(tx, name, *live));
  RETURN_IF_ERROR(
      tx.Execute("DELETE FROM projection_generations WHERE name = $1 AND role = 'live'", {name}));
  // A live copy follows the log to its head, whatever a replay bounded it to.
  return tx.Execute(
      "UPDATE projection_generations SET role = 'live', end_position = NULL, updated_at = $3 "
      "WHERE name = $1 AND generation = $2",
      {name, candidate_generation, now});
}

Result<std::optional<Generation>> ProjectionTables::Claim(eventstore::Transaction& tx,
                                                          const std::string& name,
                                                          int64_t generation,
                                                          const std::string& owner, int64_t now,
                                                          int64_t lease_ms) {
  ASSIGN_OR_RETURN(
      SqlRows rows,
      tx.Query(std::string("UPDATE projection_generations SET owner = $3, lease_until = $4 "
                           "WHERE name = $1 AND generation = $2 AND (owner = $3 OR owner = '' OR "
                           "lease_until < $5) RETURNING ") +
                   kColumns,
               {name, generation, owner, now + lease_ms, now}));
  if (rows.empty()) return std::optional<Generation>();
  ASSIGN_OR_RETURN(Generation g, FromRow(rows[0]));
  return std::optional<Generation>(std::move(g));
}

Status ProjectionTables::ClearFailure(eventstore::Transaction& tx, const std::string& name,
                                      int64_t generation, int64_t now) {
  return tx.Execute(
      "UPDATE projection_generations SET failed_position = NULL, last_error = '', updated_at = $3 "
      "WHERE name = $1 AND generation = $2",
      {name, generation, now});
}

Status ProjectionTables::Release(eventstore::Transaction& tx, const std::string& name,
                                 int64_t generation, const std::string& owner) {
  return tx.Execute(
      "UPDATE projection_generations SET owner = '', lease_until = 0 WHERE name = $1 AND "
      "generation = $2 AND owner = $3",
      {name, generation, owner});
}

Result<std::optional<std::string>> ProjectionTables::Advance(
    eventstore::Transaction& tx, const std::string& name, int64_t generation,
    const std::string& owner, int64_t from, int64_t to, int64_t now, int64_t lease_ms) {
  ASSIGN_OR_RETURN(SqlRows rows,
                   tx.Query("UPDATE projection_generations SET position = $5, updated_at = $6, "
                            "lease_until = $7 WHERE name = $1 AND generation = $2 AND owner = $3 "
                            "AND position = $4 AND failed_position IS NULL RETURNING role",
                            {name, generation, owner, from, to, now, now + lease_ms}));
  if (rows.empty()) return std::optional<std::string>();
  return std::optional<std::string>(std::get<std::string>(rows[0][0]));
}

Status ProjectionTables::MarkFailed(eventstore::Transaction& tx, const std::string& name,
                                    int64_t generation, int64_t failed_position,
                                    const std::string& error, int64_t now) {
  return tx.Execute(
      "UPDATE projection_generations SET failed_position = $3, last_error = $4, updated_at = $5 "
      "WHERE name = $1 AND generation = $2",
      {name, generation, failed_position, error, now});
}

Status ProjectionTables::Upsert(eventstore::Transaction& tx, const std::string& table,
                                const std::string& key, const core::Json& doc,
                                const std::vector<std::string>& indexes) {
  return tx.Execute(
      "INSERT INTO " + Quote(table) +
          " (key, doc, structured) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET "
          "doc = excluded.doc, structured = excluded.structured",
      {key, core::DumpJson(doc), int64_t{StructuredCount(doc, indexes)}});
}

Status ProjectionTables::Delete(eventstore::Transaction& tx, const std::string& table,
                                const std::string& key) {
  return tx.Execute("DELETE FROM " + Quote(table) + " WHERE key = $1", {key});
}

Result<std::vector<std::pair<std::string, std::string>>> ProjectionTables::ReadDocuments(
    eventstore::EventStore& store, const std::string& table, const std::vector<std::string>& keys) {
  std::vector<std::pair<std::string, std::string>> out;
  if (keys.empty()) return out;
  // One statement for any number of keys: the key list travels as one JSON array.
  ASSIGN_OR_RETURN(SqlRows rows, store.Query("SELECT key, doc FROM " + Quote(table) +
                                                 " WHERE key IN (SELECT value FROM json_each($1))",
                                             {core::DumpJson(core::Json(keys))}));
  out.reserve(rows.size());
  for (SqlRow& row : rows) {
    out.emplace_back(std::move(std::get<std::string>(row[0])),
                     std::move(std::get<std::string>(row[1])));
  }
  return out;
}

Status ProjectionTables::Analyze(eventstore::Transaction& tx, const std::string& table) {
  // ANALYZE alone reaches only the connection that ran it; other connections load
  // statistics with the schema, so the schema cookie is moved to make them reload.
  return tx.ExecuteScript("ANALYZE " + Quote(table) +
                          "; CREATE TABLE rivulet_reload_schema (x); "
                          "DROP TABLE rivulet_reload_schema;");
}

Result<ProjectionTables::TableSize> ProjectionTables::Size(eventstore::EventStore& store,
                                                           const std::string& table) {
  TableSize size;
  ASSIGN_OR_RETURN(SqlRows count, store.Query("SELECT count(*) FROM " + Quote(table), {}));
  size.rows = std::get<int64_t>(count.at(0).at(0));
  ASSIGN_OR_RETURN(SqlRows exists,
                   store.Query("SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_stat1'", {}));
  if (exists.empty()) return size;
  // stat is "<rows> <rows per distinct prefix>..." for each index of the table.
  ASSIGN_OR_RETURN(SqlRows stat,
                   store.Query("SELECT stat FROM sqlite_stat1 WHERE tbl = $1 LIMIT 1", {table}));
  if (!stat.empty() && std::holds_alternative<std::string>(stat[0][0])) {
    size.analyzed_rows = std::strtoll(std::get<std::string>(stat[0][0]).c_str(), nullptr, 10);
  }
  return size;
}

}  // namespace rivulet::projections
