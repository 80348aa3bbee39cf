#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "eventstore/sqlite/sqlite_connection.h"

namespace rivulet::eventstore::sqlite {

// Read-only connections handed out one per concurrent reader and kept for reuse (each
// keeps its prepared statements warm). Thread-safe.
class ReaderPool {
 public:
  // Returns the connection to the pool when destroyed.
  class Lease {
   public:
    Lease(ReaderPool* pool, std::unique_ptr<Connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection* operator->() const { return conn_.get(); }
    Connection& operator*() const { return *conn_; }

   private:
    ReaderPool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  ReaderPool(Connection::Options options, size_t max_idle);

  Result<Lease> Acquire();

 private:
  void Release(std::unique_ptr<Connection> conn);

  Connection::Options options_;
  size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;  // GUARDED_BY(mu_)
};

}  // namespace rivulet::eventstore::sqlite
