#include "eventstore/sqlite/background_checkpointer.h"

namespace rivulet::eventstore::sqlite {

BackgroundCheckpointer::BackgroundCheckpointer(std::unique_ptr<Connection> conn)
    : conn_(std::move(conn)), thread_([this] { Run(); }) {}

BackgroundCheckpointer::~BackgroundCheckpointer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BackgroundCheckpointer::OnCommit(int wal_pages) {
  if (wal_pages < kWalPagesThreshold) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (requested_) return;
    requested_ = true;
  }
  cv_.notify_one();
}

void BackgroundCheckpointer::Run() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return requested_ || stopping_; });
      if (stopping_) return;
      requested_ = false;
    }
    // Best effort: a checkpoint that cannot finish now (readers on old frames) is
    // simply retried after a later commit.
    sqlite3_wal_checkpoint_v2(conn_->db(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }
}

}  // namespace rivulet::eventstore::sqlite
