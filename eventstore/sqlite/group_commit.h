#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "eventstore/event_store.h"
#include "eventstore/head_notifier.h"
#include "eventstore/sqlite/read_only_latch.h"
#include "eventstore/sqlite/sqlite_connection.h"
#include "eventstore/sqlite/sqlite_transaction.h"
#include "eventstore/store_metrics.h"

namespace rivulet::eventstore::sqlite {

// The one writer thread: it owns the write connection and commits the write units that
// queue up while it is busy as one transaction (group commit), each unit under its own
// savepoint so that one unit's error rolls back only that unit. Callers block in Submit
// until their unit is durable (synchronous=FULL: the WAL is fsynced before COMMIT
// returns) or has failed.
//
// After a commit fails, or a statement fails in a way that may have cost the
// transaction (I/O error, disk full, corruption, a file that cannot be written), the
// latch closes and every later Submit fails with its reason until the store is
// reopened: FailedPrecondition (what reached the disk is unknown; or, with reason
// "read_only", the file cannot be written) or DataLoss (the file is corrupt; any connection may
// close the latch for that).
//
// The sole appender in flight spins for its completion instead of sleeping,
// and the writer spins briefly for that appender's next unit: on a virtual machine a
// futex wake-up costs ~20 us on each side, more than the rest of the append. Concurrent
// appenders block, and the writer wakes them; every alternative measured on 2 cores
// (broadcasts, a waker thread, yielding spinners, gathering larger groups) was slower.
// See the module README.
//
// Thread-safe. Destruction drains the queue, then stops the thread.
class GroupCommitter {
 public:
  struct Options {
    core::Clock* clock = nullptr;
    size_t max_group_units = 1024;
    StoreMetrics* metrics = nullptr;
    HeadNotifier* notifier = nullptr;
    ReadOnlyLatch* latch = nullptr;  // shared with the store's other connections
    size_t max_event_bytes = kDefaultMaxEventBytes;
  };

  GroupCommitter(std::unique_ptr<Connection> conn, Options options);
  ~GroupCommitter();

  // Runs `unit` in the next group; returns its own error, or the group's if the group
  // failed to commit.
  Status Submit(const WriteUnit& unit);

  void AddHook(AppendHook hook);
  // The commit time never goes backwards, even if the wall clock does.
  void SetLastRecordedAt(int64_t millis);
  // Ok, or why the store refuses writes.
  Status write_error() const { return options_.latch->Get(); }

 private:
  struct Pending {
    const WriteUnit* unit;
    Status status;  // written before `done`
    std::atomic<bool> done{false};
    bool blocked = false;  // GUARDED_BY(mu): the caller sleeps on cv
    std::mutex mu;
    std::condition_variable cv;
  };

  // Waits for `pending`: the sole appender in flight spins first, then everyone blocks.
  void AwaitCompletion(Pending& pending, bool alone);
  // Takes the next group off the queue, waiting for one if needed. False when stopping
  // and drained.
  bool NextGroup(std::vector<Pending*>& group, Status& refused);
  void Run();
  void ExecuteGroup(std::vector<Pending*>& group);
  // Ends a group whose transaction cannot commit: rolls back, fails every unit that had
  // not failed on its own with `error`, and closes the latch if `fatal`.
  void AbortGroup(std::vector<Pending*>& group, std::vector<Status>& results, size_t executed,
                  const Status& error, bool fatal);
  Status Step(sqlite3_stmt* stmt, const char* what);
  static void Complete(Pending* pending, Status status);

  std::unique_ptr<Connection> conn_;
  Options options_;
  SqliteTransaction tx_;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* savepoint_ = nullptr;
  sqlite3_stmt* release_ = nullptr;
  sqlite3_stmt* rollback_to_ = nullptr;
  int64_t last_recorded_at_ = 0;   // writer thread only, after start
  size_t last_group_size_ = 0;     // writer thread only
  std::atomic<size_t> queued_{0};  // mirrors queue_.size() for lock-free spinning
  std::atomic<int> callers_{0};    // appenders inside Submit

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending*> queue_;                           // GUARDED_BY(mu_)
  bool stopping_ = false;                                 // GUARDED_BY(mu_)
  bool writer_sleeping_ = false;                          // GUARDED_BY(mu_)
  std::shared_ptr<const std::vector<AppendHook>> hooks_;  // GUARDED_BY(mu_); copy-on-write
  std::thread thread_;
};

}  // namespace rivulet::eventstore::sqlite
