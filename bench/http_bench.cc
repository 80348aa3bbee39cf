#include "bench/http_bench.h"

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "tests/support/rivulet_server.h"

namespace rivulet::bench {

core::Json MeasureHttpAppends(int clients, double seconds) {
  testing::RivuletServer server;
  std::atomic<int64_t> ok{0}, failed{0};
  std::mutex mu;
  std::vector<double> latencies_ms;
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto client = server.Client();
      std::vector<double> mine;
      for (int64_t i = c; SecondsSince(start) < seconds; i += clients) {
        BenchRow row = MakeRow(i);
        std::string body = R"({"events":[{"type":")" + row.type + R"(","data":)" + row.data + "}]}";
        auto sent = Clock::now();
        auto res = client->Post("/v1/streams/" + row.stream, body, "application/json");
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
        (res && res->status == 201 ? ok : failed).fetch_add(1);
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  double elapsed = SecondsSince(start);
  int64_t rss = ResidentKiB(server.process().pid());
  return core::Json{{"clients", clients},
                    {"append_events_per_s", static_cast<double>(ok.load()) / elapsed},
                    {"failed_requests", failed.load()},
                    {"p50_ms", Percentile(latencies_ms, 50)},
                    {"p99_ms", Percentile(latencies_ms, 99)},
                    {"rss_after_load_mib", static_cast<double>(rss) / 1024.0}};
}

core::Json MeasureIdleMemory() {
  testing::RivuletServer server;
  std::this_thread::sleep_for(std::chrono::seconds(2));
  int64_t rss = ResidentKiB(server.process().pid());
  return core::Json{{"idle_rss_mib", static_cast<double>(rss) / 1024.0}};
}

}  // namespace rivulet::bench
