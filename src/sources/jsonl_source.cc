#include "sources/jsonl_source.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/status_macros.h"

namespace rivulet::sources {

namespace {

// The file's name in checkpoints: its real path, so `rivulet ingest ./x.jsonl` and a
// source declared with another spelling of the same file resume from each other.
std::string CheckpointPath(const std::string& path) {
  char resolved[PATH_MAX];
  return ::realpath(path.c_str(), resolved) != nullptr ? std::string(resolved) : path;
}

void Add(IngestStats& total, const IngestStats& batch) {
  total.ingested += batch.ingested;
  total.duplicates += batch.duplicates;
  total.unmatched += batch.unmatched;
  total.ignored += batch.ignored;
  total.dead_lettered += batch.dead_lettered;
  for (const core::Json& d : batch.dead_letters) {
    if (total.dead_letters.size() < kMaxReportedErrors) total.dead_letters.push_back(d);
  }
  if (batch.last_position != 0) total.last_position = batch.last_position;
}

}  // namespace

Result<IngestStats> IngestJsonl(Ingestor& ingestor, int fd, const JsonlOptions& options) {
  const std::string where = options.path.empty() ? "stdin" : options.path;
  const std::string checkpoint_path = options.path.empty() ? "" : CheckpointPath(options.path);
  IngestStats total;
  JsonlPosition stored = options.start;  // what the store holds
  JsonlPosition read = options.start;    // through the last complete line read
  std::string buffer;                    // bytes after `read.offset`
  IngestBatch batch;
  batch.source = options.source;
  batch.on_error = options.on_error;
  const bool park = options.on_error == eventstore::OnError::kDeadLetter;
  std::vector<int64_t> line_numbers;  // of each change in the batch
  JsonlPosition batch_end = stored;

  auto commit = [&]() -> Status {
    if (batch_end.offset == stored.offset) return Status::Ok();
    if (!checkpoint_path.empty()) {
      batch.checkpoint = core::Json{
          {"path", checkpoint_path}, {"offset", batch_end.offset}, {"line", batch_end.line}};
    }
    Result<IngestStats> stats = ingestor.Ingest(batch);
    if (!stats.ok()) {
      const Status& s = stats.status();
      if (s.code() == StatusCode::kInvalidArgument && s.details().contains("errors")) {
        const core::Json& first = s.details()["errors"][0];
        const size_t index = first["index"];
        return Status::InvalidArgument(where + ":" + std::to_string(line_numbers[index]) + ": " +
                                       first["message"].get<std::string>() + " (nothing of lines " +
                                       std::to_string(line_numbers.front()) + "-" +
                                       std::to_string(line_numbers.back()) + " was written)");
      }
      return s;
    }
    for (core::Json& d : stats->dead_letters) d["line"] = line_numbers[d["index"].get<size_t>()];
    Add(total, *stats);
    stored = batch_end;
    if (options.on_batch) options.on_batch(stored, *stats);
    batch.changes.clear();
    line_numbers.clear();
    return Status::Ok();
  };

  // Takes the complete lines out of `buffer`; `at_end`: the last unterminated one too.
  auto take_lines = [&](bool at_end) -> Status {
    size_t pos = 0;
    while (true) {
      size_t end = buffer.find('\n', pos);
      if (end == std::string::npos) {
        if (!at_end || pos == buffer.size()) break;
        end = buffer.size();
      }
      const std::string_view line(buffer.data() + pos, end - pos);
      const int64_t consumed = static_cast<int64_t>(std::min(end + 1, buffer.size()) - pos);
      read.offset += consumed;
      ++read.line;
      pos = std::min(end + 1, buffer.size());
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
        batch_end = read;
        continue;  // blank
      }
      Result<core::Json> parsed = core::ParseJson(line);
      Change change;
      if (!parsed.ok()) {
        if (!park) {
          RETURN_IF_ERROR(commit());  // the lines before it are good
          return Status::InvalidArgument(where + ":" + std::to_string(read.line) +
                                         ": not a JSON object: " + parsed.status().message());
        }
        change.event = std::string(line);
        change.error = "not a JSON object: " + parsed.status().message();
      } else {
        change.event = std::move(*parsed);
      }
      change.position = read.offset - consumed;  // the line's byte offset
      if (park) change.label = where + ":" + std::to_string(read.line);
      batch.changes.push_back(std::move(change));
      line_numbers.push_back(read.line);
      batch_end = read;
      if (batch.changes.size() >= options.batch_lines) RETURN_IF_ERROR(commit());
    }
    buffer.erase(0, pos);
    return Status::Ok();
  };

  if (::lseek(fd, options.start.offset, SEEK_SET) < 0 && options.start.offset != 0) {
    return Status::InvalidArgument(where + ": cannot seek to offset " +
                                   std::to_string(options.start.offset));
  }
  char chunk[1 << 16];
  while (options.stop == nullptr || !options.stop->load()) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Unavailable(where + ": " + std::strerror(errno));
    }
    if (n > 0) {
      buffer.append(chunk, static_cast<size_t>(n));
      RETURN_IF_ERROR(take_lines(false));
      continue;
    }
    // The end of what is there now.
    if (!options.follow) {
      RETURN_IF_ERROR(take_lines(true));
      break;
    }
    RETURN_IF_ERROR(commit());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  RETURN_IF_ERROR(commit());
  return total;
}

Result<JsonlPosition> JsonlResumePosition(eventstore::EventStore& store, const std::string& source,
                                          const std::string& path) {
  ASSIGN_OR_RETURN(core::Json checkpoint, Ingestor::Checkpoint(store, source));
  JsonlPosition start;
  if (!checkpoint.is_object() || checkpoint.value("path", "") != CheckpointPath(path)) return start;
  struct stat st {};
  const int64_t offset = checkpoint.value("offset", int64_t{0});
  if (::stat(path.c_str(), &st) != 0 || st.st_size < offset) return start;  // replaced
  start.offset = offset;
  start.line = checkpoint.value("line", int64_t{0});
  return start;
}

}  // namespace rivulet::sources
