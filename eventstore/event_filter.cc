#include "eventstore/event_filter.h"

#include "core/glob.h"
#include "core/time_format.h"

namespace rivulet::eventstore {

bool EventFilter::MatchesHeader(std::string_view stream, std::string_view type) const {
  if (!types.empty()) {
    bool any = false;
    for (const std::string& t : types) {
      if (t == type) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  if (!streams.empty()) {
    bool any = false;
    for (const std::string& pattern : streams) {
      if (core::GlobMatch(pattern, stream)) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  return true;
}

bool EventFilter::MatchesBody(const RecordedEvent& event) const {
  if (!match || match->matches_everything()) return true;
  const auto& roots = match->referenced_roots();
  core::Json doc = core::Json::object();
  doc["position"] = event.position;
  doc["stream"] = event.stream;
  doc["version"] = event.version;
  doc["id"] = event.id.ToString();
  doc["type"] = event.type;
  if (roots.count("recorded_at")) doc["recorded_at"] = core::FormatRfc3339Millis(event.recorded_at);
  if (roots.count("data"))
    doc["data"] = core::ParseJsonOr(event.data, core::Json(), core::kStoredJson);
  if (roots.count("metadata"))
    doc["metadata"] = core::ParseJsonOr(event.metadata, core::Json(), core::kStoredJson);
  return match->Matches(doc);
}

}  // namespace rivulet::eventstore
