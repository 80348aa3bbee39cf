#pragma once

#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

typedef struct pg_conn PGconn;

namespace rivulet::testing {

// A private PostgreSQL 15 for a test: initdb (under the postgres user, with runuser,
// since PostgreSQL refuses root) in a temporary directory, wal_level=logical, on a free
// loopback port; started when constructed (throws otherwise), stopped and removed on
// destruction.
class PostgresServer {
 public:
  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  std::string url() const;  // postgresql://postgres@127.0.0.1:PORT/postgres
  int port() const { return port_; }

  // Runs SQL (several statements allowed when there are no params); throws on error.
  // Returns the rows of the last statement as text (NULL as "<null>").
  std::vector<std::vector<std::string>> Exec(const std::string& sql,
                                             const std::vector<std::string>& params = {});
  // A single value.
  std::string Value(const std::string& sql, const std::vector<std::string>& params = {});

  void Restart();  // a fast shutdown and a start; connections are cut
  void Stop();
  void Start();

 private:
  PGconn* Connection();

  TempDir dir_;
  int port_;
  std::string data_;
  PGconn* conn_ = nullptr;
  bool running_ = false;
};

}  // namespace rivulet::testing
