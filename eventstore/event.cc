#include "eventstore/event.h"

#include "core/time_format.h"

namespace rivulet::eventstore {

namespace {
core::Json ParseStoredObject(const std::string& text) {
  // Stored text was produced by the store itself, so it always parses; keep a reader
  // alive even if someone edited the file by hand.
  return core::ParseJsonOr(text, core::Json::object(), core::kStoredJson);
}
}  // namespace

core::Json RecordedEvent::ToJson() const {
  core::Json j = core::Json::object();
  j["position"] = position;
  j["stream"] = stream;
  j["version"] = version;
  j["id"] = id.ToString();
  j["type"] = type;
  j["data"] = ParseStoredObject(data);
  j["metadata"] = ParseStoredObject(metadata);
  j["recorded_at"] = core::FormatRfc3339Millis(recorded_at);
  return j;
}

void AppendEventJson(std::string& out, const RecordedEvent& event) {
  out += "{\"position\":";
  out += std::to_string(event.position);
  out += ",\"stream\":";
  core::AppendJsonString(out, event.stream);
  out += ",\"version\":";
  out += std::to_string(event.version);
  out += ",\"id\":\"";
  event.id.AppendTo(out);
  out += "\",\"type\":";
  core::AppendJsonString(out, event.type);
  out += ",\"data\":";
  out += event.data;
  out += ",\"metadata\":";
  out += event.metadata;
  out += ",\"recorded_at\":\"";
  core::AppendRfc3339Millis(out, event.recorded_at);
  out += "\"}";
}

core::Json AppendResultToJson(const AppendResult& result) {
  return core::Json{{"stream", result.stream},
                    {"first_version", result.first_version},
                    {"last_version", result.last_version},
                    {"position", result.position}};
}

}  // namespace rivulet::eventstore
