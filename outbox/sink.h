#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"
#include "outbox/outbox_config.h"
#include "outbox/outbox_store.h"

namespace rivulet::outbox {

// The outcome of one message's delivery attempt.
struct Delivery {
  bool attempted = true;  // false: not sent, an earlier message of its key failed first
  bool delivered = false;
  bool retryable = true;  // false: straight to dead (a 4xx other than 408/429)
  std::string error;
};

// Where a destination's messages go. Deliver is called from the destination's relay
// thread only; it returns one Delivery per message, in order.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual Status Open() = 0;
  // True if the sink takes a destination's pending messages in seq order, several per
  // key (jsonl, nats): it must deliver each key's messages in that order and, after a
  // key's first failure, leave the rest of that key unattempted. False if only each
  // key's oldest pending message goes at a time (http).
  virtual bool ordered_batches() const = 0;
  virtual std::vector<Delivery> Deliver(const std::vector<Message>& batch) = 0;
};

// One JSON line per message ({id, destination, key, headers, payload}) appended to a
// file and fsynced before the batch counts as delivered. On open, the ids in the last
// 32 MiB of the file are read, so a message written before a crash (but not yet marked
// delivered) is not written twice.
std::unique_ptr<Sink> MakeJsonlSink(const Destination& destination);

// POST of the payload to the URL with Idempotency-Key: <message id>, Rivulet-Event-Type,
// and Rivulet-Signature: sha256=<hex HMAC of the body> when a secret is set; up to
// `connections` requests at once. 2xx delivers; 408, 429, 5xx and network errors retry;
// other 4xx are dead at once.
std::unique_ptr<Sink> MakeHttpSink(const Destination& destination, int connections = 16);

// JetStream through libnats: subject from the destination's template over the event,
// header Nats-Msg-Id = the message id (the stream's duplicate window drops a message
// sent again), every acknowledgement awaited. A batch goes out in waves: each key's
// next message, published asynchronously for all keys at once, then every
// acknowledgement of the wave before the next one. Open creates the stream with a 10-minute
// duplicate window if it does not exist, or checks that it covers the subjects.
std::unique_ptr<Sink> MakeNatsSink(const Destination& destination);

}  // namespace rivulet::outbox
