#pragma once

#include <string>
#include <vector>

#include "core/result.h"
#include "core/uuid.h"
#include "eventstore/event.h"

namespace rivulet::eventstore {

inline constexpr size_t kMaxEventsPerAppend = 10'000;

struct PreparedEvent {
  core::Uuid id;
  bool client_supplied_id = false;
  std::string type;
  std::string data;      // serialized JSON object
  std::string metadata;  // serialized JSON object
};

// An append checked and serialized on the caller's thread, so the writer thread only
// runs SQL.
struct PreparedAppend {
  std::string stream;
  ExpectedVersion expected = ExpectedVersion::Any();
  std::vector<PreparedEvent> events;
  bool any_client_supplied_id = false;
};

// Validates a request (stream name, 1..10,000 events, types, UUID ids unique within the
// request, data and metadata objects) and serializes it. Errors name the offending
// field: `events[2].data: expected an object, got array`. `now_millis` seeds generated
// (version 7) ids.
Result<PreparedAppend> PrepareAppend(const AppendRequest& request, int64_t now_millis);

}  // namespace rivulet::eventstore
