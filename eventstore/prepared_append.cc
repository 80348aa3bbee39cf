#include "eventstore/prepared_append.h"

#include <unordered_set>

#include "eventstore/stream_name.h"

namespace rivulet::eventstore {

Result<PreparedAppend> PrepareAppend(const AppendRequest& request, int64_t now_millis) {
  Status name = ValidateStreamName(request.stream, request.allow_reserved_stream);
  if (!name.ok()) return name;
  if (request.events.empty()) return Status::InvalidArgument("events: an append needs at least one event");
  if (request.events.size() > kMaxEventsPerAppend) {
    return Status::InvalidArgument("events: " + std::to_string(request.events.size()) +
                                   " events in one append; the limit is " +
                                   std::to_string(kMaxEventsPerAppend));
  }
  PreparedAppend prepared;
  prepared.stream = request.stream;
  prepared.expected = request.expected;
  prepared.events.reserve(request.events.size());
  std::unordered_set<std::string> seen_ids;
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
    out.id_text = out.id.ToString();
    if (!seen_ids.insert(out.id_text).second) {
      return Status::InvalidArgument(where + ".id", "id " + out.id_text + " appears twice in this append");
    }
    Status type = ValidateEventType(in.type);
    if (!type.ok()) return type.WithContext(where + ".type");
    out.type = in.type;
    if (!in.data.is_object()) {
      return Status::InvalidArgument(where + ".data",
                                     std::string("expected an object, got ") + core::JsonTypeName(in.data));
    }
    if (!in.metadata.is_object()) {
      return Status::InvalidArgument(where + ".metadata", std::string("expected an object, got ") +
                                                              core::JsonTypeName(in.metadata));
    }
    out.data = core::DumpJson(in.data);
    out.metadata = core::DumpJson(in.metadata);
    prepared.events.push_back(std::move(out));
  }
  return prepared;
}

}  // namespace rivulet::eventstore
