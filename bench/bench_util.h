#pragma once

#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "eventstore/event_store.h"

namespace rivulet::bench {

using Clock = std::chrono::steady_clock;

inline double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The p-th percentile (0..100) of `samples`, in the samples' unit; sorts a copy.
inline double Percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  size_t index = static_cast<size_t>(p / 100.0 * static_cast<double>(samples.size() - 1) + 0.5);
  return samples[std::min(index, samples.size() - 1)];
}

// The SQLite store at `path` with default options; throws if it cannot be opened.
std::unique_ptr<eventstore::EventStore> OpenStore(const std::string& path);

// Resident memory of a process (VmRSS), in KiB; -1 if unknown.
int64_t ResidentKiB(pid_t pid);

// The rows every benchmark writes, raw or through the store, so that each store figure
// and its limit insert exactly the same keys: 10,000 streams, a typical ~110-byte body.
struct BenchRow {
  std::string stream;
  int64_t version;
  std::string type;
  std::string data;
};
inline constexpr int64_t kStreams = 10'000;
inline constexpr int64_t kBatch = 100;

inline std::string RowData(int64_t i) {
  return R"({"order_id":"o-)" + std::to_string(i) + R"(","customer":"c-)" +
         std::to_string(i % 977) +
         R"(","total_amount":129.95,"currency":"EUR","items":3,"region":"eu-west"})";
}

// Event i of the single-event workloads: each to the next stream in turn.
inline BenchRow MakeRow(int64_t i) {
  return BenchRow{"order-" + std::to_string(i % kStreams), i / kStreams, "OrderPlaced", RowData(i)};
}

// Event i of the batched workloads: batches of 100 events, each batch to one stream.
inline BenchRow MakeBatchRow(int64_t i) {
  int64_t batch = i / kBatch;
  return BenchRow{"order-" + std::to_string(batch % kStreams),
                  (batch / kStreams) * kBatch + i % kBatch, "OrderPlaced", RowData(i)};
}

}  // namespace rivulet::bench
