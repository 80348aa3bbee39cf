#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "eventstore/event_store.h"

namespace rivulet::eventstore {

// What a source or a projection does with an input it cannot process (SPEC 4,
// `on_error`): stop there (the default; nothing after it moves until a person acts),
// or park it as a dead letter and go on.
enum class OnError { kStop, kDeadLetter };
const char* OnErrorName(OnError on_error);

// One parked input: a change event a source could not map or append, or an event a
// projection could not apply. It is written in the same transaction that moves its
// component's checkpoint past it, so it is never lost and never processed twice.
struct DeadLetter {
  int64_t id = 0;          // assigned by Add; increasing
  std::string kind;        // "source" | "projection"
  std::string component;   // the source's or projection's name
  int64_t generation = 0;  // projections: the copy that parked it; sources: 0
  core::Json position;     // where it was in its input: the source position, or the log position
  core::Json payload;  // the change event as received (a string if it was not JSON), or the event
  core::Json context = core::Json::object();  // what a retry needs besides the payload
  std::string error;                          // why it failed, the last time it was tried
  int64_t attempts = 1;                       // how often it failed
  bool retry_requested = false;               // projections: a retry waits for the copy's builder
  int64_t created_at = 0;                     // ms since the epoch
  int64_t updated_at = 0;

  // The API shape: {id, kind, <kind>: component, generation?, position, payload, error,
  // attempts, retry_requested, created_at, updated_at} (times in RFC 3339).
  core::Json ToJson() const;
};

// The dead-letter table, shared by every component that parks inputs. Functions that
// take a Transaction run inside the caller's unit of work (so a dead letter commits with
// the checkpoint that skips it); the others read on a reader connection.
//
// Storage (SQLite): dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, kind, component,
// generation, position JSON, payload JSON, context JSON, error, attempts,
// retry_requested, created_at, updated_at), indexed by (kind, component, generation, id).
class DeadLetters {
 public:
  // Creates the table; every component that parks or lists dead letters calls it.
  static Status Migrate(EventStore& store);

  // Stores `letter` (its id and times are assigned here) and returns its id.
  static Result<int64_t> Add(Transaction& tx, const DeadLetter& letter);

  static Result<std::optional<DeadLetter>> Get(Transaction& tx, int64_t id);
  static Result<std::optional<DeadLetter>> Find(EventStore& store, int64_t id);

  struct ListOptions {
    std::string kind;       // "" = every kind
    std::string component;  // "" = every component of `kind`
    int64_t after_id = 0;   // the cursor: letters with a greater id
    size_t limit = 100;
  };
  // In id order; at most `limit`.
  static Result<std::vector<DeadLetter>> List(EventStore& store, const ListOptions& options);

  // Removes a letter (retried or discarded). False if it was already gone.
  static Result<bool> Remove(Transaction& tx, int64_t id);
  // A retry failed again: counts the attempt, keeps the new error, clears the request.
  static Status RecordFailure(Transaction& tx, int64_t id, const std::string& error);
  // Marks a projection's letter for its builder to retry. False if it is gone.
  static Result<bool> RequestRetry(Transaction& tx, int64_t id);
  // The letters of one projection copy whose retry was requested, in id order.
  static Result<std::vector<DeadLetter>> RetryRequests(EventStore& store,
                                                       const std::string& component,
                                                       int64_t generation);
  // Removes every letter of a projection copy (it was dropped or replaced by a swap).
  static Status RemoveGeneration(Transaction& tx, const std::string& component, int64_t generation);

  // How many letters each (kind, component) holds; components without any are absent.
  static Result<std::map<std::pair<std::string, std::string>, int64_t>> Counts(EventStore& store);
};

}  // namespace rivulet::eventstore
