#include "eventstore/sqlite/sqlite_event_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <limits>

#include "core/status_macros.h"
#include "eventstore/head_notifier.h"
#include "eventstore/sqlite/external_commit_watcher.h"
#include "eventstore/sqlite/group_commit.h"
#include "eventstore/sqlite/integrity_check.h"
#include "eventstore/sqlite/reader_pool.h"
#include "eventstore/sqlite/serve_lock.h"
#include "eventstore/sqlite/sqlite_schema.h"
#include "eventstore/store_metrics.h"

namespace rivulet::eventstore::sqlite {

namespace {

constexpr const char* kEventColumns =
    "SELECT position, stream, version, id, type, data, metadata, recorded_at FROM events ";
const std::string kReadForwardSql =
    std::string(kEventColumns) +
    "WHERE stream = ?1 AND version >= ?2 ORDER BY version ASC LIMIT ?3";
const std::string kReadBackwardSql =
    std::string(kEventColumns) +
    "WHERE stream = ?1 AND version <= ?2 ORDER BY version DESC LIMIT ?3";
const std::string kReadLogSql = std::string(kEventColumns) +
                                "WHERE position > ?1 AND position <= ?2 ORDER BY position LIMIT ?3";
constexpr const char* kStreamExistsSql = "SELECT 1 FROM events WHERE stream = ?1 LIMIT 1";

void ReadEventRow(sqlite3_stmt* stmt, RecordedEvent& event) {
  event.position = sqlite3_column_int64(stmt, 0);
  event.stream.assign(ColumnText(stmt, 1));
  event.version = sqlite3_column_int64(stmt, 2);
  auto id = core::Uuid::FromBytes(ColumnBlob(stmt, 3));
  event.id = id.ok() ? *id : core::Uuid();
  event.type.assign(ColumnText(stmt, 4));
  event.data.assign(ColumnText(stmt, 5));
  event.metadata.assign(ColumnText(stmt, 6));
  event.recorded_at = sqlite3_column_int64(stmt, 7);
}

// The bytes a row of kEventColumns counts against a read's max_bytes.
size_t EventRowBytes(sqlite3_stmt* stmt) {
  return kEventJsonOverhead + static_cast<size_t>(sqlite3_column_bytes(stmt, 1)) +
         static_cast<size_t>(sqlite3_column_bytes(stmt, 4)) +
         static_cast<size_t>(sqlite3_column_bytes(stmt, 5)) +
         static_cast<size_t>(sqlite3_column_bytes(stmt, 6));
}

class SqliteEventStore final : public EventStore {
 public:
  explicit SqliteEventStore(const SqliteStoreOptions& options)
      : options_(options),
        clock_(options.clock ? options.clock : core::SystemClock::Default()),
        owned_metrics_(options.metrics ? nullptr : std::make_unique<core::MetricsRegistry>()),
        metrics_(options.metrics ? *options.metrics : *owned_metrics_),
        instruments_(metrics_),
        latch_(&instruments_.read_only),
        readers_(ConnectionOptions(), options.max_idle_readers) {}

  ~SqliteEventStore() override {
    if (collector_id_ != 0) metrics_.RemoveCollector(collector_id_);
    notifier_.Close();
    quick_check_.reset();
    watcher_.reset();
    committer_.reset();
  }

