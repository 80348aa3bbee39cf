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
  // Appends and imports refuse events larger than this (CheckEventSize); the runtime
  // passes server.max_body, so no path stores what the HTTP API would refuse.
  size_t max_event_bytes = kDefaultMaxEventBytes;
  // Hold the ServeLock for the life of the store: `rivulet serve` sets it, so a
  // second server on the same file fails to open with FailedPrecondition.
  bool serve_lock = false;
  // Run `PRAGMA quick_check` (QuickCheck; it reads every page): a file of at most
  // `check_before_open_bytes` is checked before the open returns, and a corrupt one is
  // refused with DataLoss; a larger one is checked in the background after the open,
  // and corruption found then refuses writes from that moment (Health reports it).
  bool check_integrity = false;
  uint64_t check_before_open_bytes = 256ull << 20;
};

// Opens (creating and migrating if needed) the embedded store: one SQLite file in WAL
// mode with synchronous=FULL, written by one writer thread with group commit, read
// through a pool of reader connections. Several processes may open the same file
// (only one of them with `serve_lock`).
// Errors: FailedPrecondition if its folder is missing or may not be written, if its
// schema is newer than this binary, or if another server holds the serve lock;
// Unavailable if the file cannot be opened for another reason (it may pass); DataLoss if
// the file is corrupt.
//
// A store opened on a file it cannot write (read-only file, folder or mount) serves
// reads and refuses writes with FailedPrecondition (reason "read_only": a person must
// fix the permissions and restart); one whose file turns out corrupt on any statement
// refuses writes with DataLoss; Health() returns either until reopened.
Result<std::unique_ptr<EventStore>> OpenSqliteEventStore(const SqliteStoreOptions& options);

}  // namespace rivulet::eventstore::sqlite
