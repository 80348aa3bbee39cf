#include "cli/commands.h"
#include "core/status_macros.h"
#include "sagas/saga_engine.h"
#include "sagas/saga_instance.h"
#include "sagas/saga_tables.h"

namespace rivulet::cli {

int RunSagas(const GlobalOptions& global, const SagasOptions& options) {
  auto config = LoadConfigOrReport(global);
  if (!config) return kExitUsage;
  const sagas::SagaDefinition* saga = nullptr;
  for (const auto& s : config->sagas) {
    if (s.name == options.name) saga = &s;
  }
  if (options.action == "start" && saga == nullptr)
    return ReportFailure(Status::InvalidArgument("no saga named " + options.name));
  core::Json input = core::Json::object();
  if (options.action == "start") {
    auto parsed = core::ParseJson(options.input.empty() ? "{}" : options.input);
    if (!parsed.ok() || !parsed->is_object()) {
      return ReportFailure(
          Status::InvalidArgument("INPUT", "expected a JSON object, as in '{\"order_id\": 1}'"));
    }
    input = std::move(parsed).value();
  }
  static const std::set<std::string> kStatuses = {
      "", "running", "compensating", "completed", "compensated", "failed", "aborted"};
  if (!kStatuses.count(options.status)) {
    return ReportFailure(Status::InvalidArgument(
        "--status",
        "expected one of running, compensating, completed, compensated, failed, "
        "aborted"));
  }

  auto store = OpenStoreOrReport(*config);
  if (!store) return kExitFailed;
  Status migrated = sagas::SagaTables::Migrate(*store);
  if (!migrated.ok()) return ReportFailure(migrated);
  auto& clock = *core::SystemClock::Default();

  if (options.action == "list") {
    std::pair<std::string, std::string> after;
    while (true) {
      auto rows = sagas::SagaTables::List(*store, options.name, options.status, after, 1000);
      if (!rows.ok()) return ReportFailure(rows.status());
      for (const auto& row : *rows) PrintJsonLine(row.ToJson());
      if (rows->size() < 1000) break;
      after = {rows->back().name, rows->back().id};
    }
    return kExitOk;
  }
  if (options.action == "show") {
    auto described = sagas::DescribeInstance(*store, options.name, options.id);
    if (!described.ok()) return ReportFailure(described.status());
    PrintJsonLine(*described);
    return kExitOk;
  }
  Result<sagas::InstanceRow> row =
      options.action == "start"
          ? sagas::StartSaga(*store, *saga,
                             options.id.empty() ? std::nullopt : std::optional(options.id), input,
                             clock)
      : options.action == "retry"
          ? sagas::RetrySaga(*store, options.name, options.id, clock)
          : sagas::AbortSaga(*store, options.name, options.id, options.reason, clock);
  if (!row.ok()) return ReportFailure(row.status());
  PrintJsonLine(row->ToJson());
  return kExitOk;
}

}  // namespace rivulet::cli
