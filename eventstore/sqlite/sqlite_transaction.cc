#include "eventstore/sqlite/sqlite_transaction.h"

#include "core/status_macros.h"
#include "eventstore/log_position.h"

namespace rivulet::eventstore::sqlite {

namespace {
constexpr const char* kCurrentVersionSql =
    "SELECT version FROM events WHERE stream = ?1 ORDER BY version DESC LIMIT 1";
constexpr const char* kFindIdSql = "SELECT stream, version, position FROM events WHERE id = ?1";
constexpr const char* kInsertSql =
    "INSERT INTO events (stream, version, id, type, data, metadata, recorded_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

struct StoredId {
  std::string stream;
  int64_t version;
  int64_t position;
};

Status BeyondMaxPosition(int64_t position, std::string_view consequence) {
  return Status::ResourceExhausted(
             "position " + std::to_string(position) + " is beyond the largest position " +
             std::to_string(kMaxPosition) +
             " (2^53 - 1, the largest integer JSON carries exactly); " + std::string(consequence))
      .WithReason("positions_exhausted");
}
}  // namespace

void SqliteTransaction::Reset(int64_t now_millis, const std::vector<AppendHook>* hooks) {
  now_millis_ = now_millis;
  hooks_ = hooks;
  max_position_ = 0;
  appends_ = 0;
  events_appended_ = 0;
  conflicts_ = 0;
  fatal_error_ = 0;
  fatal_status_ = Status::Ok();
}

Status SqliteTransaction::Track(Status status) {
  if (!status.ok()) {
    int rc = sqlite3_extended_errcode(conn_.db());
    if (IsFatalWriteError(rc) && fatal_error_ == 0) {
      fatal_error_ = rc;
      fatal_status_ = status;
    }
  }
  return status;
}

Result<int64_t> SqliteTransaction::CurrentVersion(const std::string& stream) {
  ASSIGN_OR_RETURN(sqlite3_stmt * stmt, conn_.Prepare(kCurrentVersionSql));
  StatementReset reset(stmt);
  sqlite3_bind_text(stmt, 1, stream.data(), static_cast<int>(stream.size()), SQLITE_STATIC);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) return static_cast<int64_t>(sqlite3_column_int64(stmt, 0));
  if (rc == SQLITE_DONE) return int64_t{-1};
  return Track(conn_.Error(rc, "read stream version"));
}

// Where each event id of `append` is stored, or nullopt for ids not stored.
Result<AppendResult> SqliteTransaction::ReplayResult(const PreparedAppend& append) {
  ASSIGN_OR_RETURN(sqlite3_stmt * stmt, conn_.Prepare(kFindIdSql));
  std::vector<std::optional<StoredId>> stored;
  for (const PreparedEvent& event : append.events) {
    StatementReset reset(stmt);
    sqlite3_bind_blob(stmt, 1, event.id.bytes().data(), 16, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      stored.push_back(StoredId{std::string(ColumnText(stmt, 0)), sqlite3_column_int64(stmt, 1),
                                sqlite3_column_int64(stmt, 2)});
    } else if (rc == SQLITE_DONE) {
      stored.push_back(std::nullopt);
    } else {
      return Track(conn_.Error(rc, "look up event id"));
    }
  }
  // SPEC 2.4: a re-sent append is recognised when every id is stored in this stream at
  // consecutive versions, starting where the expected version says the append went.
  const auto& first = stored[0];
  bool same = first && first->stream == append.stream;
  for (size_t i = 1; same && i < stored.size(); ++i) {
    same = stored[i] && stored[i]->stream == append.stream &&
           stored[i]->version == first->version + static_cast<int64_t>(i);
  }
  if (same) {
    switch (append.expected.kind()) {
      case ExpectedVersion::Kind::kNoStream:
        same = first->version == 0;
        break;
      case ExpectedVersion::Kind::kExact:
        same = first->version == append.expected.version() + 1;
        break;
      default:
        break;
    }
  }
  if (!same) {
    for (size_t i = 0; i < stored.size(); ++i) {
      if (!stored[i]) continue;
      ++conflicts_;
      return Status::Aborted("event id " + append.events[i].id.ToString() +
                             " is already stored in stream " + stored[i]->stream + " at version " +
                             std::to_string(stored[i]->version) +
                             "; re-sending an append is only idempotent with the same ids, stream "
                             "and versions")
          .WithReason("conflict", core::Json{{"id", append.events[i].id.ToString()},
                                             {"stream", stored[i]->stream},
                                             {"version", stored[i]->version}});
    }
  }
  AppendResult result;
  result.stream = append.stream;
  result.first_version = first->version;
  result.last_version = stored.back()->version;
  result.position = stored.back()->position;
  result.deduplicated = true;
  return result;
}

