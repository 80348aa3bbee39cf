#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cli/cli_common.h"

namespace rivulet::cli {

// One function per subcommand of SPEC section 6; each returns the process exit code.

int RunServe(const GlobalOptions& global);
int RunCheck(const GlobalOptions& global);

struct AppendOptions {
  std::string stream;
  std::string type;
  std::string data = "{}";
  std::string expected_version = "any";
  std::string metadata = "{}";
  std::string id;
};
int RunAppend(const GlobalOptions& global, const AppendOptions& options);

struct ReadOptions {
  std::string stream;
  std::optional<int64_t> from;
  std::optional<int64_t> limit;
  bool backward = false;
};
int RunRead(const GlobalOptions& global, const ReadOptions& options);

struct TailOptions {
  std::string match;
  std::string resume_after;
  bool from_start = false;
  std::optional<int64_t> limit;  // stop after this many events
};
int RunTail(const GlobalOptions& global, const TailOptions& options);

struct ReplayOptions {
  std::string projection;
  bool all_projections = false;
  std::string to_file;
  bool dry_run = false;
  std::string match;
  int64_t from = 0;   // first position (1-based); 0: the start
  std::string to;     // a position, or (later) an outbox destination
  std::string since;  // RFC 3339
  std::string until;
};
int RunReplay(const GlobalOptions& global, const ReplayOptions& options);

struct ExportOptions {
  int64_t from = 0;
  int64_t to = 0;  // 0: the head
};
int RunExport(const GlobalOptions& global, const ExportOptions& options);

struct ImportOptions {
  std::string file = "-";
};
int RunImport(const GlobalOptions& global, const ImportOptions& options);

struct ProjectionsOptions {
  std::string action;  // list | get | query
  std::string name;
  std::string key;
  std::string match;
  std::string sort;
  int64_t limit = 100;
  std::string cursor;
};
int RunProjections(const GlobalOptions& global, const ProjectionsOptions& options);

struct SagasOptions {
  std::string action;  // list | show | start | retry | abort
  std::string name;
  std::string id;
  std::string status;  // list
  std::string input;   // start: the trigger, a JSON object
  std::string reason;  // abort
};
int RunSagas(const GlobalOptions& global, const SagasOptions& options);

struct OutboxOptions {
  std::string action;  // list | retry
  std::string status;
  std::string destination;
  std::string id;
};
int RunOutbox(const GlobalOptions& global, const OutboxOptions& options);

struct DeadLettersOptions {
  std::string action;  // list | retry | discard
  std::string source;
  std::string projection;
  int64_t id = 0;
};
int RunDeadLetters(const GlobalOptions& global, const DeadLettersOptions& options);

struct IngestOptions {
  std::string source;
  std::string file;  // "-" for stdin; empty: the jsonl source's own path, or stdin
};
int RunIngest(const GlobalOptions& global, const IngestOptions& options);

}  // namespace rivulet::cli
