#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/metrics.h"
#include "core/result.h"
#include "eventstore/event_store.h"
#include "sources/mapper.h"

namespace rivulet::sources {

// One change as a source read it.
struct Change {
  core::Json event;     // the change event, raw (Extended JSON allowed)
  core::Json position;  // where it is in its source: its _id, a byte offset, an LSN
  core::Json extra = core::Json::object();  // more metadata (snapshot, TOAST columns)
  std::string event_id;                     // "" = derived from the source and the _id
};

struct IngestBatch {
  std::string source;
  std::vector<Change> changes;
  // http and jsonl sources: a change whose _id this source already ingested is
  // skipped (also within the batch). postgres sources skip by LSN instead.
  bool skip_seen_ids = true;
  core::Json checkpoint;  // stored with the events; null leaves the checkpoint as is
};

struct IngestStats {
  int64_t ingested = 0;       // appended as events
  int64_t duplicates = 0;     // _id seen before
  int64_t unmatched = 0;      // no mapping fits
  int64_t ignored = 0;        // not a data operation (drop, invalidate, ...)
  int64_t last_position = 0;  // the store position of the last event appended, or 0
  core::Json ToJson() const;
};

// Change events into the store (SPEC 2.7): each batch is checked and mapped first; if
// any change is malformed or its mapping fails, nothing is written and the error
// (InvalidArgument) lists every failed change by index in details["errors"]. Otherwise
// one unit of work appends the events in order, remembers the _ids and stores the
// checkpoint. Thread-safe.
class Ingestor {
 public:
  Ingestor(eventstore::EventStore& store, const Mapper& mapper,
           core::MetricsRegistry* metrics = nullptr);

  // The source tables: source_checkpoints (source, checkpoint JSON, updated_at) and
  // source_change_ids (source, id): the _ids of http and jsonl sources.
  static Status Migrate(eventstore::EventStore& store);
  // The stored checkpoint of `source`, or null.
  static Result<core::Json> Checkpoint(eventstore::EventStore& store, const std::string& source);

  Result<IngestStats> Ingest(const IngestBatch& batch);

 private:
  void Count(const std::string& source, const IngestStats& stats);

  eventstore::EventStore& store_;
  const Mapper& mapper_;
  core::MetricsRegistry* metrics_;
};

}  // namespace rivulet::sources
