#pragma once

#include <memory>
#include <vector>

#include "eventstore/event_store.h"
#include "eventstore/sqlite/sqlite_connection.h"

namespace rivulet::eventstore::sqlite {

// The Transaction a write unit sees on SQLite: statements on the writer connection,
// inside the group's transaction and the unit's savepoint. Owned and reused by the
// writer thread; Reset before each unit.
class SqliteTransaction final : public Transaction {
 public:
  // Appends and imports refuse events larger than `max_event_bytes` (CheckEventSize)
  // and positions beyond kMaxPosition.
  SqliteTransaction(Connection& conn, size_t max_event_bytes)
      : conn_(conn), max_event_bytes_(max_event_bytes) {}

  // Prepares for the next unit: its commit time and the hooks appends must run.
  void Reset(int64_t now_millis, const std::vector<AppendHook>* hooks);

  Result<AppendResult> Append(const PreparedAppend& append) override;
  using Transaction::Append;
  Status Execute(std::string_view sql, const SqlParams& params) override;
  Result<SqlRows> Query(std::string_view sql, const SqlParams& params) override;
  int64_t now_millis() const override { return now_millis_; }
  SqlDialect dialect() const override { return SqlDialect::kSqlite; }

  Status ExecuteScript(const std::string& sql) override;
  Status Attempt(const std::function<Status(Transaction&)>& body) override;
  Status Import(const RecordedEvent& event) override;

  // What the unit did, for the writer's bookkeeping after commit.
  int64_t max_position() const { return max_position_; }
  uint64_t appends() const { return appends_; }
  uint64_t events_appended() const { return events_appended_; }
  uint64_t conflicts() const { return conflicts_; }
  // Non-zero when a statement failed in a way that may have cost the transaction, and
  // that statement's error.
  int fatal_error() const { return fatal_error_; }
  const Status& fatal_status() const { return fatal_status_; }

 private:
  Status Track(Status status);
  Result<int64_t> CurrentVersion(const std::string& stream);
  Result<AppendResult> ReplayResult(const PreparedAppend& append);
  Status IdConflict(const PreparedEvent& event);

  Connection& conn_;
  const size_t max_event_bytes_;
  int64_t now_millis_ = 0;
  const std::vector<AppendHook>* hooks_ = nullptr;
  int64_t max_position_ = 0;
  uint64_t appends_ = 0;
  uint64_t events_appended_ = 0;
  uint64_t conflicts_ = 0;
  int fatal_error_ = 0;
  Status fatal_status_;
};

}  // namespace rivulet::eventstore::sqlite
