#include "cli/commands.h"
#include "core/status_macros.h"
#include "eventstore/change_stream.h"

namespace rivulet::cli {

int RunTail(const GlobalOptions& global, const TailOptions& options) {
  auto config = LoadConfigOrReport(global);
  if (!config) return kExitUsage;
  if (!options.resume_after.empty() && options.from_start) {
    return ReportFailure(
        Status::InvalidArgument("give either --resume-after or --from-start, not both"));
  }
  eventstore::EventFilter filter;
  if (!options.match.empty()) {
    auto json = core::ParseJson(options.match);
    if (!json.ok()) return ReportFailure(json.status().WithContext("--match"));
    auto match = core::Filter::Parse(*json);
    if (!match.ok()) return ReportFailure(match.status().WithContext("--match"));
    filter.match = std::move(match).value();
  }
  eventstore::LogPosition start;
  if (!options.resume_after.empty()) {
    auto token = eventstore::DecodeResumeToken(options.resume_after);
    if (!token.ok()) return ReportFailure(token.status().WithContext("--resume-after"));
    start = *token;
  }

  InstallStopSignals();
  auto store = OpenStoreOrReport(*config);
  if (!store) return kExitFailed;
  if (options.resume_after.empty() && !options.from_start) start.position = store->HeadPosition();

  eventstore::ChangeStream changes(*store, std::move(filter), start, 500);
  int64_t printed = 0;
  std::string line;
  while (!StopRequested()) {
    auto batch = changes.Next(std::chrono::milliseconds(1000), [] { return StopRequested(); });
    if (!batch.ok()) return ReportFailure(batch.status());
    for (const auto& event : batch->events) {
      line.clear();
      eventstore::AppendEventJson(line, event);
      // Each line also carries the token to resume after it.
      line.pop_back();
      line += ",\"resume_token\":\"" + eventstore::EncodeResumeToken({event.position, 0}) + "\"}";
      PrintJsonLine(line);
      if (options.limit && ++printed >= *options.limit) return kExitOk;
    }
  }
  return kExitOk;
}

}  // namespace rivulet::cli
