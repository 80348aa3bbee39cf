#include "eventstore/sqlite/group_commit.h"

#include <algorithm>
#include <chrono>
#include <exception>

namespace rivulet::eventstore::sqlite {

namespace {
using SpinClock = std::chrono::steady_clock;
// Longer than a typical commit (one WAL fsync), so a lone appender rarely sleeps.
constexpr auto kCallerSpin = std::chrono::microseconds(400);
// How long the writer watches for a lone appender's next unit before sleeping.
constexpr auto kWriterSpin = std::chrono::microseconds(60);

// Spins until `done()` or `limit` passes, reading the clock only every 64 pauses.
template <typename Done>
void SpinUntil(Done done, std::chrono::microseconds limit) {
  const auto until = SpinClock::now() + limit;
  while (!done()) {
    for (int i = 0; i < 64; ++i) __builtin_ia32_pause();
    if (SpinClock::now() >= until) return;
  }
}
}  // namespace

GroupCommitter::GroupCommitter(std::unique_ptr<Connection> conn, Options options)
    : conn_(std::move(conn)),
      options_(std::move(options)),
      tx_(*conn_, options_.max_event_bytes),
      hooks_(std::make_shared<const std::vector<AppendHook>>()) {
  auto prepare = [&](const char* sql) {
    auto stmt = conn_->Prepare(sql);
    return stmt.ok() ? *stmt : nullptr;
  };
  begin_ = prepare("BEGIN IMMEDIATE");
  commit_ = prepare("COMMIT");
  rollback_ = prepare("ROLLBACK");
  savepoint_ = prepare("SAVEPOINT unit");
  release_ = prepare("RELEASE unit");
  rollback_to_ = prepare("ROLLBACK TO unit");
  if (!begin_ || !commit_ || !rollback_ || !savepoint_ || !release_ || !rollback_to_) {
    options_.latch->Set(Status::FailedPrecondition("cannot prepare transaction statements: " +
                                                   std::string(sqlite3_errmsg(conn_->db()))));
  }
  thread_ = std::thread([this] { Run(); });
}

GroupCommitter::~GroupCommitter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Status GroupCommitter::Submit(const WriteUnit& unit) {
  // Only a caller that is the sole appender in flight spins: any other appender (an
  // HTTP handler, say) needs the core more than we need a fast wake-up.
  const bool alone = callers_.fetch_add(1, std::memory_order_acq_rel) == 0;
  Pending pending;
  pending.unit = &unit;
  bool wake_writer = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      callers_.fetch_sub(1, std::memory_order_acq_rel);
      return Status::Cancelled("the store is closing");
    }
    queue_.push_back(&pending);
    queued_.store(queue_.size(), std::memory_order_release);
    wake_writer = writer_sleeping_;
  }
  if (wake_writer) cv_.notify_one();
  AwaitCompletion(pending, alone);
  callers_.fetch_sub(1, std::memory_order_acq_rel);
  return std::move(pending.status);
}

void GroupCommitter::AwaitCompletion(Pending& pending, bool alone) {
  if (alone) SpinUntil([&] { return pending.done.load(std::memory_order_acquire); }, kCallerSpin);
  // Taking the lock also waits for Complete to release it, so `pending` outlives every
  // access the writer makes to it.
  std::unique_lock<std::mutex> lock(pending.mu);
  pending.blocked = true;
  pending.cv.wait(lock, [&] { return pending.done.load(std::memory_order_acquire); });
}

void GroupCommitter::AddHook(AppendHook hook) {
  std::lock_guard<std::mutex> lock(mu_);
  auto hooks = std::make_shared<std::vector<AppendHook>>(*hooks_);
  hooks->push_back(std::move(hook));
  hooks_ = std::move(hooks);
}

void GroupCommitter::SetLastRecordedAt(int64_t millis) {
  // Runs before any unit that reads it is submitted; the queue mutex orders the two.
  std::lock_guard<std::mutex> lock(mu_);
  last_recorded_at_ = std::max(last_recorded_at_, millis);
}

void GroupCommitter::Complete(Pending* pending, Status status) {
  std::lock_guard<std::mutex> lock(pending->mu);
  pending->status = std::move(status);
  pending->done.store(true, std::memory_order_release);
  // Under the lock: the caller cannot return (and destroy `pending`) before we unlock.
  if (pending->blocked) pending->cv.notify_one();
}

bool GroupCommitter::NextGroup(std::vector<Pending*>& group, Status& refused) {
  if (last_group_size_ == 1 && callers_.load(std::memory_order_acquire) <= 1) {
    // A lone appender is probably about to send its next unit.
    SpinUntil([&] { return queued_.load(std::memory_order_acquire) > 0; }, kWriterSpin);
  }
  std::unique_lock<std::mutex> lock(mu_);
  writer_sleeping_ = true;
  cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
  writer_sleeping_ = false;
  if (queue_.empty()) return false;  // stopping, and drained
  size_t take = std::min(queue_.size(), options_.max_group_units);
  group.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
  queued_.store(queue_.size(), std::memory_order_release);
  lock.unlock();
  refused = options_.latch->Get();
  return true;
}

