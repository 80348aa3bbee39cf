#include "runtime/store_factory.h"

#include <filesystem>
#include <system_error>

#include "core/status_macros.h"
#include "eventstore/sqlite/sqlite_event_store.h"
#include "outbox/publisher.h"

namespace rivulet::runtime {

Result<std::unique_ptr<eventstore::EventStore>> OpenStore(const config::Config& config,
                                                          core::MetricsRegistry* metrics,
                                                          core::Clock* clock, StoreRole role) {
  if (std::string why = config::UnavailableBackend(config.store.backend); !why.empty())
    return Status::Unavailable("store.backend: " + why);
  std::filesystem::path path(config.store.path);
  if (path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
      return Status::Unavailable("cannot create " + path.parent_path().string() +
                                 " for the store: " + ec.message());
    }
  }
  eventstore::sqlite::SqliteStoreOptions options;
  options.path = config.store.path;
  options.metrics = metrics;
  options.clock = clock;
  options.max_event_bytes = config.server.max_body;
  options.serve_lock = role == StoreRole::kServer;
  options.check_integrity = role == StoreRole::kServer;
  ASSIGN_OR_RETURN(std::unique_ptr<eventstore::EventStore> store,
                   eventstore::sqlite::OpenSqliteEventStore(options));
  // Every process that appends writes the outbox rows its publish rules ask for.
  RETURN_IF_ERROR(outbox::InstallPublisher(*store, config.outbox));
  return store;
}

}  // namespace rivulet::runtime
