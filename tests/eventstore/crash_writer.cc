// A writer for crash and cross-process tests, run as a child process:
//
//   crash_writer DB forever THREADS   append batches from THREADS threads until killed
//   crash_writer DB count N STREAM    append N single events to STREAM, then exit
//
// Every acknowledged append is printed as one JSON line on stdout, flushed, so the
// parent knows exactly what the store promised before the SIGKILL:
//   {"stream":"s-1","first":3,"last":5,"position":812,"ids":[...],"batch":"t1-17"}

#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/json.h"
#include "core/random.h"
#include "eventstore/sqlite/sqlite_event_store.h"

using namespace rivulet;

namespace {
std::mutex g_out;

void Report(const eventstore::AppendRequest& request, const eventstore::AppendResult& result,
            const std::string& batch) {
  core::Json ids = core::Json::array();
  for (const auto& e : request.events) ids.push_back(e.id);
  std::string line = core::DumpJson(core::Json{{"stream", result.stream},
                                               {"first", result.first_version},
                                               {"last", result.last_version},
                                               {"position", result.position},
                                               {"ids", ids},
                                               {"batch", batch}});
  std::lock_guard<std::mutex> lock(g_out);
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

eventstore::AppendRequest Batch(const std::string& stream, size_t n, const std::string& batch) {
  eventstore::AppendRequest request;
  request.stream = stream;
  for (size_t i = 0; i < n; ++i) {
    eventstore::EventData e;
    e.id = core::Uuid::NewV4().ToString();
    e.type = "CrashTested";
    e.data = core::Json{{"batch", batch}, {"i", i}, {"n", n}};
    request.events.push_back(std::move(e));
  }
  return request;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: crash_writer DB forever THREADS | crash_writer DB count N STREAM\n");
    return 2;
  }
  eventstore::sqlite::SqliteStoreOptions options;
  options.path = argv[1];
  auto store = eventstore::sqlite::OpenSqliteEventStore(options);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 1;
  }
  std::string mode = argv[2];
  if (mode == "count") {
    int n = std::stoi(argv[3]);
    std::string stream = argc > 4 ? argv[4] : "cross-process";
    for (int i = 0; i < n; ++i) {
      auto request = Batch(stream, 1, "c" + std::to_string(i));
      auto result = (*store)->Append(request);
      if (!result.ok()) return 1;
      Report(request, *result, "c" + std::to_string(i));
    }
    return 0;
  }
  int threads = std::stoi(argv[3]);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (uint64_t k = 0;; ++k) {
        std::string batch = "t" + std::to_string(t) + "-" + std::to_string(k) + "-" +
                            std::to_string(core::RandomU64() % 1000000);
        std::string stream = "crash-" + std::to_string(core::RandomBelow(16));
        auto request = Batch(stream, 1 + core::RandomBelow(5), batch);
        auto result = (*store)->Append(request);
        if (result.ok()) Report(request, *result, batch);
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}
