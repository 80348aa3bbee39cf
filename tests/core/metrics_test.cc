#include "core/metrics.h"

#include <catch2/catch.hpp>

using namespace rivulet::core;

TEST_CASE("metrics render in the Prometheus text format", "[metrics]") {
  MetricsRegistry registry;
  Counter& appends = registry.GetCounter("rivulet_appends_total", "Appends");
  appends.Inc(3);
  CHECK(&registry.GetCounter("rivulet_appends_total", "Appends") == &appends);
  registry.GetCounter("rivulet_http_requests_total", "Requests", {{"code", "2xx"}}).Inc();
  Gauge& waiters = registry.GetGauge("rivulet_changestream_waiters", "Waiters");
  Histogram& latency = registry.GetHistogram("rivulet_latency_seconds", "Latency", {0.001, 0.01});
  latency.Observe(0.0005);
  latency.Observe(0.005);
  latency.Observe(5);
  uint64_t id = registry.AddCollector([&] { waiters.Set(7); });

  std::string text = registry.RenderPrometheus();
  CHECK_THAT(text,
             Catch::Contains("# TYPE rivulet_appends_total counter\nrivulet_appends_total 3\n"));
  CHECK_THAT(text, Catch::Contains("rivulet_http_requests_total{code=\"2xx\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("rivulet_changestream_waiters 7\n"));
  CHECK_THAT(text, Catch::Contains("rivulet_latency_seconds_bucket{le=\"0.001\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("rivulet_latency_seconds_bucket{le=\"0.01\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("rivulet_latency_seconds_bucket{le=\"+Inf\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("rivulet_latency_seconds_count 3\n"));

  registry.RemoveCollector(id);
  waiters.Set(1);
  CHECK_THAT(registry.RenderPrometheus(), Catch::Contains("rivulet_changestream_waiters 1\n"));
}
