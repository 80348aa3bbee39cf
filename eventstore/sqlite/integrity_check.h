#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "core/status.h"
#include "eventstore/sqlite/read_only_latch.h"
#include "eventstore/sqlite/sqlite_connection.h"

namespace rivulet::eventstore::sqlite {

// `PRAGMA quick_check` of the database `conn` is open on: the structure of every page
// (b-tree order, cell bounds, free list), without matching indexes to tables. It reads
// the whole file: about 1.6 s for 565 MB from the page cache on the 2-core development
// VM, 25 s from a cold disk. Ok, or DataLoss naming `path` and the first problems.
Status QuickCheck(Connection& conn, const std::string& path);

// Runs QuickCheck on a thread of its own, on its own connection, and closes `latch`
// with DataLoss if the file is corrupt: for a server whose file is too large to check
// before it starts. While it runs it holds a read snapshot, so the WAL cannot be
// checkpointed past it. Destruction interrupts the check and joins the thread.
class BackgroundQuickCheck {
 public:
  BackgroundQuickCheck(std::unique_ptr<Connection> conn, std::string path, ReadOnlyLatch& latch);
  ~BackgroundQuickCheck();
  BackgroundQuickCheck(const BackgroundQuickCheck&) = delete;
  BackgroundQuickCheck& operator=(const BackgroundQuickCheck&) = delete;

  // True once the check has finished (whatever it found).
  bool done() const { return done_.load(std::memory_order_acquire); }

 private:
  std::unique_ptr<Connection> conn_;
  std::string path_;
  ReadOnlyLatch& latch_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace rivulet::eventstore::sqlite
