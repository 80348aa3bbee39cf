#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/json.h"
#include "core/result.h"
#include "eventstore/event.h"

namespace rivulet::sources {

// A change event turned into a domain event, ready to append.
struct MappedEvent {
  std::string stream;
  eventstore::EventData event;
};

// Where a change came from, recorded in every event's metadata: `source`,
// `source_position` (the change's _id, a file offset or an LSN) and `cluster_time`,
// plus anything source-specific (`snapshot`, `unchanged_toast_columns`).
struct Origin {
  std::string source;
  core::Json position;
  core::Json extra = core::Json::object();
};

// The `mappings:` of the config (SPEC section 4), tried in order; the first whose
// `source` (when set) and `match` fit the change event wins. Defaults when a mapping
// leaves them out: stream `<ns.coll>-<documentKey values joined by '-', in key name
// order>`, type
// `<ns.coll>.<operationType>`, data `{documentKey, fullDocument,
// fullDocumentBeforeChange, updateDescription}`. Thread-safe.
class Mapper {
 public:
  explicit Mapper(std::vector<config::MappingConfig> mappings);

  // nullopt when no mapping matches (the change is counted and skipped). An error
  // (InvalidArgument) when a template fails or produces an invalid stream or type.
  // `event_id` becomes the event's id, so a change ingested again is the same event.
  Result<std::optional<MappedEvent>> Map(const core::Json& change, const Origin& origin,
                                         const std::string& event_id) const;

 private:
  std::vector<config::MappingConfig> mappings_;
};

// A UUID derived from `seed` (SHA-256, version nibble 8): the same change always gets
// the same event id.
std::string DerivedEventId(const std::string& seed);

// Event ids for one source's positioned changes: a UUID (version 8) for the `n`th
// change at log position `lsn`, ordered by (lsn, snapshot, n): the 60 low bits of the
// LSN, then a snapshot bit, 33 bits of `n` and 28 bits of a hash of the source name.
// Ids in log order keep the store's id index appending at its end; random ids dirty one
// index page per event, which made batched ingest three times slower once the index
// outgrew the cache. Beyond those ranges (an LSN past 2^60, over 2^33 changes) the id
// is DerivedEventId's.
class OrderedEventIds {
 public:
  explicit OrderedEventIds(std::string source);
  std::string operator()(uint64_t lsn, bool snapshot, uint64_t n) const;

 private:
  std::string source_;
  uint64_t source_hash_;  // 28 bits
};

// OrderedEventIds(source)(lsn, snapshot, n).
std::string OrderedEventId(const std::string& source, uint64_t lsn, bool snapshot, uint64_t n);

}  // namespace rivulet::sources
