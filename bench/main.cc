// rivulet_bench: the numbers of SPEC section 8, each beside the physical limit measured
// in the same run. Prints one JSON document on stdout; progress goes to stderr.
//
//   rivulet_bench [--quick] [--only outbox|sources|http|saga] [--rows N] [--rate F]
//     --quick: small sizes, for a smoke run
//     --only SECTION: run one section and print its figures alone (while tuning it)
//     --rate F: multiply the steady rates of the latency phases (sources 2,000 changes/s,
//       outbox 2,000 messages/s, sagas 300 sagas/s) by F, to load this machine as a
//       slower one would be loaded (F = 1.6 for a machine 1.6 times slower)
//     --rows N: rows for each of the sources section's PostgreSQL phases (1,000,000;
//       --quick 20,000)

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include "bench/bench_util.h"
#include "bench/http_bench.h"
#include "bench/limits_bench.h"
#include "bench/outbox_bench.h"
#include "bench/projection_bench.h"
#include "bench/saga_bench.h"
#include "bench/sources_bench.h"
#include "bench/store_bench.h"
#include "tests/support/temp_dir.h"

using namespace rivulet;
using namespace rivulet::bench;

namespace {
void Progress(const std::string& what) { std::cerr << "rivulet_bench: " << what << std::endl; }

core::Json Target(const std::string& name, double value, const std::string& unit, double limit,
                  const std::string& limit_name, double target, bool higher_is_better,
                  const std::string& rule) {
  core::Json t{{"name", name}, {"value", value}, {"unit", unit}, {"target", rule}};
  if (limit > 0) {
    t["limit"] = limit;
    t["limit_name"] = limit_name;
    t["ratio"] = value / limit;
  }
  double measure = limit > 0 ? value / limit : value;
  t["met"] = higher_is_better ? measure >= target : measure <= target;
  return t;
}

// An absolute target with the physical limit reported beside it (not judged by it).
core::Json Beside(core::Json target, double limit, const std::string& limit_name) {
  target["limit"] = limit;
  target["limit_name"] = limit_name;
  target["ratio"] = target["value"].get<double>() / limit;
  return target;
}
}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string only;
  int64_t rows = 0;   // --rows: the sources section's single-row and batched row counts
  double rate = 1.0;  // --rate: factor on the latency phases' steady rates
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (std::strcmp(argv[i], "--rows") == 0 && i + 1 < argc) {
      rows = std::atoll(argv[++i]);
    } else if (std::strcmp(argv[i], "--rate") == 0 && i + 1 < argc) {
      rate = std::atof(argv[++i]);
      if (!(rate > 0 && rate <= 100)) {
        std::cerr << "rivulet_bench: --rate wants a factor above 0 (1.6 loads this machine as "
                     "one 1.6 times slower would be)"
                  << std::endl;
        return 2;
      }
    } else {
      std::cerr << "usage: rivulet_bench [--quick] [--only outbox|sources|http|saga] [--rows N] "
                   "[--rate F]"
                << std::endl;
      return 2;
    }
  }
  const double seconds = quick ? 0.5 : 3.0;
  const int64_t raw_rows = quick ? 20'000 : 300'000;
  const int64_t batched_events = quick ? 20'000 : 300'000;

  auto scaled = [rate](int steady) { return static_cast<int>(steady * rate + 0.5); };
  testing::TempDir dir;
  if (only == "saga") {
    std::cout << MeasureSagaThroughput(dir.path(), quick ? 300 : 5'000, scaled(300)).dump(2)
              << std::endl;
    return 0;
  }
  if (only == "outbox") {
    std::cout << MeasureOutbox(dir.path(), quick ? 5'000 : 100'000, quick ? 100 : 1'000,
                               scaled(quick ? 500 : 2'000))
                     .dump(2)
              << std::endl;
    return 0;
  }
  if (only == "sources") {
    const int64_t source_rows = rows > 0 ? rows : quick ? 20'000 : 1'000'000;
    std::cout << MeasureSources(dir.path(), static_cast<int>(source_rows),
                                static_cast<int>(source_rows), scaled(quick ? 500 : 2'000))
                     .dump(2)
              << std::endl;
    return 0;
  }
  if (only == "http") {
    core::Json http = MeasureHttpAppends(8, seconds);
    http["held_connections"] = MeasureHeldConnections(200, 50, quick ? 5 : 20);
    std::cout << http.dump(2) << std::endl;
    return 0;
  }
  if (!only.empty()) {
    std::cerr << "rivulet_bench: no section " << only << std::endl;
    return 2;
  }
  core::Json report;
  utsname uts{};
  uname(&uts);
  report["machine"] = {{"cores", std::thread::hardware_concurrency()},
                       {"kernel", std::string(uts.release)},
                       {"data_dir", dir.path()},
                       {"build", "Release"},
                       {"rate_factor", rate}};

  Progress("limits: fsyncs per second");
  core::Json limits = MeasureFsyncs(dir.path(), seconds);
  Progress("limits: raw SQLite inserts");
  limits.update(MeasureRawInserts(dir.path(), raw_rows, seconds));

  Progress("store: appends");
  core::Json store = MeasureStoreAppends(dir.path(), seconds, batched_events);
  Progress("store and limits: reading the log back");
  const std::string read_db = dir.path() + "/store-1x100.db";
  limits.update(MeasureRawRead(read_db));
  store.update(MeasureStoreRead(read_db));
  Progress("store: change-stream latency at 5,000 events/s");
  store["change_stream_latency"] = MeasureChangeStreamLatency(dir.path(), 5000, quick ? 1.0 : 5.0);

  Progress("http: appends from 8 clients");
  core::Json http = MeasureHttpAppends(8, seconds);
  Progress("http: idle memory");
  http.update(MeasureIdleMemory());
  Progress("http: health and appends beside 200 idle keep-alive connections and 50 long polls");
  http["held_connections"] = MeasureHeldConnections(200, 50, quick ? 5 : 20);

  Progress("projections: catch-up of three projections, then a rebuild");
  core::Json projection = MeasureProjectionCatchUp(dir.path(), quick ? 20'000 : 1'000'000);
  Progress("projections: point lookups and indexed queries over HTTP");
  projection.update(MeasureProjectionQueries(quick ? 2'000 : 100'000, 8, seconds));
  report["projections"] = projection;

  Progress("sagas: 3-step sagas against the example services");
  core::Json saga = MeasureSagaThroughput(dir.path(), quick ? 300 : 5'000, scaled(300));
  Progress("sagas: instances parked on await steps");
  saga["parked"] = MeasureParkedSagas(quick ? 500 : 10'000);
  report["sagas"] = saga;

  Progress("outbox: relay throughput to jsonl, a webhook and JetStream; latency");
  core::Json outbox = MeasureOutbox(dir.path(), quick ? 5'000 : 100'000, quick ? 100 : 1'000,
                                    scaled(quick ? 500 : 2'000));
  report["outbox"] = outbox;

  Progress("sources: PostgreSQL logical replication (filling PostgreSQL first), HTTP ingest");
  const int source_rows = rows > 0 ? static_cast<int>(rows) : quick ? 20'000 : 1'000'000;
  core::Json sources =
      MeasureSources(dir.path(), source_rows, source_rows, scaled(quick ? 500 : 2'000));
  report["sources"] = sources;

  report["limits"] = limits;
  report["store"] = store;
  report["http"] = http;
  const double raw_scattered = limits["insert_1000_per_tx_scattered_rows_per_s"];
  const double raw_batched = limits["insert_1000_per_tx_batched_rows_per_s"];
  const double raw_single = limits["insert_1_per_tx_rows_per_s"];
  const double raw_read = limits["read_rows_per_s"];
  // Context, not a target: the batched figure against raw inserts committing as often
  // as a synchronous appender of 100-event batches must.
  report["store"]["append_1x100_vs_raw_100_per_tx"] =
      store["append_1x100_events_per_s"].get<double>() /
      limits["insert_100_per_tx_batched_rows_per_s"].get<double>();
  report["targets"] = {
      Target("8 appenders x 1 event", store["append_8x1_events_per_s"], "events/s", raw_scattered,
             "raw SQLite, 1,000-row transactions of the same single events", 0.40, true,
             ">= 40% of the limit"),
      Target("1 appender x 1 event", store["append_1x1_events_per_s"], "events/s", raw_single,
             "raw SQLite, one row per transaction", 0.80, true, ">= 80% of the limit"),
      Target("1 appender x 100-event batches", store["append_1x100_events_per_s"], "events/s",
             raw_batched, "raw SQLite, 1,000-row transactions of the same batched rows", 0.60, true,
             ">= 60% of the limit"),
      Target("global log read", store["read_events_per_s"], "events/s", raw_read, "raw SQLite read",
             0.60, true, ">= 60% of the limit"),
      Target("change-stream p99 at 5,000 events/s", store["change_stream_latency"]["p99_ms"], "ms",
             0, "", 5.0, false, "<= 5 ms"),
      Target("HTTP appends, 8 clients", http["append_events_per_s"], "events/s", 0, "", 10'000,
             true, ">= 10,000 events/s"),
      Target("idle rivulet serve resident memory", http["idle_rss_mib"], "MiB", 0, "", 30, false,
             "<= 30 MB"),
      Target("/v1/health beside 200 idle keep-alive connections and 50 long polls (slowest)",
             http["held_connections"]["held"]["health_max_ms"], "ms", 0, "", 200, false,
             "<= 200 ms"),
      Target("append beside 200 idle keep-alive connections and 50 long polls (slowest)",
             http["held_connections"]["held"]["append_max_ms"], "ms", 0, "", 200, false,
             "<= 200 ms"),
  };
  const double raw_upserts = projection["raw_upserts_per_s"];
  for (const auto& [name, rate] : projection["catch_up_events_per_s"].items()) {
    report["targets"].push_back(
        Beside(Target("projection catch-up, " + name + " (3 at once)", rate, "events/s", 0, "",
                      150'000, true, ">= 150,000 events/s"),
               raw_upserts, "raw SQLite upserts of one document per event"));
  }
  report["targets"].push_back(Beside(Target("3-step sagas completed", saga["completed_per_s"],
                                            "sagas/s", 0, "", 1'000, true, ">= 1,000 sagas/s"),
                                     saga["services_limit"]["sagas_per_s_if_only_http"],
                                     "the services' own HTTP rate from 64 clients, over 3 calls"));
  report["targets"].push_back(
      Target("saga engine overhead per step p99 at " +
                 std::to_string(saga["step_overhead_ms"]["at_sagas_per_s"].get<int>()) + " sagas/s",
             saga["step_overhead_ms"]["p99"], "ms", 0, "", 5.0, false, "<= 5 ms"));
  report["targets"].push_back(
      Target("rivulet serve resident memory, " +
                 std::to_string(saga["parked"]["instances"].get<int>()) + " parked sagas",
             saga["parked"]["rss_parked_mib"], "MiB", 0, "", 100, false, "<= 100 MB"));
  report["targets"].push_back(
      Beside(Target("outbox relay to jsonl", outbox["jsonl_per_s"], "messages/s", 0, "", 100'000,
                    true, ">= 100,000 messages/s"),
             outbox["jsonl_raw_per_s"], "the same lines written and fsynced in 5,000s"));
  report["targets"].push_back(
      Beside(Target("outbox relay to a webhook, 16 connections", outbox["webhook_per_s"],
                    "messages/s", 0, "", 5'000, true, ">= 5,000 messages/s"),
             outbox["webhook_raw_per_s"], "plain POSTs to the same receiver from 16 clients"));
  report["targets"].push_back(
      Beside(Target("outbox relay to JetStream", outbox["jetstream_per_s"], "messages/s", 0, "",
                    30'000, true, ">= 30,000 messages/s"),
             outbox["jetstream_raw_per_s"], "async JetStream publishes of the same payloads"));
  report["targets"].push_back(
      Target("outbox commit-to-delivery p99 at " +
                 std::to_string(outbox["latency_ms"]["rate_per_s"].get<int>()) + " messages/s",
             outbox["latency_ms"]["p99"], "ms", 0, "", 20.0, false, "<= 20 ms"));
  report["targets"].push_back(
      Beside(Target("projection point lookup p99, HTTP, 8 clients",
                    projection["point_lookup"]["p99_ms"], "ms", 0, "", 2.0, false, "<= 2 ms"),
             projection["raw_point_lookup"]["p99_ms"], "raw SQLite point lookup p99"));
  report["targets"].push_back(
      Beside(Target("projection indexed query p99, limit 50, HTTP, 8 clients",
                    projection["indexed_query"]["p99_ms"], "ms", 0, "", 10.0, false, "<= 10 ms"),
             projection["raw_indexed_query"]["p99_ms"], "raw SQLite indexed query p99"));
  report["targets"].push_back(Beside(
      Target("postgres source, " + std::to_string(sources["batched_transactions"].get<int>()) +
                 " transactions of 100 rows",
             sources["batched_changes_per_s"], "changes/s", 0, "", 50'000, true,
             ">= 50,000 changes/s"),
      sources["batched_pg_recvlogical_per_s"],
      "pg_recvlogical reading the same slot contents into a file"));
  report["targets"].push_back(Beside(
      Target("postgres source, " + std::to_string(sources["single_row_transactions"].get<int>()) +
                 " single-row transactions",
             sources["single_changes_per_s"], "transactions/s", 0, "", 10'000, true,
             ">= 10,000 transactions/s"),
      sources["single_pg_recvlogical_per_s"],
      "pg_recvlogical reading the same slot contents into a file"));
  report["targets"].push_back(
      Target("postgres source commit to readable event p99 at " +
                 std::to_string(sources["latency_ms"]["rate_per_s"].get<int>()) + " changes/s",
             sources["latency_ms"]["p99"], "ms", 0, "", 50.0, false, "<= 50 ms"));
  report["targets"].push_back(Target("HTTP ingest, batches of 100 change events, 8 clients",
                                     sources["http_changes_per_s"], "changes/s", 0, "", 40'000,
                                     true, ">= 40,000 changes/s"));
  std::cout << report.dump(2) << std::endl;
  return 0;
}
