#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/metrics.h"
#include "eventstore/event_store.h"

namespace rivulet::eventstore::sqlite {

struct SqliteStoreOptions {
  std::string path;                                // the database file; created if missing
  std::string vfs;                                 // SQLite VFS name; tests inject faults here
  core::Clock* clock = nullptr;                    // commit times; default: the system clock
  core::MetricsRegistry* metrics = nullptr;        // default: a registry owned by the store
  size_t max_group_units = 1024;                   // write units per transaction at most
  std::chrono::milliseconds busy_timeout{10'000};  // waiting for another process's lock
  std::chrono::milliseconds external_poll_interval{50};  // see ExternalCommitWatcher
  size_t max_idle_readers = 32;
};

// Opens (creating and migrating if needed) the embedded store: one SQLite file in WAL
// mode with synchronous=FULL, written by one writer thread with group commit, read
// through a pool of reader connections. Several processes may open the same file.
// Errors: Unavailable if the file cannot be opened, FailedPrecondition if its schema is
// newer than this binary.
Result<std::unique_ptr<EventStore>> OpenSqliteEventStore(const SqliteStoreOptions& options);

}  // namespace rivulet::eventstore::sqlite
