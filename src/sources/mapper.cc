#include "sources/mapper.h"

#include <array>

#include "core/digest.h"
#include "core/status_macros.h"
#include "core/uuid.h"
#include "eventstore/stream_name.h"

namespace rivulet::sources {

namespace {

std::string Text(const core::Json& v) {
  return v.is_string() ? v.get<std::string>() : core::DumpJson(v);
}

std::string DefaultStream(const core::Json& change) {
  std::string stream = change["ns"]["coll"].get<std::string>();
  for (const auto& [key, value] : change["documentKey"].items()) stream += "-" + Text(value);
  return stream;
}

}  // namespace

Mapper::Mapper(std::vector<config::MappingConfig> mappings) : mappings_(std::move(mappings)) {}

Result<std::optional<MappedEvent>> Mapper::Map(const core::Json& change, const Origin& origin,
                                               const std::string& event_id) const {
  const config::MappingConfig* mapping = nullptr;
  for (const config::MappingConfig& m : mappings_) {
    if (!m.source.empty() && m.source != origin.source) continue;
    if (!m.match.Matches(change)) continue;
    mapping = &m;
    break;
  }
  if (mapping == nullptr) return std::optional<MappedEvent>();

  MappedEvent out;
  if (mapping->stream) {
    ASSIGN_OR_RETURN(out.stream, mapping->stream->EvaluateString(change));
  } else {
    out.stream = DefaultStream(change);
  }
  if (Status valid = eventstore::ValidateStreamName(out.stream, false); !valid.ok())
    return Status::InvalidArgument("stream", valid.message());
  if (mapping->type) {
    ASSIGN_OR_RETURN(out.event.type, mapping->type->EvaluateString(change));
  } else {
    out.event.type =
        change["ns"]["coll"].get<std::string>() + "." + change["operationType"].get<std::string>();
  }
  if (Status valid = eventstore::ValidateEventType(out.event.type); !valid.ok())
    return Status::InvalidArgument("type", valid.message());
  if (mapping->data) {
    ASSIGN_OR_RETURN(out.event.data, mapping->data->Evaluate(change));
    if (!out.event.data.is_object())
      return Status::InvalidArgument("data", "the mapping's data must give a JSON object");
  } else {
    out.event.data = core::Json{{"documentKey", change["documentKey"]},
                                {"fullDocument", change["fullDocument"]},
                                {"fullDocumentBeforeChange", change["fullDocumentBeforeChange"]},
                                {"updateDescription", change["updateDescription"]}};
  }
  out.event.metadata = core::Json::object();
  if (mapping->metadata) {
    ASSIGN_OR_RETURN(out.event.metadata, mapping->metadata->Evaluate(change));
    if (!out.event.metadata.is_object())
      return Status::InvalidArgument("metadata", "the mapping's metadata must give a JSON object");
  }
  out.event.metadata["source"] = origin.source;
  out.event.metadata["source_position"] = origin.position;
  out.event.metadata["cluster_time"] = change["clusterTime"];
  for (const auto& [key, value] : origin.extra.items()) out.event.metadata[key] = value;
  out.event.id = event_id;
  return std::optional<MappedEvent>(std::move(out));
}

std::string DerivedEventId(const std::string& seed) {
  std::string hex = core::Sha256Hex(seed).substr(0, 32);
  hex[12] = '8';                                                    // version 8: custom
  hex[16] = "89ab"[std::stoi(hex.substr(16, 1), nullptr, 16) & 3];  // RFC 4122 variant
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

OrderedEventIds::OrderedEventIds(std::string source)
    : source_(std::move(source)),
      source_hash_(std::stoull(core::Sha256Hex(source_).substr(0, 7), nullptr, 16)) {}

std::string OrderedEventIds::operator()(uint64_t lsn, bool snapshot, uint64_t n) const {
  if (lsn >> 60 != 0 || n >> 33 != 0) {
    return DerivedEventId(source_ + "\n" + std::to_string(lsn) + "\n" +
                          (snapshot ? "snapshot\n" : "") + std::to_string(n));
  }
  // 48 bits of LSN | version 8 | 12 bits of LSN; variant 10 | snapshot | n | source hash.
  const uint64_t high = (lsn >> 12) << 16 | 0x8000 | (lsn & 0xfff);
  const uint64_t low = uint64_t{2} << 62 | uint64_t{snapshot} << 61 | n << 28 | source_hash_;
  std::array<uint8_t, 16> bytes;
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<uint8_t>(high >> (56 - 8 * i));
    bytes[8 + i] = static_cast<uint8_t>(low >> (56 - 8 * i));
  }
  return core::Uuid(bytes).ToString();
}

std::string OrderedEventId(const std::string& source, uint64_t lsn, bool snapshot, uint64_t n) {
  return OrderedEventIds(source)(lsn, snapshot, n);
}

}  // namespace rivulet::sources
