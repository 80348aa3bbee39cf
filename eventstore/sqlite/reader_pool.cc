#include "eventstore/sqlite/reader_pool.h"

namespace rivulet::eventstore::sqlite {

ReaderPool::Lease::~Lease() {
  if (conn_) pool_->Release(std::move(conn_));
}

ReaderPool::ReaderPool(Connection::Options options, size_t max_idle)
    : options_(std::move(options)), max_idle_(max_idle) {
  options_.reader = true;
}

Result<ReaderPool::Lease> ReaderPool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
  }
  auto conn = Connection::Open(options_);
  if (!conn.ok()) return conn.status();
  return Lease(this, std::move(conn).value());
}

void ReaderPool::Release(std::unique_ptr<Connection> conn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(conn));
}

}  // namespace rivulet::eventstore::sqlite
