#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "core/result.h"
#include "sources/ingestor.h"

namespace rivulet::sources {

// Where a JSON-lines ingest stands: the byte offset after the last line stored and
// that line's number (1-based). Stored as the source's checkpoint with the file's real
// path, so every spelling of the same file resumes from it.
struct JsonlPosition {
  int64_t offset = 0;
  int64_t line = 0;
};

struct JsonlOptions {
  std::string source;
  // The file (the checkpoint records its real path); empty for stdin (no checkpoint: a
  // retried stdin ingest relies on the _ids alone).
  std::string path;
  JsonlPosition start;
  // Follow the file: at its end, wait for more lines (a source in `rivulet serve`).
  // Without it, the end of the file ends the ingest, and a last line without a newline
  // counts as a line.
  bool follow = false;
  const std::atomic<bool>* stop = nullptr;
  size_t batch_lines = 1000;
  // kDeadLetter: a line that is not JSON, or whose change cannot be ingested, is parked
  // as a dead letter with the rest of its batch going on.
  eventstore::OnError on_error = eventstore::OnError::kStop;
  // Called after every stored batch.
  std::function<void(const JsonlPosition&, const IngestStats&)> on_batch;
};

// Reads change events, one JSON object per line (mongosh's EJSON.stringify output:
// Extended JSON is converted), from `fd` starting at options.start.offset, and ingests
// them in batches, each committed with its checkpoint {path, offset, line}. A malformed
// line or a failed mapping stops the ingest with InvalidArgument "<path>:<line>: ...";
// nothing of that batch is written, the batches before it stay (with kDeadLetter the
// line is parked instead, and the ingest goes on). Blank lines are skipped. Returns the
// totals.
Result<IngestStats> IngestJsonl(Ingestor& ingestor, int fd, const JsonlOptions& options);

// The checkpoint to resume `path` from for `source`: the stored one when it names the
// same file and the file is at least that long, else the start.
Result<JsonlPosition> JsonlResumePosition(eventstore::EventStore& store, const std::string& source,
                                          const std::string& path);

}  // namespace rivulet::sources
