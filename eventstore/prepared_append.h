#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/uuid.h"
#include "eventstore/event.h"

namespace rivulet::eventstore {

inline constexpr size_t kMaxEventsPerAppend = 10'000;
// The default largest event a store accepts (server.max_body's default): see
// CheckEventSize.
inline constexpr size_t kDefaultMaxEventBytes = 4 * 1024 * 1024;

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

// An event's size as the store counts it: the bytes of its type, data and metadata as
// stored (JSON text).
inline size_t StoredEventBytes(std::string_view type, std::string_view data,
                               std::string_view metadata) {
  return type.size() + data.size() + metadata.size();
}

// Ok if an event of `bytes` fits `limit`; otherwise ResourceExhausted with reason
// "too_large" (HTTP 413) and details {"bytes", "limit"}, its message naming `where`
// (e.g. "events[2]") and both sizes.
Status CheckEventSize(std::string_view where, size_t bytes, size_t limit);

}  // namespace rivulet::eventstore
