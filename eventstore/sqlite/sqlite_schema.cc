#include "eventstore/sqlite/sqlite_schema.h"

namespace rivulet::eventstore::sqlite {

const std::vector<Migration>& EventStoreMigrations() {
  static const std::vector<Migration>* migrations = new std::vector<Migration>{
      {1, "events table, append-only",
       "CREATE TABLE events ("
       "  position INTEGER PRIMARY KEY,"
       "  stream TEXT NOT NULL,"
       "  version INTEGER NOT NULL,"
       "  id BLOB NOT NULL,"
       "  type TEXT NOT NULL,"
       "  data TEXT NOT NULL,"
       "  metadata TEXT NOT NULL,"
       "  recorded_at INTEGER NOT NULL,"
       "  UNIQUE (stream, version)"
       ");"
       "CREATE UNIQUE INDEX events_id ON events (id);"
       "CREATE TRIGGER events_no_update BEFORE UPDATE ON events"
       "  BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed'); END;"
       "CREATE TRIGGER events_no_delete BEFORE DELETE ON events"
       "  BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed'); END;"},
  };
  return *migrations;
}

}  // namespace rivulet::eventstore::sqlite
