#include "cli/commands.h"
#include "eventstore/dead_letters.h"
#include "projections/projection_engine.h"
#include "runtime/dead_letter_actions.h"
#include "sources/ingestor.h"

namespace rivulet::cli {

// rivulet dead-letters list [--source S|--projection P] | retry ID | discard ID: what
// `on_error: dead_letter` parked. retry runs a letter through the current config (a
// projection's letter through the builder of its copy: a running server's, or one
// started here when no server builds the copy) and exits 1 if it fails again.
int RunDeadLetters(const GlobalOptions& global, const DeadLettersOptions& options) {
  auto config = LoadConfigOrReport(global);
  if (!config) return kExitUsage;
  if (!options.source.empty() && !options.projection.empty()) {
    return ReportFailure(
        Status::InvalidArgument("--source", "give --source or --projection, not both"));
  }
  auto store = OpenStoreOrReport(*config);
  if (!store) return kExitFailed;
  Status migrated = eventstore::DeadLetters::Migrate(*store);
  if (!migrated.ok()) return ReportFailure(migrated);

  if (options.action == "list") {
    eventstore::DeadLetters::ListOptions list;
    if (!options.source.empty()) {
      list.kind = "source";
      list.component = options.source;
    } else if (!options.projection.empty()) {
      list.kind = "projection";
      list.component = options.projection;
    }
    list.limit = 1000;
    while (true) {
      auto page = eventstore::DeadLetters::List(*store, list);
      if (!page.ok()) return ReportFailure(page.status());
      for (const auto& letter : *page) PrintJsonLine(letter.ToJson());
      if (page->size() < list.limit) break;
      list.after_id = page->back().id;
    }
    return kExitOk;
  }

  sources::Mapper mapper(config->mappings);
  sources::Ingestor ingestor(*store, mapper);
  projections::ProjectionEngine::Options engine_options;
  projections::ProjectionEngine engine(*store, config->projections, engine_options);
  if (options.action == "retry") {
    Status ready = sources::Ingestor::Migrate(*store);
    if (ready.ok()) ready = engine.Start(/*run_builders=*/false);
    if (!ready.ok()) return ReportFailure(ready);
  }
  runtime::DeadLetterActions actions(*store, &ingestor, &engine);
  auto done = options.action == "retry" ? actions.Retry(options.id, std::chrono::seconds(30))
                                        : actions.Discard(options.id);
  if (!done.ok()) return ReportFailure(done.status());
  PrintJsonLine(*done);
  return kExitOk;
}

}  // namespace rivulet::cli
