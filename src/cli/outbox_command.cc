#include "cli/commands.h"
#include "core/clock.h"
#include "outbox/outbox_store.h"

namespace rivulet::cli {

int RunOutbox(const GlobalOptions& global, const OutboxOptions& options) {
  auto config = LoadConfigOrReport(global);
  if (!config) return kExitUsage;
  if (!options.status.empty() && options.status != "pending" && options.status != "delivered" &&
      options.status != "dead") {
    return ReportFailure(
        Status::InvalidArgument("--status", "expected one of pending, delivered, dead"));
  }
  auto store = OpenStoreOrReport(*config);
  if (!store) return kExitFailed;
  Status migrated = outbox::OutboxStore::Migrate(*store);
  if (!migrated.ok()) return ReportFailure(migrated);
  if (options.action == "retry") {
    auto m =
        outbox::OutboxStore::Retry(*store, options.id, core::SystemClock::Default()->NowMillis());
    if (!m.ok()) return ReportFailure(m.status());
    PrintJsonLine(m->ToJson());
    return kExitOk;
  }
  int64_t after = 0;
  while (true) {
    auto page = outbox::OutboxStore::List(*store, options.status, options.destination, after, 1000);
    if (!page.ok()) return ReportFailure(page.status());
    for (const auto& m : *page) PrintJsonLine(m.ToJson());
    if (page->size() < 1000) break;
    after = page->back().seq;
  }
  return kExitOk;
}

}  // namespace rivulet::cli
