#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "eventstore/event.h"
#include "eventstore/event_filter.h"
#include "eventstore/log_position.h"
#include "eventstore/prepared_append.h"
#include "eventstore/sql.h"

namespace rivulet::eventstore {

// The writes of one unit of work, inside the store's transaction. A Transaction is
// only valid during the WriteUnit call that receives it and only on that thread.
// Everything done through it commits together with the unit or not at all.
class Transaction {
 public:
  virtual ~Transaction() = default;

  // Appends to a stream; later statements of the same unit see the events. Conflicts
  // come back as Aborted with reason "wrong_expected_version" or "conflict"; an event
  // over the store's size limit as ResourceExhausted with reason "too_large" (details
  // {index, bytes, limit}); a position beyond kMaxPosition as ResourceExhausted with
  // reason "positions_exhausted".
  virtual Result<AppendResult> Append(const PreparedAppend& append) = 0;
  Result<AppendResult> Append(const AppendRequest& request);

  // Statements on the component's own tables ($1, $2 placeholders). Statements are
  // prepared once and cached: use them for SQL whose text does not vary.
  virtual Status Execute(std::string_view sql, const SqlParams& params = {}) = 0;
  virtual Result<SqlRows> Query(std::string_view sql, const SqlParams& params = {}) = 0;
  // Several statements without parameters, not cached (DDL: CREATE, DROP, ALTER).
  virtual Status ExecuteScript(const std::string& sql) = 0;

  // Runs `body` under a savepoint of its own. If it fails, only what it wrote is
  // undone and its error is returned; the unit may go on (a batch that parks one bad
  // item and keeps the rest). An error that may have cost the transaction (I/O,
  // corruption) still fails the whole unit, whatever the caller does with it.
  virtual Status Attempt(const std::function<Status(Transaction&)>& body) = 0;

  // Writes an event exactly as recorded elsewhere (position, version, id, recorded_at),
  // for restoring an exported log. The position must be beyond every stored one and at
  // most kMaxPosition, the version the stream's next, the id unused, the event within
  // the size limit (errors as for Append). Append hooks do not run.
  virtual Status Import(const RecordedEvent& event) = 0;

  // Milliseconds since the epoch recorded as this unit's commit time.
  virtual int64_t now_millis() const = 0;
  virtual SqlDialect dialect() const = 0;

 protected:
  // Called once per Append with its outcome and its latency, for metrics.
  virtual void RecordAppend(const Status& status, std::chrono::steady_clock::duration latency) {
    static_cast<void>(status);
    static_cast<void>(latency);
  }
};

// A unit of work: returns Ok to commit what it did, an error to roll it back. It runs
// on the store's writer thread, so it must not block on anything but the database.
using WriteUnit = std::function<Status(Transaction&)>;

// Runs inside the append's unit after the events are inserted (the outbox writes its
// rows this way). An error rolls back the whole unit.
using AppendHook = std::function<Status(Transaction&, const std::vector<RecordedEvent>&)>;

// What a read counts for an event against `max_bytes`: its stream, type, data and
// metadata, plus this much for the rest of its JSON form (position, version, id,
// recorded_at and the keys).
inline constexpr size_t kEventJsonOverhead = 160;

struct StreamReadOptions {
  std::string stream;
  bool backward = false;
  // First version to read; for backward reads nullopt means the last event.
  std::optional<int64_t> from;
  size_t limit = 100;
  // Stops before an event that would take the slice past this many bytes (see
  // kEventJsonOverhead); the first event is always returned, so a read always advances.
  size_t max_bytes = std::numeric_limits<size_t>::max();
};

struct StreamSlice {
  std::vector<RecordedEvent> events;
  std::optional<int64_t> next;  // version to continue from, nullopt at the end
};

struct LogReadOptions {
  LogPosition after;    // exclusive
  size_t limit = 1000;  // events returned at most
  EventFilter filter;
  std::optional<int64_t> up_to;  // inclusive last position, if bounded
  size_t max_scan = 100'000;     // events examined at most per call
  // Stops before an event that would take the batch past this many bytes (see
  // kEventJsonOverhead); `resume` then points just before it. The first event is always
  // returned, so a read always advances.
  size_t max_bytes = std::numeric_limits<size_t>::max();
};

struct LogBatch {
  std::vector<RecordedEvent> events;
  // Resume after this to continue; it moves past filtered-out events, so it advances
  // even when `events` is empty.
  LogPosition resume;
  // True if the read saw the end of the log (as of its snapshot).
  bool reached_head = false;
};

// The event store: an append-only global log of streams, change streams over it, and a
// unit of work that lets other modules commit their own rows with events.
//
// Thread-safe: any number of threads may call any method concurrently. Writes are
// serialized by the backend (on SQLite, one writer thread with group commit); reads
// run on their own connections and see every write acknowledged before they started.
//
// Limits every backend enforces on every write path (Append, Transaction::Append,
// Import), so HTTP, the CLI, sources and sagas share them: no event larger than the
// store's max_event_bytes (type + data + metadata as stored, CheckEventSize; the
// runtime sets it to server.max_body), no position beyond kMaxPosition (2^53 - 1).
//
// Once the store cannot trust its writes it refuses all further writes until it is
// reopened, and Health returns the reason: FailedPrecondition after a commit or fsync
// fails (rather than guess what reached the disk), Unavailable when the database
// cannot be written (a read-only file), DataLoss when any statement finds the database
// corrupt. Reads go on, except those that meet the damage (DataLoss).
class EventStore {
 public:
  virtual ~EventStore() = default;

