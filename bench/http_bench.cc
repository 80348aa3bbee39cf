#include "bench/http_bench.h"

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
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

namespace {

struct Latencies {
  std::vector<double> health_ms, append_ms;
  int64_t failed = 0;
};

// One health check and one append, each on a new connection as a prober or a new
// client would open.
void SampleOnce(int port, int64_t i, Latencies& out) {
  httplib::Client health("127.0.0.1", port);
  health.set_read_timeout(std::chrono::seconds(30));
  auto sent = Clock::now();
  auto res = health.Get("/v1/health");
  out.health_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
  if (!res || res->status != 200) ++out.failed;
  httplib::Client append("127.0.0.1", port);
  append.set_read_timeout(std::chrono::seconds(30));
  BenchRow row = MakeRow(i);
  std::string body = R"({"events":[{"type":")" + row.type + R"(","data":)" + row.data + "}]}";
  sent = Clock::now();
  res = append.Post("/v1/streams/" + row.stream, body, "application/json");
  out.append_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
  if (!res || res->status != 201) ++out.failed;
}

core::Json Summary(const Latencies& l) {
  return core::Json{{"health_p50_ms", Percentile(l.health_ms, 50)},
                    {"health_max_ms", Percentile(l.health_ms, 100)},
                    {"append_p50_ms", Percentile(l.append_ms, 50)},
                    {"append_max_ms", Percentile(l.append_ms, 100)},
                    {"failed_requests", l.failed}};
}

}  // namespace

core::Json MeasureHeldConnections(int idle, int long_polls, int samples) {
  testing::RivuletServer server;
  Latencies alone;
  for (int i = 0; i < samples; ++i) {
    SampleOnce(server.port(), i, alone);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  std::vector<std::unique_ptr<httplib::Client>> pool;
  int64_t idle_failed = 0;
  auto opening = Clock::now();
  for (int i = 0; i < idle; ++i) {
    pool.push_back(server.Client());
    auto res = pool.back()->Get("/v1/health");
    if (!res || res->status != 200) ++idle_failed;
  }
  const double open_idle_s = SecondsSince(opening);

  // Each long poll waits at the end of the log, and polls again after every append.
  std::atomic<bool> stop{false};
  std::vector<std::thread> polls;
  for (int i = 0; i < long_polls; ++i) {
    polls.emplace_back([&] {
      auto client = server.Client();
      std::string token;
      while (!stop.load()) {
        auto res = client->Get("/v1/changes?max_await_ms=60000" +
                               (token.empty() ? std::string() : "&resume_after=" + token));
        if (!res || res->status != 200) break;
        token = core::Json::parse(res->body)["resume_token"].get<std::string>();
      }
    });
  }
  auto metrics = server.Client();
  const std::string waiting = "rivulet_http_requests_in_progress " + std::to_string(long_polls + 1);
  for (int i = 0; i < 600; ++i) {
    auto res = metrics->Get("/metrics");
    if (res && res->body.find(waiting) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  Latencies held;
  for (int i = 0; i < samples; ++i) {
    SampleOnce(server.port(), samples + i, held);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const int64_t rss = ResidentKiB(server.process().pid());
  stop.store(true);
  server.Stop();  // answers the long polls
  for (auto& t : polls) t.join();
  return core::Json{{"idle_connections", idle},
                    {"long_polls", long_polls},
                    {"samples", samples},
                    {"open_idle_connections_s", open_idle_s},
                    {"idle_connection_failures", idle_failed},
                    {"nothing_held", Summary(alone)},
                    {"held", Summary(held)},
                    {"rss_held_mib", static_cast<double>(rss) / 1024.0}};
}

}  // namespace rivulet::bench
