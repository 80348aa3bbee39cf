#include "eventstore/event_store.h"

#include <algorithm>

#include "core/clock.h"
#include "core/status_macros.h"

namespace rivulet::eventstore {

Result<AppendResult> Transaction::Append(const AppendRequest& request) {
  ASSIGN_OR_RETURN(PreparedAppend prepared, PrepareAppend(request, now_millis()));
  return Append(prepared);
}

Result<AppendResult> EventStore::Append(const AppendRequest& request) {
  // Validation and serialization happen here, on the caller's thread; the writer
  // thread only runs SQL.
  const auto started = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(PreparedAppend prepared,
                   PrepareAppend(request, core::SystemClock::Default()->NowMillis()));
  std::optional<AppendResult> result;
  Status status = Write([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(AppendResult appended, tx.Append(prepared));
    result = std::move(appended);
    return Status::Ok();
  });
  RecordAppend(status, std::chrono::steady_clock::now() - started);
  if (!status.ok()) return status;
  return std::move(*result);
}

Result<LogBatch> EventStore::ReadChanges(const LogReadOptions& options,
                                         std::chrono::milliseconds max_await,
                                         const std::function<bool()>& cancelled) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline =
      Clock::now() + std::max(max_await, std::chrono::milliseconds(0));
  LogReadOptions read = options;
  while (true) {
    ASSIGN_OR_RETURN(LogBatch batch, ReadLog(read));
    if (!batch.events.empty()) return batch;
    read.after = batch.resume;
    bool bounded_end = read.up_to && batch.resume.position >= *read.up_to;
    if (bounded_end || Clock::now() >= deadline || (cancelled && cancelled())) return batch;
    if (!batch.reached_head) continue;  // filtered-out events remain; keep scanning
    auto wake = std::min(deadline, Clock::now() + std::chrono::milliseconds(250));
    WaitForPositionAfter(batch.resume.position, wake);
  }
}

}  // namespace rivulet::eventstore
