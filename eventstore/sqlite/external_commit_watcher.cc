#include "eventstore/sqlite/external_commit_watcher.h"

namespace rivulet::eventstore::sqlite {

ExternalCommitWatcher::ExternalCommitWatcher(std::unique_ptr<Connection> conn,
                                             HeadNotifier& notifier,
                                             std::chrono::milliseconds interval)
    : conn_(std::move(conn)),
      notifier_(notifier),
      interval_(interval),
      thread_([this] { Run(); }) {}

ExternalCommitWatcher::~ExternalCommitWatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ExternalCommitWatcher::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, interval_, [&] { return stopping_; });
    if (stopping_) return;
    if (notifier_.waiters() == 0) continue;
    lock.unlock();
    Check();
    lock.lock();
  }
}

void ExternalCommitWatcher::Check() {
  auto stmt = conn_->Prepare("PRAGMA data_version");
  if (!stmt.ok()) return;
  int64_t version = -1;
  {
    StatementReset reset(*stmt);
    if (sqlite3_step(*stmt) != SQLITE_ROW) return;
    version = sqlite3_column_int64(*stmt, 0);
  }
  if (version == data_version_) return;
  data_version_ = version;
  auto head = conn_->Prepare("SELECT max(position) FROM events");
  if (!head.ok()) return;
  StatementReset reset(*head);
  if (sqlite3_step(*head) == SQLITE_ROW) notifier_.Publish(sqlite3_column_int64(*head, 0));
}

}  // namespace rivulet::eventstore::sqlite
