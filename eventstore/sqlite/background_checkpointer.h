#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "eventstore/sqlite/sqlite_connection.h"

namespace rivulet::eventstore::sqlite {

// Copies the WAL back into the database file off the writer thread. SQLite would
// otherwise checkpoint inside whichever COMMIT crosses 1,000 WAL pages, stalling that
// group for the length of a database-file fsync. PASSIVE checkpoints never block
// writers or readers. Thread-safe.
class BackgroundCheckpointer {
 public:
  static constexpr int kWalPagesThreshold = 1000;

  explicit BackgroundCheckpointer(std::unique_ptr<Connection> conn);
  ~BackgroundCheckpointer();

  // Called after each commit with the WAL size in pages.
  void OnCommit(int wal_pages);

 private:
  void Run();

  std::unique_ptr<Connection> conn_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool requested_ = false;  // GUARDED_BY(mu_)
  bool stopping_ = false;   // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace rivulet::eventstore::sqlite
