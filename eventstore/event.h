#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/uuid.h"
#include "eventstore/expected_version.h"

namespace rivulet::eventstore {

// An event as a writer hands it to the store.
struct EventData {
  std::string id;  // UUID text; empty means the store generates a time-ordered (v7) one
  std::string type;
  core::Json data = core::Json::object();
  core::Json metadata = core::Json::object();
};

// One atomic append to one stream.
struct AppendRequest {
  std::string stream;
  ExpectedVersion expected = ExpectedVersion::Any();
  std::vector<EventData> events;
  // Streams whose names start with '$' belong to the runtime (saga instances, ...);
  // only runtime components set this.
  bool allow_reserved_stream = false;
};

struct AppendResult {
  std::string stream;
  int64_t first_version = 0;
  int64_t last_version = 0;
  int64_t position = 0;  // of the last event
  // True when every event id was already stored at these versions: nothing was written
  // and this is the original result (SPEC 2.4).
  bool deduplicated = false;
};

// An event as stored. `data` and `metadata` hold the stored JSON object text, so
// readers can splice them into responses without parsing.
struct RecordedEvent {
  int64_t position = 0;
  std::string stream;
  int64_t version = 0;
  core::Uuid id;
  std::string type;
  std::string data;
  std::string metadata;
  int64_t recorded_at = 0;  // milliseconds since the Unix epoch, UTC

  // The SPEC section 1 shape, with data and metadata parsed.
  core::Json ToJson() const;
};

// Appends the SPEC section 1 JSON object for `event` to `out`:
// {"position":..,"stream":..,"version":..,"id":..,"type":..,"data":{..},
//  "metadata":{..},"recorded_at":"2026-11-21T09:05:03.042Z"}
void AppendEventJson(std::string& out, const RecordedEvent& event);

// The AppendResult as the HTTP API and CLI print it.
core::Json AppendResultToJson(const AppendResult& result);

}  // namespace rivulet::eventstore
