#pragma once

#include <chrono>
#include <cstdint>

#include "core/json.h"
#include "core/result.h"
#include "eventstore/dead_letters.h"
#include "eventstore/event_store.h"
#include "projections/projection_engine.h"
#include "sources/ingestor.h"

namespace rivulet::runtime {

// What `POST /v1/dead-letters/{id}/retry|discard` and `rivulet dead-letters retry|discard`
// do, in one place: a source's letter goes through the current mappings
// (Ingestor::RetryDeadLetter), a projection's through the builder of the copy that parked
// it (ProjectionEngine::RetryDeadLetter). Each succeeds exactly once: the letter is
// removed in the unit that applies it.
class DeadLetterActions {
 public:
  // Either may be null when the config has no sources or no projections.
  DeadLetterActions(eventstore::EventStore& store, sources::Ingestor* ingestor,
                    projections::ProjectionEngine* engine)
      : store_(store), ingestor_(ingestor), engine_(engine) {}

  // {"id", "outcome": "applied", ...}; Aborted (reason "conflict") if it fails again,
  // NotFound if it is gone, DeadlineExceeded if a projection's builder has not run it
  // within `wait` (it stays requested).
  Result<core::Json> Retry(int64_t id, std::chrono::milliseconds wait);
  // {"id", "outcome": "discarded"}; NotFound if it is gone.
  Result<core::Json> Discard(int64_t id);

 private:
  eventstore::EventStore& store_;
  sources::Ingestor* ingestor_;
  projections::ProjectionEngine* engine_;
};

}  // namespace rivulet::runtime
