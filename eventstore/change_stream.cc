#include "eventstore/change_stream.h"

#include "core/status_macros.h"

namespace rivulet::eventstore {

ChangeStream::ChangeStream(EventStore& store, EventFilter filter, LogPosition after,
                           size_t batch_size)
    : store_(store) {
  options_.after = after;
  options_.limit = batch_size;
  options_.filter = std::move(filter);
}

Result<LogBatch> ChangeStream::Next(std::chrono::milliseconds max_await,
                                    const std::function<bool()>& cancelled) {
  ASSIGN_OR_RETURN(LogBatch batch, store_.ReadChanges(options_, max_await, cancelled));
  options_.after = batch.resume;
  return batch;
}

}  // namespace rivulet::eventstore
