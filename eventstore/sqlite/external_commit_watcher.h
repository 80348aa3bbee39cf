#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "eventstore/head_notifier.h"
#include "eventstore/sqlite/sqlite_connection.h"

namespace rivulet::eventstore::sqlite {

// Notices commits made by other processes on the same database file (the CLI appending
// while `rivulet serve` runs, or the reverse) and publishes the new head, so their
// change-stream readers wake within one interval. Commits in this process never wait
// for it: the writer publishes them directly. It only queries the database while
// someone is waiting, and then only `PRAGMA data_version`, which changes exactly when
// another connection has committed. Thread-safe.
class ExternalCommitWatcher {
 public:
  ExternalCommitWatcher(std::unique_ptr<Connection> conn, HeadNotifier& notifier,
                        std::chrono::milliseconds interval);
  ~ExternalCommitWatcher();

 private:
  void Run();
  void Check();

  std::unique_ptr<Connection> conn_;
  HeadNotifier& notifier_;
  std::chrono::milliseconds interval_;
  int64_t data_version_ = -1;  // watcher thread only
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace rivulet::eventstore::sqlite
