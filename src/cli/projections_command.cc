#include "cli/commands.h"
#include "core/status_macros.h"
#include "projections/projection_engine.h"
#include "projections/projection_query.h"

namespace rivulet::cli {

int RunProjections(const GlobalOptions& global, const ProjectionsOptions& options) {
  auto config = LoadConfigOrReport(global);
  if (!config) return kExitUsage;
  if (options.action != "list") {
    bool declared = false;
    for (const auto& p : config->projections) declared = declared || p.name == options.name;
    if (!declared)
      return ReportFailure(Status::InvalidArgument("no projection named " + options.name));
  }
  projections::QueryRequest query;
  if (options.action == "query") {
    if (!options.match.empty()) {
      auto json = core::ParseJson(options.match);
      if (!json.ok()) return ReportFailure(json.status().WithContext("--match"));
      auto filter = core::Filter::Parse(*json);
      if (!filter.ok()) return ReportFailure(filter.status().WithContext("--match"));
      query.match = std::move(filter).value();
    }
    auto sort = projections::ParseSort(options.sort);
    if (!sort.ok()) return ReportFailure(sort.status());
    query.sort = std::move(sort).value();
    if (options.limit < 1 || options.limit > 1000) {
      return ReportFailure(Status::InvalidArgument("--limit must be 1 to 1000"));
    }
    query.limit = static_cast<size_t>(options.limit);
    query.cursor = options.cursor;
  }

  auto store = OpenStoreOrReport(*config);
  if (!store) return kExitFailed;
  projections::ProjectionEngine engine(*store, config->projections, {});
  Status started = engine.Start(/*run_builders=*/false);
  if (!started.ok()) return ReportFailure(started);

  if (options.action == "list") {
    auto all = engine.DescribeAll();
    if (!all.ok()) return ReportFailure(all.status());
    for (const auto& status : *all) PrintJsonLine(status.ToJson());
    return kExitOk;
  }
  if (options.action == "get") {
    auto doc = projections::GetDocument(*store, options.name, options.key);
    if (!doc.ok()) return ReportFailure(doc.status());
    if (!*doc)
      return ReportFailure(Status::NotFound("projection " + options.name +
                                            " has no document with key " + options.key));
    PrintJsonLine(**doc);
    return kExitOk;
  }
  auto indexes = engine.LiveIndexes(options.name);
  if (!indexes.ok()) return ReportFailure(indexes.status());
  auto page = projections::QueryProjection(*store, options.name, *indexes, query);
  if (!page.ok()) return ReportFailure(page.status());
  std::string line = "{\"items\":[";
  for (size_t i = 0; i < page->items.size(); ++i) line += (i ? "," : "") + page->items[i];
  line += "],\"next_cursor\":" +
          (page->next_cursor ? core::DumpJson(*page->next_cursor) : std::string("null")) + "}";
  PrintJsonLine(line);
  return kExitOk;
}

}  // namespace rivulet::cli
