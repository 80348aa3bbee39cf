#include "eventstore/sqlite/sqlite_connection.h"

#include <cerrno>
#include <cstring>

#include "core/status_macros.h"

namespace rivulet::eventstore::sqlite {

Result<std::unique_ptr<Connection>> Connection::Open(const Options& options) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(options.path.c_str(), &db, flags,
                           options.vfs.empty() ? nullptr : options.vfs.c_str());
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    const int system_errno = db ? sqlite3_system_errno(db) : 0;
    sqlite3_close_v2(db);
    // A folder that is not there or may not be written waits for a person.
    if ((rc & 0xff) == SQLITE_CANTOPEN &&
        (system_errno == ENOENT || system_errno == EACCES || system_errno == EPERM ||
         system_errno == EROFS || system_errno == ENOTDIR)) {
      return Status::FailedPrecondition("cannot open database " + options.path + ": " + message +
                                        " (" + std::strerror(system_errno) +
                                        "); create its folder and let the user rivulet runs as "
                                        "write there");
    }
    return Status::Unavailable("cannot open database " + options.path + ": " + message);
  }
  std::unique_ptr<Connection> conn(new Connection(db, options));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  if (options.reader) {
    RETURN_IF_ERROR(conn->ExecScript("PRAGMA query_only=ON; PRAGMA mmap_size=268435456;"));
  }
  return conn;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Result<sqlite3_stmt*> Connection::Prepare(std::string_view sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
  if (rc != SQLITE_OK) return Error(rc, "prepare \"" + std::string(sql.substr(0, 80)) + "\"");
  if (stmt == nullptr) return Status::InvalidArgument("empty SQL statement");
  if (tail != nullptr &&
      std::string_view(tail).find_first_not_of(" \t\r\n;") != std::string_view::npos) {
    sqlite3_finalize(stmt);
    return Status::InvalidArgument("one statement at a time: \"" + std::string(sql.substr(0, 80)) +
                                   "\"");
  }
  statements_.emplace(std::string(sql), stmt);
  return stmt;
}

Status Connection::ExecScript(const std::string& sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string text = message ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    Status base = Error(rc, "exec");
    return Status(base.code(), text);
  }
  return Status::Ok();
}

Status Connection::Execute(std::string_view sql, const SqlParams& params) {
  ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Prepare(sql));
  StatementReset reset(stmt);
  RETURN_IF_ERROR(BindParams(stmt, params));
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) return Error(rc, "execute");
  return Status::Ok();
}

namespace {
void ReadRow(sqlite3_stmt* stmt, int columns, SqlRow& row) {
  row.clear();
  for (int c = 0; c < columns; ++c) {
    switch (sqlite3_column_type(stmt, c)) {
      case SQLITE_INTEGER:
        row.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt, c)));
        break;
      case SQLITE_FLOAT:
        row.emplace_back(sqlite3_column_double(stmt, c));
        break;
      case SQLITE_TEXT:
        row.emplace_back(std::string(ColumnText(stmt, c)));
        break;
      case SQLITE_BLOB:
        row.emplace_back(SqlBlob{std::string(ColumnBlob(stmt, c))});
        break;
      default:
        row.emplace_back(nullptr);
        break;
    }
  }
}
}  // namespace

Result<SqlRows> Connection::Query(std::string_view sql, const SqlParams& params) {
  ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Prepare(sql));
  StatementReset reset(stmt);
  RETURN_IF_ERROR(BindParams(stmt, params));
  SqlRows rows;
  int columns = sqlite3_column_count(stmt);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) ReadRow(stmt, columns, rows.emplace_back());
  if (rc != SQLITE_DONE) return Error(rc, "query");
  return rows;
}

Status Connection::QueryEach(std::string_view sql, const SqlParams& params,
                             const std::function<bool(const SqlRow&)>& on_row) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(rc, "prepare \"" + std::string(sql.substr(0, 80)) + "\"");
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owned(stmt, &sqlite3_finalize);
  RETURN_IF_ERROR(BindParams(stmt, params));
  int columns = sqlite3_column_count(stmt);
  SqlRow row;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    ReadRow(stmt, columns, row);
    if (!on_row(row)) return Status::Ok();
  }
  if (rc != SQLITE_DONE) return Error(rc, "query");
  return Status::Ok();
}

Status Connection::Error(int rc, std::string_view what) const {
  std::string message = std::string(what) + ": " + sqlite3_errmsg(db_);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable("database is locked (" + message + ")");
    case SQLITE_CONSTRAINT:
      return Status::Aborted(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: {
      Status corrupt = Status::DataLoss(
          "the database file " + path_ + " is corrupt (" + message +
          "); the store refuses writes. Stop rivulet, keep a copy of the file and its -wal, "
          "and restore from a backup or an export (docs/operations.md, \"Corruption\")");
      if (latch_ != nullptr) latch_->Set(corrupt);
      return corrupt;
    }
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      // Not something that passes by itself: a person fixes the permissions, then restarts.
      return Status::FailedPrecondition("the database file " + path_ + " cannot be written (" +
                                        message +
                                        "); check its permissions, its folder's, and the file "
                                        "system")
          .WithReason("read_only");
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_NOMEM:
      return Status::Unavailable(message);
    case SQLITE_ERROR:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
      return Status::InvalidArgument(message);
    default:
      return Status::Internal(message);
  }
}

Status BindParams(sqlite3_stmt* stmt, const SqlParams& params) {
  int count = sqlite3_bind_parameter_count(stmt);
  for (int i = 1; i <= count; ++i) {
    const char* name = sqlite3_bind_parameter_name(stmt, i);
    size_t k = static_cast<size_t>(i);
    if (name != nullptr) {
      std::string_view n(name);
      if (n.size() < 2 || (n[0] != '$' && n[0] != '?') ||
          n.find_first_not_of("0123456789", 1) != std::string_view::npos) {
        return Status::InvalidArgument("use $1, $2, ... for parameters, not " + std::string(n));
      }
      k = std::stoul(std::string(n.substr(1)));
    }
    if (k < 1 || k > params.size()) {
      return Status::InvalidArgument("statement uses parameter " + std::to_string(k) + " but " +
                                     std::to_string(params.size()) + " were given");
    }
    const SqlValue& v = params[k - 1];
    int rc = SQLITE_OK;
    if (std::holds_alternative<std::nullptr_t>(v)) {
      rc = sqlite3_bind_null(stmt, i);
    } else if (auto* iv = std::get_if<int64_t>(&v)) {
      rc = sqlite3_bind_int64(stmt, i, *iv);
    } else if (auto* dv = std::get_if<double>(&v)) {
      rc = sqlite3_bind_double(stmt, i, *dv);
    } else if (auto* sv = std::get_if<std::string>(&v)) {
      rc = sqlite3_bind_text64(stmt, i, sv->data(), sv->size(), SQLITE_STATIC, SQLITE_UTF8);
    } else if (auto* bv = std::get_if<SqlBlob>(&v)) {
      rc = sqlite3_bind_blob64(stmt, i, bv->bytes.data(), bv->bytes.size(), SQLITE_STATIC);
    }
    if (rc != SQLITE_OK) return Status::Internal(std::string("bind: ") + sqlite3_errstr(rc));
  }
  return Status::Ok();
}

bool IsFatalWriteError(int rc) {
  switch (rc & 0xff) {
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_NOMEM:
    case SQLITE_CANTOPEN:
      return true;
    default:
      return false;
  }
}

}  // namespace rivulet::eventstore::sqlite
