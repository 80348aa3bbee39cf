#include "cli/commands.h"
#include "core/json.h"
#include "core/status_macros.h"
#include "eventstore/prepared_append.h"
#include "eventstore/stream_name.h"

namespace rivulet::cli {

namespace {
Result<eventstore::AppendRequest> BuildRequest(const AppendOptions& options) {
  eventstore::AppendRequest request;
  request.stream = options.stream;
  RETURN_IF_ERROR(eventstore::ValidateStreamName(options.stream, false));
  ASSIGN_OR_RETURN(request.expected, eventstore::ExpectedVersion::Parse(options.expected_version));
  eventstore::EventData event;
  event.type = options.type;
  event.id = options.id;
  auto data = core::ParseJson(options.data);
  if (!data.ok()) return data.status().WithContext("DATA");
  event.data = std::move(data).value();
  auto metadata = core::ParseJson(options.metadata);
  if (!metadata.ok()) return metadata.status().WithContext("--metadata");
  event.metadata = std::move(metadata).value();
  request.events.push_back(std::move(event));
  // Every check that needs no database, before the store is opened.
  RETURN_IF_ERROR(eventstore::PrepareAppend(request, 0).status());
  return request;
}
}  // namespace

int RunAppend(const GlobalOptions& global, const AppendOptions& options) {
  auto config = LoadConfigOrReport(global);
  if (!config) return kExitUsage;
  auto request = BuildRequest(options);
  if (!request.ok()) return ReportFailure(request.status());
  auto store = OpenStoreOrReport(*config);
  if (!store) return kExitFailed;
  auto result = store->Append(*request);
  if (!result.ok()) return ReportFailure(result.status());
  PrintJsonLine(eventstore::AppendResultToJson(*result));
  return kExitOk;
}

}  // namespace rivulet::cli
