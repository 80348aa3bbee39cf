#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "eventstore/event_store.h"

namespace rivulet::outbox {

// outbox_messages, in the store's database:
//   seq              INTEGER PRIMARY KEY AUTOINCREMENT: creation order
//   id               the message id (UUID), stable forever; UNIQUE
//   destination      a destination name
//   key              ordering key (the event's stream): delivered in seq order per key
//   headers          JSON object of extra headers (Rivulet-Event-Type, ...)
//   payload          the event as the HTTP API prints it (JSON text)
//   status           pending | delivered | dead
//   attempts         deliveries tried
//   next_attempt_at  ms since the epoch; a pending message waits until then
//   last_error       why the last attempt failed, or ''
//   created_at, delivered_at   ms since the epoch
struct Message {
  int64_t seq = 0;
  std::string id;
  std::string destination;
  std::string key;
  std::string headers = "{}";  // JSON object text, as stored; Headers() parses it
  std::string payload;
  std::string status;
  int64_t attempts = 0;
  int64_t next_attempt_at = 0;
  std::string last_error;
  int64_t created_at = 0;
  std::optional<int64_t> delivered_at;

  core::Json Headers() const;  // the headers object ({} if the text is not one)
  core::Json ToJson() const;   // for GET /v1/outbox (payload parsed)
};

class OutboxStore {
 public:
  static Status Migrate(eventstore::EventStore& store);

  // Inside a unit of work (the append's, for publish rules and saga emits).
  static Status Insert(eventstore::Transaction& tx, const Message& message);

  // The pending messages of `destination` that may go now: for each key only its oldest
  // pending message, and only when it is due; oldest first.
  static Result<std::vector<Message>> Deliverable(eventstore::EventStore& store,
                                                  const std::string& destination, int64_t now,
                                                  int limit);
  // Pending messages of `destination` with seq > after_seq, in seq order, due or not.
  static Result<std::vector<Message>> PendingInOrder(eventstore::EventStore& store,
                                                     const std::string& destination,
                                                     int64_t after_seq, int limit);
  // The earliest next_attempt_at among pending messages of `destination`.
  static Result<std::optional<int64_t>> NextDue(eventstore::EventStore& store,
                                                const std::string& destination);

  static Status MarkDelivered(eventstore::Transaction& tx, int64_t seq, int64_t now);
  // The same for many messages in one statement.
  static Status MarkDelivered(eventstore::Transaction& tx, const std::vector<int64_t>& seqs,
                              int64_t now);
  // Records a failed attempt: pending again at `retry_at`, or dead when nullopt.
  static Status MarkFailed(eventstore::Transaction& tx, int64_t seq, const std::string& error,
                           std::optional<int64_t> retry_at);
  // Dead -> pending with fresh attempts. NotFound / FailedPrecondition otherwise.
  static Result<Message> Retry(eventstore::EventStore& store, const std::string& id, int64_t now);
  // Deletes up to `batch` delivered messages older than `before`; returns how many.
  static Result<int64_t> Prune(eventstore::EventStore& store, int64_t before, int batch);

  static Result<std::vector<Message>> List(eventstore::EventStore& store, const std::string& status,
                                           const std::string& destination, int64_t after_seq,
                                           int limit);
  static Result<std::vector<std::tuple<std::string, std::string, int64_t>>> Counts(
      eventstore::EventStore& store);  // (destination, status, count)
};

}  // namespace rivulet::outbox
