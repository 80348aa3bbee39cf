#pragma once

#include <cstdio>
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
  // The event may carry Extended JSON ($oid, $date, ...) to convert: true for what
  // clients send, false for changes a source builds from typed values (postgres).
  bool extended_json = true;
};

struct IngestBatch {
  std::string source;
  std::vector<Change> changes;
  // http and jsonl sources: a change whose _id this source already ingested is
  // skipped (also within the batch). postgres sources skip by LSN instead.
  bool skip_seen_ids = true;
  core::Json checkpoint;  // stored with the events; null leaves the checkpoint as is
};

// Changes kept in a temporary file (under $TMPDIR) instead of memory, for a copy too
// large to hold: a snapshot of a big table. Not thread-safe.
class ChangeSpool {
 public:
  ChangeSpool();
  ~ChangeSpool();
  ChangeSpool(const ChangeSpool&) = delete;
  ChangeSpool& operator=(const ChangeSpool&) = delete;

  Status Add(Change change);
  size_t size() const { return size_; }
  // Reading starts again from the first change.
  Status Rewind();
  // Up to `max` changes into `out` (cleared first); empty at the end.
  Status Read(size_t max, std::vector<Change>* out);

 private:
  std::FILE* file_ = nullptr;
  size_t size_ = 0;
  std::string error_;  // why the file could not be made
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

  // The same for every change of `spool`, mapped and appended `chunk` at a time inside
  // one unit of work that ends with `checkpoint`: all of them or none, in memory
  // proportional to `chunk`. The first change that fails to map rolls everything back
  // (InvalidArgument naming its index). Other writers wait while the unit runs.
  Result<IngestStats> IngestSpool(const std::string& source, ChangeSpool& spool,
                                  const core::Json& checkpoint, size_t chunk = 10'000);

 private:
  struct Mapped {
    std::string id_key;  // the _id, when skipping seen ones
    std::optional<MappedEvent> event;
    bool ignored = false;
  };
  // Checks and maps `changes`; InvalidArgument listing every failure, indexes counted
  // from `first_index`.
  Result<std::vector<Mapped>> Map(const std::string& source, const std::vector<Change>& changes,
                                  bool skip_seen_ids, size_t first_index) const;
  // Appends the mapped events (consecutive ones of a stream together), skipping and
  // remembering _ids when asked. An event the store finds too large is reported like a
  // failed mapping: InvalidArgument with the change's index counted from `first_index`.
  static Status Append(eventstore::Transaction& tx, const std::string& source,
                       std::vector<Mapped>& mapped, bool skip_seen_ids, IngestStats& stats,
                       size_t first_index);
  static Status StoreCheckpoint(eventstore::Transaction& tx, const std::string& source,
                                const core::Json& checkpoint);
  void Count(const std::string& source, const IngestStats& stats);

  eventstore::EventStore& store_;
  const Mapper& mapper_;
  core::MetricsRegistry* metrics_;
};

}  // namespace rivulet::sources
