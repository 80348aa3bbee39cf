#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "core/clock.h"
#include "core/metrics.h"
#include "eventstore/dead_letters.h"
#include "eventstore/event_store.h"
#include "projections/projection_definition.h"
#include "projections/projection_tables.h"

namespace rivulet::projections {

// Builds one copy (generation) of a projection: reads the log from the copy's
// checkpoint as a change stream, applies each batch to the documents in memory, and
// commits the changed documents with the new checkpoint in one unit of work (SPEC 2.6).
// The checkpoint moves only from the position this builder last committed, under its
// lease, so two builders (say a server and `rivulet replay`) can never both apply an
// event: the one that loses stops with kLost.
//
// A candidate (a rebuild) asks `ready_to_swap` once it has caught up; when allowed, it
// makes itself live in one transaction and goes on as the live copy.
//
// An event whose key or operation fails stops the copy: documents and checkpoint commit
// up to the event before it, and the generation records the failed position and error.
// With `on_error: dead_letter` the event is parked instead, in the unit that moves the
// checkpoint past it, and the batch goes on.
//
// Retries of the copy's dead letters run here too, since only this builder writes the
// copy's documents: a letter whose retry was requested is applied with the copy's
// definition in a unit that removes it (or records that it failed again). Requests are
// picked up at once after `WantRetries`, and every few seconds otherwise (another
// process asked).
//
// Run is blocking and meant for a thread of its own; `position()` may be read from any
// thread.
class ProjectionBuilder {
 public:
  enum class Outcome {
    kStopped,   // `stop` said so
    kFailed,    // an event failed; the generation says which and why
    kLost,      // the generation moved under us (another process, a swap, a drop)
    kFinished,  // a candidate reached its end position and swapped, and was told to stop then
  };

  struct Options {
    std::string owner;  // this process's lease id
    core::Clock* clock = nullptr;
    int64_t lease_ms = 6'000;
    size_t batch_size = 5'000;
    std::chrono::milliseconds poll{500};  // longest wait for new events
    bool stop_after_swap = false;         // a CLI replay ends once its copy is live
    // Asked by a candidate that has caught up to `position`: may it swap now?
    std::function<bool(int64_t position)> ready_to_swap;
    // Told when this copy became live (after its swap).
    std::function<void()> became_live;
    // Told after every commit and every idle batch, with the copy's position.
    std::function<void(int64_t position, bool live)> progressed;
    core::Counter* events_applied = nullptr;
  };

  ProjectionBuilder(eventstore::EventStore& store, ProjectionDefinition definition,
                    Generation generation, Options options);

  Outcome Run(const std::function<bool()>& stop);

  // Claims the copy, runs its requested retries once and releases it: for a process that
  // does not build the copy (the CLI) when no other process holds it. False if another
  // process holds the copy (it will run them).
  Result<bool> RunRetries();

  // Asks a running builder to look for retry requests now. Thread-safe.
  void WantRetries() { retries_wanted_.store(true, std::memory_order_release); }

  int64_t position() const { return position_.load(std::memory_order_acquire); }
  int64_t generation() const { return generation_.generation; }
  bool live() const { return live_.load(std::memory_order_acquire); }
  // Why Run ended with kFailed or kLost (a human sentence).
  const std::string& last_error() const { return last_error_; }

 private:
  struct PendingEvent {
    const eventstore::RecordedEvent* event;
    core::Json context;
    std::string key;
    const ProjectionDefinition::Handler* handler;
  };

  eventstore::EventFilter Filter() const;
  // Loads the documents of `keys` not yet cached.
  Status Prefetch(const std::vector<PendingEvent>& pending);
  // Commits `changed` and moves the checkpoint to `to`; marks the copy failed at
  // `failed_at` if set, stores `parked` dead letters and runs `also` in the same unit.
  // Returns false if the generation was lost.
  Result<bool> Commit(int64_t to, const std::optional<std::pair<int64_t, std::string>>& failed_at,
                      const std::vector<eventstore::DeadLetter>& parked = {},
                      const std::function<Status(eventstore::Transaction&)>& also = nullptr);
  // Applies the requested retries of this copy's dead letters (see the class comment).
  Result<bool> ProcessRetries();
  // A dead letter for `event`, failed with `error`.
  eventstore::DeadLetter Letter(const eventstore::RecordedEvent& event,
                                const std::string& error) const;
  Result<bool> TrySwap();
  int64_t NowMillis() const { return options_.clock->NowMillis(); }

  eventstore::EventStore& store_;
  ProjectionDefinition definition_;
  Generation generation_;
  Options options_;
  std::string table_;
  std::set<std::string> fields_read_;
  int64_t committed_ = 0;  // checkpoint as stored
  std::atomic<int64_t> position_{0};
  std::atomic<bool> live_{false};
  std::string last_error_;
  // Documents known to this builder: the stored state plus what it committed. nullopt
  // marks a key known to have no document. Only this builder writes its table.
  std::unordered_map<std::string, std::optional<core::Json>> cache_;
  std::unordered_map<std::string, std::optional<core::Json>> changed_;
  std::chrono::steady_clock::time_point last_commit_;
  std::atomic<bool> retries_wanted_{true};
  std::chrono::steady_clock::time_point last_retry_check_;
  // Documents in the table, and how many there were when its statistics were gathered.
  int64_t rows_ = 0;
  int64_t analyzed_rows_ = 0;
};

// The event as projection templates see it: position, stream, version, id, type, data,
// metadata, recorded_at; with `fields`, only those (parsing and formatting the others
// is most of the cost of folding an event).
core::Json EventContext(const eventstore::RecordedEvent& event,
                        const std::set<std::string>* fields = nullptr);

}  // namespace rivulet::projections
