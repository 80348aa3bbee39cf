#pragma once

#include <vector>

#include "eventstore/sql.h"

namespace rivulet::eventstore::sqlite {

// The store's tables on SQLite.
//
// events: one row per event, never updated or deleted (triggers reject both).
//   position     INTEGER PRIMARY KEY  the rowid: 1-based, assigned in commit order by the
//                                     single writer; never reused since rows never go away
//   stream       TEXT                 stream name
//   version      INTEGER              0-based place in the stream; UNIQUE (stream, version)
//   id           BLOB(16)             the event UUID, raw bytes; UNIQUE
//   type         TEXT
//   data         TEXT                 JSON object
//   metadata     TEXT                 JSON object
//   recorded_at  INTEGER              commit time, ms since the epoch, never decreasing
//
// schema_migrations: (component, version) applied, with when and what.
inline constexpr const char* kBootstrapSql =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "  component TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  description TEXT NOT NULL,"
    "  applied_at INTEGER NOT NULL,"
    "  PRIMARY KEY (component, version)"
    ") WITHOUT ROWID;";

const std::vector<Migration>& EventStoreMigrations();

}  // namespace rivulet::eventstore::sqlite
