#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/filter.h"
#include "core/retry_policy.h"
#include "core/template.h"

namespace rivulet::outbox {

using std::chrono::milliseconds;

// One `outbox.destinations` item.
struct Destination {
  enum class Type { kNats, kHttp, kJsonl };
  std::string name;
  Type type = Type::kHttp;
  std::string url;                        // nats, http
  std::string stream;                     // nats JetStream stream
  std::optional<core::Template> subject;  // nats, over the event
  std::string secret;                     // http HMAC key
  std::string path;                       // jsonl, resolved like store.path
  milliseconds timeout{10'000};           // per delivery attempt
};

// Events matching `match` enter the outbox for each destination in `to`, in the same
// unit of work as their append.
struct PublishRule {
  core::Filter match;
  std::vector<std::string> to;  // destination names
};

// The `outbox:` section.
struct OutboxSettings {
  std::vector<Destination> destinations;
  std::vector<PublishRule> publish;
  core::RetryPolicy retry{10, milliseconds(500), 2.0, milliseconds(60'000),
                          core::RetryPolicy::Jitter::kFull};
  milliseconds retention{7LL * 24 * 3600 * 1000};
};

}  // namespace rivulet::outbox
