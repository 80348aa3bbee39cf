#include "cli/commands.h"
#include "eventstore/stream_name.h"

namespace rivulet::cli {

int RunRead(const GlobalOptions& global, const ReadOptions& options) {
  auto config = LoadConfigOrReport(global);
  if (!config) return kExitUsage;
  Status name = eventstore::ValidateStreamName(options.stream, true);
  if (!name.ok()) return ReportFailure(name);
  auto store = OpenStoreOrReport(*config);
  if (!store) return kExitFailed;

  eventstore::StreamReadOptions read;
  read.stream = options.stream;
  read.backward = options.backward;
  read.from = options.from;
  int64_t remaining = options.limit.value_or(-1);  // -1: the whole stream, page by page
  while (remaining != 0) {
    read.limit = remaining > 0 ? static_cast<size_t>(std::min<int64_t>(remaining, 1000)) : 1000;
    auto slice = store->ReadStream(read);
    if (!slice.ok()) return ReportFailure(slice.status());
    std::string line;
    for (const auto& event : slice->events) {
      line.clear();
      eventstore::AppendEventJson(line, event);
      PrintJsonLine(line);
    }
    if (remaining > 0) remaining -= static_cast<int64_t>(slice->events.size());
    if (!slice->next) break;
    read.from = slice->next;
  }
  return kExitOk;
}

}  // namespace rivulet::cli
