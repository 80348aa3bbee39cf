#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/log.h"
#include "core/result.h"
#include "eventstore/event_store.h"
#include "sagas/saga_machine.h"
#include "sagas/saga_tables.h"

namespace rivulet::sagas {

// A saga instance in memory: its frozen definition, its machine (the fold of its
// stream) and what is needed to write the next events. Not thread-safe.
struct SagaInstance {
  std::string name;
  std::string id;
  std::shared_ptr<const SagaDefinition> definition;
  std::unique_ptr<SagaMachine> machine;
  int64_t version = -1;       // the stream's last stored version (-1: not stored yet)
  int64_t started_at = 0;     // ms since the epoch
  int64_t from_position = 0;  // await steps consider events after this position
  int64_t last_consumed = 0;  // the last event an await step consumed
  std::string correlation_id;

  // Events applied to the machine but not yet stored, in order.
  std::vector<eventstore::EventData> pending;
  // Events for other streams (on_completed / on_compensated emits) that commit with them.
  std::vector<eventstore::AppendRequest> emits;
  // The current await step's filter, as evaluated when the wait began.
  core::Json await_match;

  // What the log says once `pending` is stored: one record per change of the
  // instance's state (a step that failed for good, compensation, failed, compensated,
  // aborted); a retried attempt is a debug record. Said by Stored, so nothing is said
  // about events that were never stored.
  struct LogNote {
    core::LogLevel level;
    std::string message;
    std::string step;
    int attempt = 0;
  };
  std::vector<LogNote> log_notes;

  std::string stream() const { return SagaTables::StreamOf(name, id); }
  // Applies an event to the machine and queues it for the next append. A refused event
  // (see SagaMachine::Apply) changes nothing.
  Status Record(const std::string& type, core::Json data);
  // The template context of SPEC section 4: trigger, saga {name, id, error},
  // steps.<name> {response, status} for steps that succeeded, services.
  core::Json Context(const std::map<std::string, std::string>& services) const;
  InstanceRow Row(int64_t now) const;
  // The request to append `pending` (expected: the stored version), allowed on the
  // reserved $saga- stream.
  eventstore::AppendRequest PendingAppend() const;
  // After the pending events are stored: logs their notes.
  void Stored(int64_t last_version);
};

// Rebuilds an instance from its stream (the first event must be SagaStarted, whose
// definition is compiled again). NotFound when the stream does not exist.
Result<SagaInstance> LoadInstance(eventstore::EventStore& store, const std::string& name,
                                  const std::string& id);

// Longest instance id: with a saga name of at most 48 bytes (SPEC section 4), the
// stream "$saga-<name>-<id>" stays within the 256 bytes of a stream name.
inline constexpr size_t kMaxInstanceIdBytes = 200;

// Ok if `id` can name an instance: 1-200 bytes of UTF-8 without '/' or control
// characters. Otherwise InvalidArgument saying why (the id's stream could not be
// written, and a trigger carrying it is refused).
Status ValidateInstanceId(std::string_view id);

// A new instance (not stored): SagaStarted recorded with the definition frozen in it.
// InvalidArgument if ValidateInstanceId refuses `id`.
Result<SagaInstance> NewInstance(const SagaDefinition& definition, const std::string& id,
                                 const core::Json& trigger, int64_t from_position, int64_t now);

// The instance's state and history as GET /v1/sagas/{name}/{id} returns it.
Result<core::Json> DescribeInstance(eventstore::EventStore& store, const std::string& name,
                                    const std::string& id);

}  // namespace rivulet::sagas
