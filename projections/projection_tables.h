#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "eventstore/event_store.h"

namespace rivulet::projections {

// The storage of projections, in the store's database (SQLite).
//
// projection_generations: one row per built copy of a projection.
//   name, generation    the projection and the copy's number (increasing per name)
//   role                'live' (the copy queries read; at most one) or 'candidate'
//                       (a rebuild beside it; at most one)
//   definition, hash    the JSON the copy is built with, and its SHA-256
//   position            checkpoint: every event up to here has been applied
//   end_position        a replay's upper bound (--to), or NULL
//   failed_position     the event that failed, or NULL; last_error says why
//   owner, lease_until  the process building the copy, and until when (ms epoch)
//
// Documents of a live copy live in "proj_<name>", of a candidate in
// "proj_<name>$g<generation>". Names match [a-z][a-z0-9_]{0,47} (SPEC section 4), so
// the first '$' ends the name and no two (name, generation) pairs spell one table,
// even in SQLite, which compares names without case. A generation's indexes are
// "proj_<name>$g<generation>$f_<field>" and "...$structured" whatever its role, and
// keep those names when a swap renames the table. Stores made before this scheme called
// a candidate "proj_<name>__g<N>" (Migrate renames it) and indexes "<table>__i_<field>";
// an object of that scheme that blocks a table is renamed to "<its name>$legacy".
// Each document table holds:
//   key TEXT PRIMARY KEY, doc TEXT (the JSON document, with _key, _version, _position),
//   structured INTEGER (how many indexed fields hold a list or an object),
//   and per indexed field f a generated column "f_<f>" =
//   ifnull(json_extract(doc, '$."f"'), -9e999) with an index on ("f_<f>", key).
//   Missing and null sort first (as -infinity), booleans as 0/1.
//
// Planner statistics (sqlite_stat1) are gathered by the builder as a table grows and
// move with the table on a swap.
//
// A swap drops the live table and renames the candidate's to it in one transaction, so
// every query (one statement, one snapshot) sees either copy, never a mix.
//
// Dead letters (eventstore/dead_letters.h) of a copy carry its generation; they are
// removed with the copy (a drop, or the live copy a swap replaces).
struct Generation {
  std::string name;
  int64_t generation = 0;
  std::string role;  // "live" | "candidate"
  core::Json definition;
  std::string hash;
  int64_t position = 0;
  std::optional<int64_t> end_position;
  std::optional<int64_t> failed_position;
  std::string last_error;
  std::string owner;
  int64_t lease_until = 0;

  bool failed() const { return failed_position.has_value(); }
};

class ProjectionTables {
 public:
  static Status Migrate(eventstore::EventStore& store);

  // Every generation of `name` (live first), read from a reader connection.
  static Result<std::vector<Generation>> Load(eventstore::EventStore& store,
                                              const std::string& name);

  static std::string LiveTable(const std::string& name);
  static std::string TableOf(const Generation& g);

  // Inserts the generation row and creates its (empty) document table with the
  // definition's indexes. Fails with Aborted if `role` is already taken for `name`.
  static Status Create(eventstore::Transaction& tx, const Generation& g,
                       const std::vector<std::string>& indexes, int64_t now);

  // Deletes a generation and drops its table.
  static Status Drop(eventstore::Transaction& tx, const Generation& g);

  // Makes `candidate` live: drops the live table (if any), renames the candidate's,
  // removes the old live row, clears the candidate's end position. Aborted unless the
  // rows are still as given.
  static Status Swap(eventstore::Transaction& tx, const std::string& name,
                     std::optional<int64_t> live_generation, int64_t candidate_generation,
                     int64_t now);

  // Takes or renews the lease of a generation for `owner` unless another owner holds an
  // unexpired one. Returns the generation as stored, or nullopt if someone else holds it
  // (or it is gone).
  static Result<std::optional<Generation>> Claim(eventstore::Transaction& tx,
                                                 const std::string& name, int64_t generation,
                                                 const std::string& owner, int64_t now,
                                                 int64_t lease_ms);
  static Status Release(eventstore::Transaction& tx, const std::string& name, int64_t generation,
                        const std::string& owner);

  // Moves the checkpoint from `from` to `to` and renews the lease, if `owner` still
  // holds the generation at `from`. Returns the generation's role then, or nullopt if
  // it was lost (another process moved it, swapped or dropped it).
  static Result<std::optional<std::string>> Advance(eventstore::Transaction& tx,
                                                    const std::string& name, int64_t generation,
                                                    const std::string& owner, int64_t from,
                                                    int64_t to, int64_t now, int64_t lease_ms);

  // Lets a failed copy go on from its failed position (the event is tried again).
  static Status ClearFailure(eventstore::Transaction& tx, const std::string& name,
                             int64_t generation, int64_t now);

  static Status MarkFailed(eventstore::Transaction& tx, const std::string& name, int64_t generation,
                           int64_t failed_position, const std::string& error, int64_t now);

  // Document writes, inside the batch's transaction. `indexes` gives `structured`.
  static Status Upsert(eventstore::Transaction& tx, const std::string& table,
                       const std::string& key, const core::Json& doc,
                       const std::vector<std::string>& indexes);
  static Status Delete(eventstore::Transaction& tx, const std::string& table,
                       const std::string& key);

  // Reads documents by key from a reader connection; absent keys are absent from the result.
  static Result<std::vector<std::pair<std::string, std::string>>> ReadDocuments(
      eventstore::EventStore& store, const std::string& table,
      const std::vector<std::string>& keys);

  // Gathers the query planner's statistics of a document table (without them SQLite
  // guesses, and may sort thousands of rows a LIMIT 50 could read from an index) and
  // makes every connection load them. Holds the write lock for about 150 ms per
  // million documents.
  static Status Analyze(eventstore::Transaction& tx, const std::string& table);

  struct TableSize {
    int64_t rows = 0;
    int64_t analyzed_rows = 0;  // the row count when statistics were gathered, or 0
  };
  static Result<TableSize> Size(eventstore::EventStore& store, const std::string& table);

  // The quoted SQL identifier of an indexed field's column.
  static std::string FieldColumn(const std::string& field);
};

}  // namespace rivulet::projections
