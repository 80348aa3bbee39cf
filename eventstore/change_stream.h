#pragma once

#include <chrono>
#include <functional>

#include "eventstore/event_store.h"

namespace rivulet::eventstore {

// A resumable, filtered, ordered read of the global log that catches up and then
// follows live appends (SPEC section 1, "Change stream"). Each Next returns the next
// batch and moves the stream past it; `position()` is the resume point to persist.
// Resuming from a persisted position never skips and never repeats an event.
//
// Not thread-safe: one consumer owns a ChangeStream. The store must outlive it.
class ChangeStream {
 public:
  ChangeStream(EventStore& store, EventFilter filter, LogPosition after, size_t batch_size = 100);

  // Waits up to `max_await` for matching events; an empty batch still advances past
  // events the filter skipped.
  Result<LogBatch> Next(std::chrono::milliseconds max_await,
                        const std::function<bool()>& cancelled = nullptr);

  const LogPosition& position() const { return options_.after; }

 private:
  EventStore& store_;
  LogReadOptions options_;
};

}  // namespace rivulet::eventstore
