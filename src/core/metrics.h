#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace rivulet::core {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Monotonic count. Lock-free.
class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down. Lock-free.
class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Cumulative histogram with fixed upper bounds (Prometheus `le` buckets). Lock-free.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  const std::vector<double>& bounds() const { return bounds_; }
  // Per-bucket (non-cumulative) counts; the last is the +Inf bucket.
  std::vector<uint64_t> BucketCounts() const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const;

  // Seconds from 50us to 10s, for latencies.
  static std::vector<double> LatencyBounds();

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_bits_{0};  // a double, updated by compare-and-swap
};

// Owns every metric of a process and renders them in the Prometheus text format.
// Get* registers on first use and returns the same object for the same name and
// labels; references stay valid for the registry's lifetime. Thread-safe.
class MetricsRegistry {
 public:
  Counter& GetCounter(const std::string& name, const std::string& help,
                      const MetricLabels& labels = {});
  Gauge& GetGauge(const std::string& name, const std::string& help,
                  const MetricLabels& labels = {});
  Histogram& GetHistogram(const std::string& name, const std::string& help,
                          const std::vector<double>& bounds, const MetricLabels& labels = {});

  // Runs before every render, to refresh gauges that are computed (lag, queue depth).
  // Returns an id for RemoveCollector, which an owner calls before it goes away.
  uint64_t AddCollector(std::function<void()> collector);
  void RemoveCollector(uint64_t id);

  std::string RenderPrometheus();

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family {
    Type type;
    std::string help;
    std::map<std::string, std::unique_ptr<Counter>> counters;  // by rendered label set
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
  };
  Family& GetFamily(const std::string& name, Type type, const std::string& help);

  std::mutex mu_;
  std::map<std::string, Family> families_;                // GUARDED_BY(mu_)
  std::map<uint64_t, std::function<void()>> collectors_;  // GUARDED_BY(mu_)
  uint64_t next_collector_id_ = 1;                        // GUARDED_BY(mu_)
};

}  // namespace rivulet::core