  // Appends atomically: all events or none, with every row append hooks add (SPEC 2.2).
  // Returns once durable (SPEC 2.1). Errors: InvalidArgument (bad request), Aborted
  // (reasons "wrong_expected_version" with details {expected, actual}, or "conflict" for
  // a reused event id), ResourceExhausted ("too_large", "positions_exhausted"),
  // FailedPrecondition / Unavailable / DataLoss (the store refuses writes, see above),
  // Unavailable (busy, I/O).
  Result<AppendResult> Append(const AppendRequest& request);

  // Runs `unit` in the write transaction and returns once it committed (Ok) or why it
  // did not. A unit's own error rolls back only that unit.
  virtual Status Write(WriteUnit unit) = 0;

  // Hooks run for every append, in registration order. Register before writing.
  virtual void AddAppendHook(AppendHook hook) = 0;

  // Stream reads. NotFound if the stream has no events.
  virtual Result<StreamSlice> ReadStream(const StreamReadOptions& options) = 0;

  // One batch of the global log after `options.after`, without waiting.
  virtual Result<LogBatch> ReadLog(const LogReadOptions& options) = 0;

  // A change-stream batch: like ReadLog, but if nothing matches yet, waits until an
  // event that matches is committed or `max_await` passes (then returns an empty batch
  // with an advanced token). `cancelled`, if set, is polled at least every 250 ms.
  Result<LogBatch> ReadChanges(const LogReadOptions& options, std::chrono::milliseconds max_await,
                               const std::function<bool()>& cancelled = nullptr);

  // The last committed position known to this process.
  virtual int64_t HeadPosition() const = 0;

  // Waits until a position beyond `after` is committed (true) or the deadline passes,
  // the store closes, or `WakeWaiters` is called (false). Commits in this process wake
  // waiters at once; commits by other processes on the same database within ~50 ms.
  virtual bool WaitForPositionAfter(int64_t after,
                                    std::chrono::steady_clock::time_point deadline) = 0;

  // Wakes every waiter now (used on shutdown).
  virtual void WakeWaiters() = 0;

  // A read-only query on a reader connection; the statement is prepared once and cached.
  virtual Result<SqlRows> Query(std::string_view sql, const SqlParams& params = {}) = 0;
  // Streams a read-only query's rows to `on_row` (which returns false to stop), in one
  // snapshot. Not cached: for SQL built per request.
  virtual Status QueryEach(std::string_view sql, const SqlParams& params,
                           const std::function<bool(const SqlRow&)>& on_row) = 0;

  // Applies `component`'s migrations that are not yet applied, in version order.
  // FailedPrecondition if the database has a newer version than `migrations` know.
  virtual Status ApplyMigrations(std::string_view component,
                                 const std::vector<Migration>& migrations) = 0;

  // Ok if the store answers reads and accepts writes; otherwise why not (DataLoss for a
  // corrupt database). /v1/health and readiness report it.
  virtual Status Health() = 0;

  // The largest event (type + data + metadata as stored) this store accepts: writers
  // that build events from input of their own (saga steps) keep within it.
  virtual size_t max_event_bytes() const = 0;

  virtual SqlDialect dialect() const = 0;

 protected:
  // Called once per Append with its outcome and its latency, for metrics.
  virtual void RecordAppend(const Status& status, std::chrono::steady_clock::duration latency) {
    static_cast<void>(status);
    static_cast<void>(latency);
  }
};

}  // namespace rivulet::eventstore
