#include "bench/store_bench.h"

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "eventstore/change_stream.h"
#include "eventstore/sqlite/sqlite_event_store.h"

namespace rivulet::bench {

namespace {

// The append of `count` rows starting at `first`, all to the first row's stream.
eventstore::AppendRequest Request(int64_t first, int64_t count, BenchRow (*make)(int64_t)) {
  eventstore::AppendRequest request;
  for (int64_t i = 0; i < count; ++i) {
    BenchRow row = make(first + i);
    if (i == 0) request.stream = row.stream;
    eventstore::EventData e;
    e.type = row.type;
    e.data = core::Json::parse(row.data);
    request.events.push_back(std::move(e));
  }
  return request;
}

// Appends single events from `threads` threads for `seconds`; events per second.
// Requests are built before the clock starts, as a client would have them ready.
double SingleEventRate(eventstore::EventStore& store, int threads, double seconds) {
  const int64_t per_thread = static_cast<int64_t>(seconds * 40'000 / threads) + 1;
  std::vector<std::vector<eventstore::AppendRequest>> requests(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    for (int64_t k = 0; k < per_thread; ++k)
      requests[static_cast<size_t>(t)].push_back(Request(k * threads + t, 1, &MakeRow));
  }
  std::atomic<int64_t> total{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> workers;
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      int64_t n = 0;
      for (const auto& request : requests[static_cast<size_t>(t)]) {
        if (SecondsSince(start) >= seconds) break;
        if (!store.Append(request).ok()) failed.store(true);
        ++n;
      }
      total.fetch_add(n);
    });
  }
  for (auto& w : workers) w.join();
  if (failed.load()) throw std::runtime_error("an append failed during the benchmark");
  return static_cast<double>(total.load()) / SecondsSince(start);
}

}  // namespace

core::Json MeasureStoreAppends(const std::string& dir, double seconds, int64_t batched_events) {
  core::Json out;
  {
    auto store = OpenStore(dir + "/store-1x1.db");
    out["append_1x1_events_per_s"] = SingleEventRate(*store, 1, seconds);
  }
  {
    auto store = OpenStore(dir + "/store-8x1.db");
    out["append_8x1_events_per_s"] = SingleEventRate(*store, 8, seconds);
  }
  {
    auto store = OpenStore(dir + "/store-1x100.db");
    // Requests are built before the clock starts, as a client would have them ready.
    std::vector<eventstore::AppendRequest> requests;
    for (int64_t i = 0; i < batched_events; i += kBatch)
      requests.push_back(Request(i, kBatch, &MakeBatchRow));
    auto start = Clock::now();
    for (const auto& request : requests) {
      if (!store->Append(request).ok()) throw std::runtime_error("batched append failed");
    }
    out["append_1x100_events_per_s"] = static_cast<double>(batched_events) / SecondsSince(start);
  }
  return out;
}

core::Json MeasureStoreRead(const std::string& db_path) {
  auto store = OpenStore(db_path);
  double best = 0;
  int64_t events = 0;
  for (int round = 0; round < 3; ++round) {
    eventstore::LogReadOptions options;
    options.limit = 10'000;
    events = 0;
    auto start = Clock::now();
    while (true) {
      auto batch = store->ReadLog(options);
      if (!batch.ok()) throw std::runtime_error(batch.status().ToString());
      if (batch->events.empty()) break;
      events += static_cast<int64_t>(batch->events.size());
      options.after = batch->resume;
    }
    best = std::max(best, static_cast<double>(events) / SecondsSince(start));
  }
  return core::Json{{"read_events_per_s", best}, {"events", events}};
}

core::Json MeasureChangeStreamLatency(const std::string& dir, double rate_per_s, double seconds) {
  auto store = OpenStore(dir + "/store-latency.db");
  const int64_t total = static_cast<int64_t>(rate_per_s * seconds);
  // Send times by sequence number (carried in the event as data.seq), in nanoseconds.
  std::unique_ptr<std::atomic<int64_t>[]> sent(
      new std::atomic<int64_t>[static_cast<size_t>(total)]);
  auto now_ns = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
  };
  std::vector<double> latencies_ms;
  latencies_ms.reserve(static_cast<size_t>(total));

  std::thread subscriber([&] {
    eventstore::ChangeStream changes(*store, {}, {}, 1000);
    int64_t received = 0;
    while (received < total) {
      auto batch = changes.Next(std::chrono::milliseconds(1000));
      if (!batch.ok()) return;
      int64_t arrived = now_ns();
      for (const auto& e : batch->events) {
        int64_t seq = core::Json::parse(e.data)["seq"].get<int64_t>();
        latencies_ms.push_back(
            static_cast<double>(arrived - sent[static_cast<size_t>(seq)].load()) / 1e6);
        ++received;
      }
    }
  });

  // Paced writers: event k is due at start + k / rate; whichever writer is free sends it.
  constexpr int kWriters = 4;
  const auto start = Clock::now() + std::chrono::milliseconds(50);
  const auto interval = std::chrono::duration<double>(1.0 / rate_per_s);
  std::atomic<int64_t> next{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&] {
      while (true) {
        int64_t k = next.fetch_add(1);
        if (k >= total) return;
        auto request = Request(k, 1, &MakeRow);
        request.events[0].data["seq"] = k;
        std::this_thread::sleep_until(
            start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(k)));
        sent[static_cast<size_t>(k)].store(now_ns());
        static_cast<void>(store->Append(request));
      }
    });
  }
  for (auto& w : writers) w.join();
  subscriber.join();
  return core::Json{{"rate_per_s", rate_per_s},
                    {"events", latencies_ms.size()},
                    {"p50_ms", Percentile(latencies_ms, 50)},
                    {"p99_ms", Percentile(latencies_ms, 99)},
                    {"max_ms", Percentile(latencies_ms, 100)}};
}

}  // namespace rivulet::bench