Status SqliteTransaction::IdConflict(const PreparedEvent& event) {
  ++conflicts_;
  auto rows = conn_.Query(kFindIdSql, {SqlBlob{std::string(event.id.bytes_view())}});
  if (!rows.ok() || rows->empty()) {
    // Not the id: the (stream, version) key, which the single writer never reuses.
    return Status::Internal("unique constraint failed inserting event " + event.id.ToString());
  }
  const auto& stream = std::get<std::string>((*rows)[0][0]);
  int64_t version = std::get<int64_t>((*rows)[0][1]);
  return Status::Aborted("event id " + event.id.ToString() + " is already stored in stream " +
                         stream + " at version " + std::to_string(version))
      .WithReason(
          "conflict",
          core::Json{{"id", event.id.ToString()}, {"stream", stream}, {"version", version}});
}

Result<AppendResult> SqliteTransaction::Append(const PreparedAppend& append) {
  for (size_t i = 0; i < append.events.size(); ++i) {
    const PreparedEvent& e = append.events[i];
    const size_t bytes = StoredEventBytes(e.type, e.data, e.metadata);
    if (bytes <= max_event_bytes_) continue;  // the common case builds no message
    Status size = CheckEventSize("events[" + std::to_string(i) + "]", bytes, max_event_bytes_);
    core::Json details = size.details();
    details["index"] = i;
    return size.WithReason("too_large", std::move(details));
  }
  if (append.any_client_supplied_id && append.events[0].client_supplied_id) {
    // One lookup decides whether this is a re-sent append; later ids that collide are
    // caught by the unique index below.
    ASSIGN_OR_RETURN(sqlite3_stmt * stmt, conn_.Prepare(kFindIdSql));
    StatementReset reset(stmt);
    sqlite3_bind_blob(stmt, 1, append.events[0].id.bytes().data(), 16, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      sqlite3_reset(stmt);
      return ReplayResult(append);
    }
    if (rc != SQLITE_DONE) return Track(conn_.Error(rc, "look up event id"));
  }

  ASSIGN_OR_RETURN(int64_t current, CurrentVersion(append.stream));
  if (!append.expected.IsSatisfiedBy(current)) {
    ++conflicts_;
    std::string actual =
        current < 0 ? "does not exist" : "is at version " + std::to_string(current);
    return Status::Aborted("stream " + append.stream + ": expected version " +
                           append.expected.ToString() + ", but the stream " + actual)
        .WithReason("wrong_expected_version", core::Json{{"expected", append.expected.ToJson()},
                                                         {"actual", ActualVersionToJson(current)}});
  }

  ASSIGN_OR_RETURN(sqlite3_stmt * insert, conn_.Prepare(kInsertSql));
  AppendResult result;
  result.stream = append.stream;
  result.first_version = current + 1;
  std::vector<RecordedEvent> recorded;
  const bool want_recorded = hooks_ != nullptr && !hooks_->empty();
  if (want_recorded) recorded.reserve(append.events.size());
  int64_t version = current;
  for (const PreparedEvent& event : append.events) {
    ++version;
    StatementReset reset(insert);
    sqlite3_bind_text(insert, 1, append.stream.data(), static_cast<int>(append.stream.size()),
                      SQLITE_STATIC);
    sqlite3_bind_int64(insert, 2, version);
    sqlite3_bind_blob(insert, 3, event.id.bytes().data(), 16, SQLITE_STATIC);
    sqlite3_bind_text(insert, 4, event.type.data(), static_cast<int>(event.type.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(insert, 5, event.data.data(), static_cast<int>(event.data.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(insert, 6, event.metadata.data(), static_cast<int>(event.metadata.size()),
                      SQLITE_STATIC);
    sqlite3_bind_int64(insert, 7, now_millis_);
    int rc = sqlite3_step(insert);
    if (rc != SQLITE_DONE) {
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        sqlite3_reset(insert);
        return IdConflict(event);
      }
      return Track(conn_.Error(rc, "insert event"));
    }
    int64_t position = sqlite3_last_insert_rowid(conn_.db());
    // The rowid after kMaxPosition is still exact in SQLite, but not in JSON; the unit
    // rolls back to its savepoint, so nothing of this append stays.
    if (position > kMaxPosition) {
      return BeyondMaxPosition(position, "the log takes no more events");
    }
    result.position = position;
    if (want_recorded) {
      recorded.push_back(RecordedEvent{position, append.stream, version, event.id, event.type,
                                       event.data, event.metadata, now_millis_});
    }
  }
  result.last_version = version;
  if (want_recorded) {
    for (const AppendHook& hook : *hooks_) RETURN_IF_ERROR(hook(*this, recorded));
  }
  if (result.position > max_position_) max_position_ = result.position;
  ++appends_;
  events_appended_ += append.events.size();
  return result;
}

Status SqliteTransaction::Execute(std::string_view sql, const SqlParams& params) {
  return Track(conn_.Execute(sql, params));
}

Result<SqlRows> SqliteTransaction::Query(std::string_view sql, const SqlParams& params) {
  auto rows = conn_.Query(sql, params);
  if (!rows.ok()) return Track(rows.status());
  return rows;
}

Status SqliteTransaction::ExecuteScript(const std::string& sql) {
  return Track(conn_.ExecScript(sql));
}

Status SqliteTransaction::Attempt(const std::function<Status(Transaction&)>& body) {
  RETURN_IF_ERROR(Execute("SAVEPOINT attempt", {}));
  // What the unit reports after commit must not count writes that were undone.
  const int64_t max_position = max_position_;
  const uint64_t appends = appends_, events_appended = events_appended_;
  Status status = body(*this);
  if (fatal_error_ != 0) {
    return status.ok() ? Status::Unavailable("the transaction was lost inside an attempt") : status;
  }
  if (status.ok()) return Execute("RELEASE attempt", {});
  RETURN_IF_ERROR(Execute("ROLLBACK TO attempt", {}));
  RETURN_IF_ERROR(Execute("RELEASE attempt", {}));
  max_position_ = max_position;
  appends_ = appends;
  events_appended_ = events_appended;
  return status;
}

Status SqliteTransaction::Import(const RecordedEvent& event) {
  if (event.position > kMaxPosition) {
    return BeyondMaxPosition(event.position, "the event is not imported");
  }
  RETURN_IF_ERROR(CheckEventSize("event at position " + std::to_string(event.position),
                                 StoredEventBytes(event.type, event.data, event.metadata),
                                 max_event_bytes_));
  ASSIGN_OR_RETURN(SqlRows head, Query("SELECT COALESCE(MAX(position), 0) FROM events", {}));
  int64_t last = std::get<int64_t>(head[0][0]);
  if (event.position <= last) {
    return Status::Aborted("position " + std::to_string(event.position) +
                           " is not beyond the last stored position " + std::to_string(last))
        .WithReason("conflict");
  }
  ASSIGN_OR_RETURN(int64_t current, CurrentVersion(event.stream));
  if (event.version != current + 1) {
    return Status::Aborted("stream " + event.stream + ": event at version " +
                           std::to_string(event.version) + ", but the stream's next version is " +
                           std::to_string(current + 1))
        .WithReason("wrong_expected_version");
  }
  ASSIGN_OR_RETURN(
      sqlite3_stmt * insert,
      conn_.Prepare("INSERT INTO events (position, stream, version, id, type, data, metadata, "
                    "recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
  StatementReset reset(insert);
  sqlite3_bind_int64(insert, 1, event.position);
  sqlite3_bind_text(insert, 2, event.stream.data(), static_cast<int>(event.stream.size()),
                    SQLITE_STATIC);
  sqlite3_bind_int64(insert, 3, event.version);
  sqlite3_bind_blob(insert, 4, event.id.bytes().data(), 16, SQLITE_STATIC);
  sqlite3_bind_text(insert, 5, event.type.data(), static_cast<int>(event.type.size()),
                    SQLITE_STATIC);
  sqlite3_bind_text(insert, 6, event.data.data(), static_cast<int>(event.data.size()),
                    SQLITE_STATIC);
  sqlite3_bind_text(insert, 7, event.metadata.data(), static_cast<int>(event.metadata.size()),
                    SQLITE_STATIC);
  sqlite3_bind_int64(insert, 8, event.recorded_at);
  int rc = sqlite3_step(insert);
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    ++conflicts_;
    return Status::Aborted("event id " + event.id.ToString() + " is already stored")
        .WithReason("conflict");
  }
  if (rc != SQLITE_DONE) return Track(conn_.Error(rc, "import event"));
  if (event.position > max_position_) max_position_ = event.position;
  return Status::Ok();
}

}  // namespace rivulet::eventstore::sqlite
