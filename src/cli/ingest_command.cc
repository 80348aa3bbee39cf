#include <fcntl.h>
#include <unistd.h>

#include "cli/commands.h"
#include "sources/jsonl_source.h"

namespace rivulet::cli {

// rivulet ingest SOURCE [FILE|-]: JSON lines of change events through the source's
// mappings, in batches that each commit with the file offset, so an interrupted ingest
// of the same file resumes after the last stored batch. Prints the totals as one JSON
// line; a malformed line stops it with its line number (exit 2), nothing of its batch
// written, unless the source parks bad changes (on_error: dead_letter).
int RunIngest(const GlobalOptions& global, const IngestOptions& options) {
  auto config = LoadConfigOrReport(global);
  if (!config) return kExitUsage;
  const config::SourceConfig* source = nullptr;
  for (const auto& s : config->sources) {
    if (s.name == options.source) source = &s;
  }
  if (source == nullptr) {
    PrintMessage("no source named " + options.source + " is declared");
    return kExitUsage;
  }
  if (source->type == config::SourceConfig::Type::kPostgres) {
    PrintMessage("source " + source->name +
                 " reads PostgreSQL itself; ingest takes http and jsonl sources");
    return kExitUsage;
  }
  std::string file = options.file;
  if (file.empty()) file = source->type == config::SourceConfig::Type::kJsonl ? source->path : "-";

  std::string path;  // empty for stdin
  int fd = STDIN_FILENO;
  if (file != "-") {
    fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      PrintMessage(file + ": cannot read the file");
      return kExitUsage;
    }
    path = file;
  }
  InstallStopSignals();
  auto store = OpenStoreOrReport(*config);
  if (!store) return kExitFailed;
  Status migrated = sources::Ingestor::Migrate(*store);
  if (!migrated.ok()) return ReportFailure(migrated);

  sources::Mapper mapper(config->mappings);
  sources::Ingestor ingestor(*store, mapper);
  sources::JsonlOptions jsonl;
  jsonl.source = source->name;
  jsonl.path = path;
  jsonl.on_error = source->on_error;
  if (!path.empty()) {
    auto start = sources::JsonlResumePosition(*store, source->name, path);
    if (!start.ok()) return ReportFailure(start.status());
    jsonl.start = *start;
    if (start->offset > 0) {
      PrintMessage("resuming " + path + " after line " + std::to_string(start->line));
    }
  }
  static std::atomic<bool> stop{false};
  jsonl.stop = &stop;
  jsonl.on_batch = [](const sources::JsonlPosition&, const sources::IngestStats&) {
    if (StopRequested()) stop.store(true);
  };
  auto stats = sources::IngestJsonl(ingestor, fd, jsonl);
  if (fd != STDIN_FILENO) ::close(fd);
  if (!stats.ok()) return ReportFailure(stats.status());
  PrintJsonLine(stats->ToJson());
  return kExitOk;
}

}  // namespace rivulet::cli
