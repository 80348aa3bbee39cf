#pragma once

#include <sqlite3.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"
#include "eventstore/sql.h"
#include "eventstore/sqlite/read_only_latch.h"

namespace rivulet::eventstore::sqlite {

// One SQLite connection and its cache of prepared statements. Not thread-safe: a
// connection belongs to one thread at a time (the writer thread, or a reader that
// leased it from the pool). Closing finalizes every cached statement.
class Connection {
 public:
  struct Options {
    std::string path;
    std::string vfs;  // empty: SQLite's default VFS
    bool reader = false;
    int busy_timeout_ms = 10'000;
    // Closed with DataLoss when any statement on this connection finds the file corrupt.
    ReadOnlyLatch* latch = nullptr;
  };

  static Result<std::unique_ptr<Connection>> Open(const Options& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* db() const { return db_; }

  // A cached prepared statement, reset and with bindings cleared. Callers reset it
  // again when done (StatementReset does that on scope exit).
  Result<sqlite3_stmt*> Prepare(std::string_view sql);

  // Runs one or more statements without parameters (migrations, pragmas).
  Status ExecScript(const std::string& sql);

  // Runs one statement to completion with $N-bound parameters.
  Status Execute(std::string_view sql, const SqlParams& params);
  Result<SqlRows> Query(std::string_view sql, const SqlParams& params);
  // Prepares `sql` for this call only (not cached) and streams its rows.
  Status QueryEach(std::string_view sql, const SqlParams& params,
                   const std::function<bool(const SqlRow&)>& on_row);

  // A Status for a failed SQLite call: Unavailable for busy/locked, I/O errors and a
  // read-only file (reason "read_only"), DataLoss for a corrupt file (which also closes the latch),
  // Aborted for constraint violations, InvalidArgument for SQL errors, Internal
  // otherwise; the message carries SQLite's own text.
  Status Error(int rc, std::string_view what) const;

 private:
  Connection(sqlite3* db, const Options& options)
      : db_(db), path_(options.path), latch_(options.latch) {}

  sqlite3* db_;
  std::string path_;
  ReadOnlyLatch* latch_;
  std::map<std::string, sqlite3_stmt*, std::less<>> statements_;
};

// Binds params to `$1`, `$2`, ... (or `?`, positionally).
Status BindParams(sqlite3_stmt* stmt, const SqlParams& params);

// True for the errors after which SQLite may have rolled back the transaction and the
// state on disk is uncertain: I/O, disk full, corruption, out of memory, a file that
// turned read-only.
bool IsFatalWriteError(int rc);

// Resets a statement when leaving scope, so it never holds a read snapshot open.
class StatementReset {
 public:
  explicit StatementReset(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StatementReset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StatementReset(const StatementReset&) = delete;
  StatementReset& operator=(const StatementReset&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

inline std::string_view ColumnText(sqlite3_stmt* stmt, int col) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
  return text == nullptr
             ? std::string_view()
             : std::string_view(text, static_cast<size_t>(sqlite3_column_bytes(stmt, col)));
}

inline std::string_view ColumnBlob(sqlite3_stmt* stmt, int col) {
  const auto* blob = static_cast<const char*>(sqlite3_column_blob(stmt, col));
  return blob == nullptr
             ? std::string_view()
             : std::string_view(blob, static_cast<size_t>(sqlite3_column_bytes(stmt, col)));
}

}  // namespace rivulet::eventstore::sqlite
