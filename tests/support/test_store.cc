#include "tests/support/test_store.h"

#include <stdexcept>

#include "eventstore/sqlite/sqlite_event_store.h"

namespace rivulet::testing {

std::vector<std::string> StoreBackends() { return {"sqlite"}; }

std::string SqlitePath(const TempDir& dir) { return dir.File("rivulet.db"); }

std::unique_ptr<eventstore::EventStore> OpenTestStore(const std::string& backend,
                                                      const TempDir& dir,
                                                      const TestStoreOptions& options) {
  if (backend != "sqlite") throw std::runtime_error("unknown backend " + backend);
  eventstore::sqlite::SqliteStoreOptions o;
  o.path = SqlitePath(dir);
  o.vfs = options.vfs;
  o.clock = options.clock;
  o.metrics = options.metrics;
  auto store = eventstore::sqlite::OpenSqliteEventStore(o);
  if (!store.ok()) throw std::runtime_error("open store: " + store.status().ToString());
  return std::move(store).value();
}

eventstore::AppendRequest MakeAppend(const std::string& stream, size_t count,
                                     eventstore::ExpectedVersion expected,
                                     const std::string& type) {
  eventstore::AppendRequest request;
  request.stream = stream;
  request.expected = expected;
  for (size_t i = 0; i < count; ++i) {
    eventstore::EventData event;
    event.type = type;
    event.data = core::Json{{"n", i}};
    request.events.push_back(std::move(event));
  }
  return request;
}

}  // namespace rivulet::testing