void GroupCommitter::Run() {
  std::vector<Pending*> group;
  Status refused;
  while (NextGroup(group, refused)) {
    last_group_size_ = group.size();
    if (!refused.ok()) {
      for (Pending* p : group) Complete(p, refused);
      continue;
    }
    ExecuteGroup(group);
  }
}

Status GroupCommitter::Step(sqlite3_stmt* stmt, const char* what) {
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::Ok();
  return conn_->Error(rc, what);
}

void GroupCommitter::AbortGroup(std::vector<Pending*>& group, std::vector<Status>& results,
                                size_t executed, const Status& error, bool fatal) {
  if (!sqlite3_get_autocommit(conn_->db())) Step(rollback_, "rollback").IgnoreError();
  Status reported = error;
  if (fatal) {
    if (error.code() == StatusCode::kDataLoss) {
      options_.latch->Set(error);
    } else if (error.reason() == "read_only") {
      options_.latch->Set(
          Status::FailedPrecondition("the store refuses writes: " + error.message() +
                                     "; restart rivulet once the database file can be written")
              .WithReason("read_only"));
    } else {
      options_.latch->Set(Status::FailedPrecondition(
          "the store refuses writes after a failed commit (" + error.message() +
          "); what reached the disk is unknown until the database is reopened"));
    }
    // What the group's callers hear: the latched reason, or that this write failed.
    reported = options_.latch->Get();
    if (reported.code() == StatusCode::kFailedPrecondition && reported.reason() != "read_only") {
      reported =
          Status::Unavailable("write failed and the store is now read-only: " + error.message());
    }
  }
  for (size_t i = 0; i < group.size(); ++i) {
    bool failed_on_its_own = i < executed && !results[i].ok();
    Complete(group[i], failed_on_its_own ? results[i] : reported);
  }
}

void GroupCommitter::ExecuteGroup(std::vector<Pending*>& group) {
  StoreMetrics& metrics = *options_.metrics;
  const int64_t now = std::max(options_.clock->NowMillis(), last_recorded_at_);
  std::shared_ptr<const std::vector<AppendHook>> hooks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hooks = hooks_;
  }
  std::vector<Status> results(group.size());

  int rc = sqlite3_step(begin_);
  sqlite3_reset(begin_);
  if (rc != SQLITE_DONE) {
    AbortGroup(group, results, 0, conn_->Error(rc, "begin"), IsFatalWriteError(rc));
    return;
  }

  int64_t max_position = 0;
  uint64_t appends = 0, events = 0, conflicts = 0;
  for (size_t i = 0; i < group.size(); ++i) {
    Status sp = Step(savepoint_, "savepoint");
    if (!sp.ok()) {
      AbortGroup(group, results, i, sp, IsFatalWriteError(sqlite3_extended_errcode(conn_->db())));
      return;
    }
    tx_.Reset(now, hooks.get());
    Status st;
    try {
      st = (*group[i]->unit)(tx_);
    } catch (const std::exception& e) {
      st = Status::Internal(std::string("write unit threw: ") + e.what());
    } catch (...) {
      st = Status::Internal("write unit threw a non-standard exception");
    }
    results[i] = st;
    conflicts += tx_.conflicts();
    if (tx_.fatal_error() != 0 || sqlite3_get_autocommit(conn_->db())) {
      // SQLite may have rolled back the whole transaction: nothing of the group stands.
      Status cause = tx_.fatal_error() != 0
                         ? tx_.fatal_status()
                         : Status::Internal("the transaction ended inside a write unit");
      if (results[i].ok()) results[i] = cause;
      AbortGroup(group, results, i + 1, cause, tx_.fatal_error() != 0);
      return;
    }
    Status end =
        st.ok() ? Step(release_, "release savepoint") : Step(rollback_to_, "rollback to savepoint");
    if (end.ok() && !st.ok()) end = Step(release_, "release savepoint");
    if (!end.ok()) {
      AbortGroup(group, results, i, end, IsFatalWriteError(sqlite3_extended_errcode(conn_->db())));
      return;
    }
    if (st.ok()) {
      max_position = std::max(max_position, tx_.max_position());
      appends += tx_.appends();
      events += tx_.events_appended();
    }
  }

  rc = sqlite3_step(commit_);
  sqlite3_reset(commit_);
  if (rc != SQLITE_DONE) {
    // A failed COMMIT (typically the WAL fsync) leaves the outcome unknown.
    AbortGroup(group, results, group.size(), conn_->Error(rc, "commit"), true);
    return;
  }
  last_recorded_at_ = now;
  if (max_position > 0) options_.notifier->Publish(max_position);
  metrics.commit_groups.Inc();
  metrics.group_units.Observe(static_cast<double>(group.size()));
  metrics.appends.Inc(appends);
  metrics.events_appended.Inc(events);
  metrics.append_conflicts.Inc(conflicts);
  for (size_t i = 0; i < group.size(); ++i) Complete(group[i], std::move(results[i]));
}

}  // namespace rivulet::eventstore::sqlite
