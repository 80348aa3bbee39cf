#include "bench/bench_util.h"

#include <fstream>
#include <stdexcept>

#include "eventstore/sqlite/sqlite_event_store.h"

namespace rivulet::bench {

std::unique_ptr<eventstore::EventStore> OpenStore(const std::string& path) {
  eventstore::sqlite::SqliteStoreOptions options;
  options.path = path;
  auto store = eventstore::sqlite::OpenSqliteEventStore(options);
  if (!store.ok()) throw std::runtime_error(store.status().ToString());
  return std::move(store).value();
}

int64_t ResidentKiB(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

}  // namespace rivulet::bench
