#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/metrics.h"
#include "eventstore/event_store.h"
#include "tests/support/temp_dir.h"

namespace rivulet::testing {

// The store backends every behavioural test runs against. Tests iterate with
// `auto backend = GENERATE(from_range(StoreBackends()));`. PostgreSQL joins this list
// when its backend lands.
std::vector<std::string> StoreBackends();

struct TestStoreOptions {
  std::string vfs;  // sqlite: e.g. FaultyVfs::Name()
  core::Clock* clock = nullptr;
  core::MetricsRegistry* metrics = nullptr;
};

// Opens (or reopens) the named backend's store inside `dir`.
std::unique_ptr<eventstore::EventStore> OpenTestStore(const std::string& backend,
                                                      const TempDir& dir,
                                                      const TestStoreOptions& options = {});

// The database file the sqlite backend uses inside `dir`.
std::string SqlitePath(const TempDir& dir);

// An append request of `count` events of type `type` with data {"n": i}.
eventstore::AppendRequest MakeAppend(
    const std::string& stream, size_t count = 1,
    eventstore::ExpectedVersion expected = eventstore::ExpectedVersion::Any(),
    const std::string& type = "Tested");

}  // namespace rivulet::testing