  Status Open() {
    // Before anything touches the file, so a refused second server changes nothing.
    if (options_.serve_lock) {
      ASSIGN_OR_RETURN(serve_lock_, ServeLock::Acquire(options_.path));
    }
    ASSIGN_OR_RETURN(std::unique_ptr<Connection> writer, Connection::Open(ConnectionOptions()));
    bool check_later = false;
    if (options_.check_integrity) {
      struct stat file {};
      const bool small = ::stat(options_.path.c_str(), &file) != 0 ||
                         static_cast<uint64_t>(file.st_size) <= options_.check_before_open_bytes;
      if (small) {
        Status checked = QuickCheck(*writer, options_.path);
        if (checked.code() == StatusCode::kDataLoss) latch_.Set(checked);
        RETURN_IF_ERROR(checked.WithContext("open " + options_.path));
      }
      check_later = !small;
    }
    // Only the first opener switches the file to WAL and creates the bookkeeping table,
    // so a CLI opening the store beside a running server never queues for the write lock.
    auto mode = writer->Query("PRAGMA journal_mode", {});
    if (!mode.ok()) return mode.status().WithContext("open " + options_.path);
    if (mode->empty() || std::get<std::string>((*mode)[0][0]) != "wal") {
      mode = writer->Query("PRAGMA journal_mode=WAL", {});
      if (!mode.ok()) return mode.status().WithContext("open " + options_.path);
      if (mode->empty() || std::get<std::string>((*mode)[0][0]) != "wal") {
        return Status::Unavailable("open " + options_.path +
                                   ": cannot switch the database to WAL mode");
      }
    }
    RETURN_IF_ERROR(writer->ExecScript(
        "PRAGMA synchronous=FULL; PRAGMA journal_size_limit=67108864; PRAGMA foreign_keys=ON;"));
    if (sqlite3_db_readonly(writer->db(), "main") == 1) {
      // SQLite opened the file read-only because it cannot be written (permissions, an
      // immutable file, a read-only mount). Reads work; say why writes do not.
      latch_.Set(Status::FailedPrecondition(
                     "the database file " + options_.path +
                     " cannot be written (it is read-only, or on a read-only file system); the "
                     "store serves reads and refuses writes; restart rivulet once the file can "
                     "be written")
                     .WithReason("read_only"));
    }
    auto bootstrapped = writer->Query(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'", {});
    if (!bootstrapped.ok()) return bootstrapped.status().WithContext("open " + options_.path);
    if (bootstrapped->empty()) RETURN_IF_ERROR(writer->ExecScript(kBootstrapSql));

    GroupCommitter::Options commit_options;
    commit_options.clock = clock_;
    commit_options.max_group_units = options_.max_group_units;
    commit_options.metrics = &instruments_;
    commit_options.notifier = &notifier_;
    commit_options.latch = &latch_;
    commit_options.max_event_bytes = options_.max_event_bytes;
    committer_ = std::make_unique<GroupCommitter>(std::move(writer), commit_options);

    RETURN_IF_ERROR(ApplyMigrations("eventstore", EventStoreMigrations()));

    ASSIGN_OR_RETURN(
        SqlRows head,
        Query("SELECT position, recorded_at FROM events ORDER BY position DESC LIMIT 1", {}));
    if (!head.empty()) {
      const int64_t last = std::get<int64_t>(head[0][0]);
      notifier_.Publish(last);
      committer_->SetLastRecordedAt(std::get<int64_t>(head[0][1]));
      if (last > kMaxPosition) {
        // Written by an older binary that let imports pass the limit: SQLite would
        // pick random rowids next, and positions would stop increasing.
        latch_.Set(Status::FailedPrecondition(
            "the log's last position " + std::to_string(last) + " is beyond the largest position " +
            std::to_string(kMaxPosition) + " (2^53 - 1); the store refuses writes"));
      }
    }

    Connection::Options watch = ConnectionOptions();
    watch.reader = true;
    ASSIGN_OR_RETURN(std::unique_ptr<Connection> watch_conn, Connection::Open(watch));
    watcher_ = std::make_unique<ExternalCommitWatcher>(std::move(watch_conn), notifier_,
                                                       options_.external_poll_interval);
    if (check_later) {
      Connection::Options check = ConnectionOptions();
      check.reader = true;
      ASSIGN_OR_RETURN(std::unique_ptr<Connection> check_conn, Connection::Open(check));
      quick_check_ =
          std::make_unique<BackgroundQuickCheck>(std::move(check_conn), options_.path, latch_);
    }
    collector_id_ = metrics_.AddCollector([this] {
      instruments_.waiters.Set(notifier_.waiters());
      instruments_.head_position.Set(notifier_.head());
    });
    return Status::Ok();
  }

  Status Write(WriteUnit unit) override { return committer_->Submit(unit); }

  void AddAppendHook(AppendHook hook) override { committer_->AddHook(std::move(hook)); }

  Result<StreamSlice> ReadStream(const StreamReadOptions& options) override {
    ASSIGN_OR_RETURN(ReaderPool::Lease conn, readers_.Acquire());
    const int64_t limit = static_cast<int64_t>(std::clamp<size_t>(options.limit, 1, 100'000));
    int64_t from =
        options.from.value_or(options.backward ? std::numeric_limits<int64_t>::max() : 0);
    ASSIGN_OR_RETURN(sqlite3_stmt * stmt,
                     conn->Prepare(options.backward ? kReadBackwardSql : kReadForwardSql));
    StreamSlice slice;
    {
      StatementReset reset(stmt);
      sqlite3_bind_text(stmt, 1, options.stream.data(), static_cast<int>(options.stream.size()),
                        SQLITE_STATIC);
      sqlite3_bind_int64(stmt, 2, from);
      sqlite3_bind_int64(stmt, 3, limit + 1);  // one more tells whether there is a next page
      int rc;
      size_t bytes = 0;
      while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        size_t row_bytes = EventRowBytes(stmt);
        bool full = static_cast<int64_t>(slice.events.size()) == limit ||
                    (!slice.events.empty() && bytes + row_bytes > options.max_bytes);
        if (full) {
          slice.next = sqlite3_column_int64(stmt, 2);
          break;
        }
        bytes += row_bytes;
        ReadEventRow(stmt, slice.events.emplace_back());
      }
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return conn->Error(rc, "read stream");
    }
    if (slice.events.empty()) {
      ASSIGN_OR_RETURN(SqlRows exists, conn->Query(kStreamExistsSql, {options.stream}));
      if (exists.empty()) return Status::NotFound("stream " + options.stream + " does not exist");
    }
    return slice;
  }

  Result<LogBatch> ReadLog(const LogReadOptions& options) override {
    ASSIGN_OR_RETURN(ReaderPool::Lease conn, readers_.Acquire());
    ASSIGN_OR_RETURN(sqlite3_stmt * stmt, conn->Prepare(kReadLogSql));
    StatementReset reset(stmt);
    const size_t limit = std::max<size_t>(options.limit, 1);
    const size_t max_scan = std::max(options.max_scan, limit);
    sqlite3_bind_int64(stmt, 1, options.after.position);
    sqlite3_bind_int64(stmt, 2, options.up_to.value_or(std::numeric_limits<int64_t>::max()));
    sqlite3_bind_int64(stmt, 3, static_cast<int64_t>(max_scan));
    LogBatch batch;
    batch.resume = options.after;
    const EventFilter& filter = options.filter;
    const bool has_body_filter = filter.match.has_value() && !filter.match->matches_everything();
    batch.events.reserve(std::min<size_t>(limit, 4096));
    size_t scanned = 0;
    size_t bytes = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      ++scanned;
      int64_t position = sqlite3_column_int64(stmt, 0);
      if (!filter.MatchesHeader(ColumnText(stmt, 1), ColumnText(stmt, 4))) {
        batch.resume.position = position;
        continue;
      }
      // Measured before it is read, so an answer's memory never passes the budget by
      // more than one event.
      size_t row_bytes = EventRowBytes(stmt);
      if (!batch.events.empty() && bytes + row_bytes > options.max_bytes) break;
      batch.resume.position = position;
      // Read straight into the batch; a body filter that says no takes it back out.
      ReadEventRow(stmt, batch.events.emplace_back());
      if (has_body_filter && !filter.MatchesBody(batch.events.back())) {
        batch.events.pop_back();
        continue;
      }
      bytes += row_bytes;
      if (batch.events.size() == limit) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return conn->Error(rc, "read log");
    batch.reached_head = rc == SQLITE_DONE && scanned < max_scan;
    return batch;
  }

  int64_t HeadPosition() const override { return notifier_.head(); }

  bool WaitForPositionAfter(int64_t after,
                            std::chrono::steady_clock::time_point deadline) override {
    return notifier_.WaitBeyond(after, deadline);
  }

  void WakeWaiters() override { notifier_.WakeAll(); }

  Result<SqlRows> Query(std::string_view sql, const SqlParams& params) override {
    ASSIGN_OR_RETURN(ReaderPool::Lease conn, readers_.Acquire());
    return conn->Query(sql, params);
  }

  Status QueryEach(std::string_view sql, const SqlParams& params,
                   const std::function<bool(const SqlRow&)>& on_row) override {
    ASSIGN_OR_RETURN(ReaderPool::Lease conn, readers_.Acquire());
    return conn->QueryEach(sql, params, on_row);
  }

  Status ApplyMigrations(std::string_view component,
                         const std::vector<Migration>& migrations) override {
    std::vector<Migration> ordered = migrations;
    std::sort(ordered.begin(), ordered.end(),
              [](const Migration& a, const Migration& b) { return a.version < b.version; });
    const int known = ordered.empty() ? 0 : ordered.back().version;
    std::string name(component);
    const char* kCurrentSql =
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = $1";
    ASSIGN_OR_RETURN(SqlRows applied, Query(kCurrentSql, {name}));
    if (std::get<int64_t>(applied[0][0]) == known)
      return Status::Ok();  // the common case: nothing to do
    return Write([&](Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(SqlRows rows, tx.Query(kCurrentSql, {name}));
      int64_t current = std::get<int64_t>(rows[0][0]);
      if (current > known) {
        return Status::FailedPrecondition(
            "database schema of " + name + " is at version " + std::to_string(current) +
            ", newer than this binary knows (" + std::to_string(known) + "); upgrade rivulet");
      }
      for (const Migration& m : ordered) {
        if (m.version <= current) continue;
        Status applied = tx.ExecuteScript(m.sql);
        if (!applied.ok()) {
          return applied.WithContext("migration " + name + " " + std::to_string(m.version) + " (" +
                                     m.description + ")");
        }
        RETURN_IF_ERROR(
            tx.Execute("INSERT INTO schema_migrations (component, version, description, "
                       "applied_at) VALUES ($1, $2, $3, $4)",
                       {name, int64_t{m.version}, m.description, tx.now_millis()}));
      }
      return Status::Ok();
    });
  }

  Status Health() override {
    RETURN_IF_ERROR(latch_.Get());
    auto rows = Query("SELECT 1", {});
    if (!rows.ok()) return rows.status();
    return Status::Ok();
  }

  SqlDialect dialect() const override { return SqlDialect::kSqlite; }
  size_t max_event_bytes() const override { return options_.max_event_bytes; }

 protected:
  void RecordAppend(const Status& status, std::chrono::steady_clock::duration latency) override {
    if (status.ok()) {
      instruments_.append_latency.Observe(std::chrono::duration<double>(latency).count());
    } else if (status.code() != StatusCode::kAborted) {
      instruments_.append_errors.Inc();
    }
  }

 private:
  Connection::Options ConnectionOptions() {
    Connection::Options o;
    o.path = options_.path;
    o.vfs = options_.vfs;
    o.busy_timeout_ms = static_cast<int>(options_.busy_timeout.count());
    o.latch = &latch_;
    return o;
  }

  // Declared first so it is released last, after every connection is closed.
  std::unique_ptr<ServeLock> serve_lock_;
  SqliteStoreOptions options_;
  core::Clock* clock_;
  std::unique_ptr<core::MetricsRegistry> owned_metrics_;
  core::MetricsRegistry& metrics_;
  StoreMetrics instruments_;
  ReadOnlyLatch latch_;
  HeadNotifier notifier_;
  ReaderPool readers_;
  std::unique_ptr<GroupCommitter> committer_;
  std::unique_ptr<ExternalCommitWatcher> watcher_;
  std::unique_ptr<BackgroundQuickCheck> quick_check_;
  uint64_t collector_id_ = 0;
};

}  // namespace

Result<std::unique_ptr<EventStore>> OpenSqliteEventStore(const SqliteStoreOptions& options) {
  if (options.path.empty())
    return Status::InvalidArgument("store.path: the SQLite store needs a file path");
  auto store = std::make_unique<SqliteEventStore>(options);
  RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<EventStore>(std::move(store));
}

}  // namespace rivulet::eventstore::sqlite
