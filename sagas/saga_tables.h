#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "eventstore/event_store.h"

namespace rivulet::sagas {

// The saga module's rows in the store's database. The instance's stream is the truth;
// these rows index it and commit in the same unit of work as each of its appends.
//
// saga_instances: one row per instance.
//   name, id            the saga and the instance (primary key)
//   status              running | compensating | completed | compensated | failed | aborted
//   phase               the machine's phase (saga_machine.h PhaseName)
//   step                the step it is at, or ''
//   version             the stream's last version
//   finished            1 once the terminal event is recorded (failed: until retry)
//   definition_hash     of the frozen definition
//   started_at, updated_at   ms since the epoch
//   error               why it compensates or failed, or ''
// saga_checkpoints: consumer TEXT PRIMARY KEY, position INTEGER (trigger consumption).
struct InstanceRow {
  std::string name;
  std::string id;
  std::string status;
  std::string phase;
  std::string step;
  int64_t version = -1;
  bool finished = false;
  std::string definition_hash;
  int64_t started_at = 0;
  int64_t updated_at = 0;
  std::string error;

  core::Json ToJson() const;  // {name, id, status, step, started_at, updated_at, error}
};

class SagaTables {
 public:
  static Status Migrate(eventstore::EventStore& store);

  // "$saga-<saga>-<id>". One stream per (saga, id): a declared saga's name never holds
  // '-' (SPEC section 4), so the first '-' after "$saga-" ends it.
  static std::string StreamOf(const std::string& saga, const std::string& id);

  // Inside a unit of work.
  static Result<bool> Exists(eventstore::Transaction& tx, const std::string& name,
                             const std::string& id);
  static Status Upsert(eventstore::Transaction& tx, const InstanceRow& row);
  static Result<int64_t> Checkpoint(eventstore::Transaction& tx, const std::string& consumer);
  static Status SetCheckpoint(eventstore::Transaction& tx, const std::string& consumer,
                              int64_t position);

  // From a reader connection.
  static Result<std::optional<InstanceRow>> Get(eventstore::EventStore& store,
                                                const std::string& name, const std::string& id);
  // Instances not finished (to resume on start).
  static Result<std::vector<InstanceRow>> Unfinished(eventstore::EventStore& store);
  // A page ordered by (name, id) after `after` (name, id), filtered when non-empty.
  static Result<std::vector<InstanceRow>> List(eventstore::EventStore& store,
                                               const std::string& name, const std::string& status,
                                               const std::pair<std::string, std::string>& after,
                                               int limit);
  // Instance counts by (name, status), for metrics.
  static Result<std::vector<std::tuple<std::string, std::string, int64_t>>> Counts(
      eventstore::EventStore& store);
  static Result<int64_t> StoredCheckpoint(eventstore::EventStore& store,
                                          const std::string& consumer);
};

}  // namespace rivulet::sagas
