#include "eventstore/prepared_append.h"

#include <algorithm>

#include "core/byte_size.h"
#include "eventstore/stream_name.h"

namespace rivulet::eventstore {

Result<PreparedAppend> PrepareAppend(const AppendRequest& request, int64_t now_millis) {
  Status name = ValidateStreamName(request.stream, request.allow_reserved_stream);
  if (!name.ok()) return name;
  if (request.events.empty())
    return Status::InvalidArgument("events: an append needs at least one event");
  if (request.events.size() > kMaxEventsPerAppend) {
    return Status::InvalidArgument("events: " + std::to_string(request.events.size()) +
                                   " events in one append; the limit is " +
                                   std::to_string(kMaxEventsPerAppend));
  }
  PreparedAppend prepared;
  prepared.stream = request.stream;
  prepared.expected = request.expected;
  prepared.events.reserve(request.events.size());
  for (size_t i = 0; i < request.events.size(); ++i) {
    const EventData& in = request.events[i];
    std::string where = "events[" + std::to_string(i) + "]";
    PreparedEvent out;
    if (in.id.empty()) {
      out.id = core::Uuid::NewV7(now_millis);
    } else {
      auto id = core::Uuid::Parse(in.id);
      if (!id.ok()) return id.status().WithContext(where + ".id");
      out.id = *id;
      out.client_supplied_id = true;
      prepared.any_client_supplied_id = true;
    }
    Status type = ValidateEventType(in.type);
    if (!type.ok()) return type.WithContext(where + ".type");
    out.type = in.type;
    if (!in.data.is_object()) {
      return Status::InvalidArgument(
          where + ".data", std::string("expected an object, got ") + core::JsonTypeName(in.data));
    }
    if (!in.metadata.is_object()) {
      return Status::InvalidArgument(where + ".metadata", std::string("expected an object, got ") +
                                                              core::JsonTypeName(in.metadata));
    }
    out.data = core::DumpJson(in.data);
    out.metadata = core::DumpJson(in.metadata);
    prepared.events.push_back(std::move(out));
  }
  // Generated (version 7, 74 random bits) ids cannot collide; client ids might.
  if (prepared.any_client_supplied_id) {
    std::vector<std::pair<core::Uuid, size_t>> ids;
    for (size_t i = 0; i < prepared.events.size(); ++i) {
      if (prepared.events[i].client_supplied_id) ids.emplace_back(prepared.events[i].id, i);
    }
    std::sort(ids.begin(), ids.end());
    for (size_t k = 1; k < ids.size(); ++k) {
      if (ids[k].first == ids[k - 1].first) {
        size_t later = std::max(ids[k].second, ids[k - 1].second);
        return Status::InvalidArgument(
            "events[" + std::to_string(later) + "].id",
            "id " + ids[k].first.ToString() + " appears twice in this append");
      }
    }
  }
  return prepared;
}

Status CheckEventSize(std::string_view where, size_t bytes, size_t limit) {
  if (bytes <= limit) return Status::Ok();
  return Status::ResourceExhausted(std::string(where) + ": the event is " + std::to_string(bytes) +
                                   " bytes (type, data and metadata as stored); the store accepts "
                                   "events up to " +
                                   core::FormatByteSize(limit) + " (server.max_body)")
      .WithReason("too_large", core::Json{{"bytes", bytes}, {"limit", limit}});
}

}  // namespace rivulet::eventstore
