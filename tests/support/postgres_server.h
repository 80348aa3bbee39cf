#pragma once

#include <chrono>
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

  // Stop(stop_timeout), then Start; connections are cut.
  void Restart(std::chrono::seconds stop_timeout = std::chrono::seconds(60));
  // A fast shutdown (pg_ctl stop -m fast), waiting at most `timeout` for it. When it
  // does not finish in time this throws, saying so with the end of the server's log;
  // the server is then still stopped (immediate mode) when this object is destroyed.
  void Stop(std::chrono::seconds timeout = std::chrono::seconds(60));
  void Start();
  std::string LogTail(size_t lines) const;  // the last lines of the server's log

 private:
  PGconn* Connection();

  TempDir dir_;
  int port_;
  std::string data_;
  PGconn* conn_ = nullptr;
  bool running_ = false;
};

}  // namespace rivulet::testing
