#include <cstdio>

#include "cli/commands.h"
#include "cli/progress.h"

namespace rivulet::cli {

int RunExport(const GlobalOptions& global, const ExportOptions& options) {
  auto config = LoadConfigOrReport(global);
  if (!config) return kExitUsage;
  if (options.to > 0 && options.to < options.from) {
    return ReportFailure(Status::InvalidArgument("--to is before --from"));
  }
  InstallStopSignals();
  auto store = OpenStoreOrReport(*config);
  if (!store) return kExitFailed;
  eventstore::LogReadOptions read;
  read.limit = 5000;
  if (options.from > 0) read.after.position = options.from - 1;
  if (options.to > 0) read.up_to = options.to;
  const int64_t end = read.up_to.value_or(store->HeadPosition());
  Progress progress("export", end);
  std::string out;
  int64_t exported = 0;
  while (!StopRequested()) {
    auto batch = store->ReadLog(read);
    if (!batch.ok()) return ReportFailure(batch.status());
    out.clear();
    for (const auto& event : batch->events) {
      eventstore::AppendEventJson(out, event);
      out.push_back('\n');
    }
    if (!out.empty() && std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) {
      return ReportFailure(Status::Unavailable("writing to stdout failed"));
    }
    exported += static_cast<int64_t>(batch->events.size());
    read.after = batch->resume;
    progress.Update(read.after.position);
    if (batch->reached_head || (read.up_to && read.after.position >= *read.up_to)) break;
  }
  std::fflush(stdout);
  if (StopRequested()) return ReportFailure(Status::Cancelled("interrupted"));
  progress.Finish(exported);
  return kExitOk;
}

}  // namespace rivulet::cli
