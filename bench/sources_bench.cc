#include "bench/sources_bench.h"

#include <httplib.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "bench/bench_util.h"
#include "config/config_loader.h"
#include "core/time_format.h"
#include "sources/ingestor.h"
#include "sources/source_runner.h"
#include "tests/support/postgres_server.h"
#include "tests/support/rivulet_server.h"
#include "tests/support/subprocess.h"

namespace rivulet::bench {

namespace {

config::Config SourceConfig(const testing::PostgresServer& pg, const std::string& slot,
                            bool snapshot = false) {
  auto config = config::LoadConfigString(
      "sources:\n  - { name: shop, type: postgres, url: \"" + pg.url() +
          "\", publication: bench, slot: " + slot + ", tables: [orders], snapshot: " +
          (snapshot ? "initial" : "never") + ", heartbeat: 1s }\nmappings:\n  - { source: shop }\n",
      "rivulet.yaml", "/tmp");
  if (!config.ok()) throw std::runtime_error(config.status().ToString());
  return *config;
}

// Ingests the slot's backlog of `rows` changes into a fresh store; changes/s.
double Drain(testing::PostgresServer& pg, const std::string& store_path, const std::string& slot,
             int rows, bool snapshot = false) {
  auto store = OpenStore(store_path);
  if (!sources::Ingestor::Migrate(*store).ok()) throw std::runtime_error("migrate");
  config::Config config = SourceConfig(pg, slot, snapshot);
  sources::Mapper mapper(config.mappings);
  sources::Ingestor ingestor(*store, mapper);
  sources::SourceRunner runner(*store, ingestor, config.sources, nullptr);
  auto start = Clock::now();
  if (!runner.Start().ok()) throw std::runtime_error("source did not start");
  while (store->HeadPosition() < rows) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (SecondsSince(start) > 600) throw std::runtime_error("the source did not catch up");
  }
  const double seconds = SecondsSince(start);
  runner.Stop();
  return rows / seconds;
}

// pg_recvlogical reading the same contents from its own slot into a file; changes/s.
double RecvLogical(testing::PostgresServer& pg, const std::string& dir, const std::string& slot,
                   const std::string& end_lsn, int rows) {
  auto start = Clock::now();
  testing::CommandResult r = testing::RunCommand(
      {"/usr/lib/postgresql/15/bin/pg_recvlogical", "-d", pg.url(), "--slot", slot, "--start", "-o",
       "proto_version=1", "-o", "publication_names=bench", "-E", end_lsn, "--no-loop", "-f",
       dir + "/" + slot + ".out"});
  if (r.exit_code != 0) throw std::runtime_error("pg_recvlogical: " + r.err);
  return rows / SecondsSince(start);
}

}  // namespace

core::Json MeasureSources(const std::string& dir, int single, int batched, int steady_rate) {
  core::Json out{{"single_row_transactions", single}, {"batched_transactions", batched / 100}};
  testing::PostgresServer pg;
  pg.Exec(R"(
    CREATE TABLE orders (id bigint PRIMARY KEY, status text, total numeric(10,2), note text);
    CREATE PUBLICATION bench FOR TABLE orders;
    CREATE PROCEDURE fill(first bigint, txns int, per int) LANGUAGE plpgsql AS $$
    BEGIN
      FOR t IN 0..txns - 1 LOOP
        INSERT INTO orders SELECT g, 'new', 12.5, 'a short note'
          FROM generate_series(first + t::bigint * per, first + (t + 1)::bigint * per - 1) g;
        COMMIT;
      END LOOP;
    END $$;
  )");
  int64_t next = 1;
  for (const auto& [name, txns, per] : std::vector<std::tuple<std::string, int, int>>{
           {"batched", batched / 100, 100}, {"single", single, 1}}) {
    pg.Exec("SELECT pg_create_logical_replication_slot('rivulet_" + name + "', 'pgoutput')");
    pg.Exec("SELECT pg_create_logical_replication_slot('recv_" + name + "', 'pgoutput')");
    pg.Exec("CALL fill($1, $2, $3)",
            {std::to_string(next), std::to_string(txns), std::to_string(per)});
    next += static_cast<int64_t>(txns) * per;
    const std::string end_lsn = pg.Value("SELECT pg_current_wal_lsn()::text");
    const int rows = txns * per;
    out[name + "_changes_per_s"] =
        Drain(pg, dir + "/sources-" + name + ".db", "rivulet_" + name, rows);
    out[name + "_pg_recvlogical_per_s"] = RecvLogical(pg, dir, "recv_" + name, end_lsn, rows);
    pg.Exec("SELECT pg_drop_replication_slot('rivulet_" + name + "')");
    pg.Exec("SELECT pg_drop_replication_slot('recv_" + name + "')");
  }

  // The initial copy of the table as it is now (every row of both phases).
  out["snapshot_rows"] = next - 1;
  out["snapshot_rows_per_s"] =
      Drain(pg, dir + "/sources-snapshot.db", "rivulet_snapshot", static_cast<int>(next - 1), true);
  pg.Exec("SELECT pg_drop_replication_slot('rivulet_snapshot')");

  // Source commit to readable event, at a steady rate of single-row transactions.
  {
    pg.Exec("SELECT pg_create_logical_replication_slot('rivulet_steady', 'pgoutput')");
    auto store = OpenStore(dir + "/sources-steady.db");
    if (!sources::Ingestor::Migrate(*store).ok()) throw std::runtime_error("migrate");
    config::Config config = SourceConfig(pg, "rivulet_steady");
    sources::Mapper mapper(config.mappings);
    sources::Ingestor ingestor(*store, mapper);
    sources::SourceRunner runner(*store, ingestor, config.sources, nullptr);
    auto starting = Clock::now();
    if (!runner.Start().ok()) throw std::runtime_error("source did not start");
    // The load starts once the source streams: its start (two connections, the slot's
    // checks) is measured on its own, not counted into every change's latency.
    while (runner.Components().at(0).health != core::ComponentHealth::kOk) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (SecondsSince(starting) > 60) throw std::runtime_error("the source did not stream");
    }
    const double start_ms = SecondsSince(starting) * 1000;
    const int total = steady_rate * 3;
    auto steady = Clock::now();
    for (int sent = 0; sent < total;) {
      const int due = std::min(total, static_cast<int>(SecondsSince(steady) * steady_rate));
      for (; sent < due; ++sent)
        pg.Exec("INSERT INTO orders VALUES ($1, 'new', 1, 'x')", {std::to_string(next++)});
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const double achieved = total / SecondsSince(steady);
    while (store->HeadPosition() < total) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    runner.Stop();
    eventstore::LogReadOptions options;
    options.limit = static_cast<size_t>(total);
    auto log = store->ReadLog(options);
    std::vector<double> latencies;
    for (const auto& e : log->events) {
      core::Json event = e.ToJson();
      auto committed = core::ParseRfc3339(event["metadata"]["cluster_time"].get<std::string>());
      if (committed.ok()) latencies.push_back(static_cast<double>(e.recorded_at - *committed));
    }
    out["latency_ms"] = {{"rate_per_s", steady_rate},
                         {"achieved_per_s", achieved},
                         {"source_start_ms", start_ms},
                         {"p50", Percentile(latencies, 50)},
                         {"p99", Percentile(latencies, 99)}};
  }

  // HTTP ingest: 8 clients, batches of 100 change events.
  {
    testing::RivuletServer server("",
                                  "sources:\n  - { name: api, type: http }\nmappings:\n  - {}\n");
    std::atomic<int64_t> done{0};
    std::vector<std::thread> clients;
    auto start = Clock::now();
    for (int c = 0; c < 8; ++c) {
      clients.emplace_back([&, c] {
        auto client = server.Client();
        for (int b = 0; SecondsSince(start) < 3.0; ++b) {
          std::string body = "[";
          for (int i = 0; i < 100; ++i) {
            const std::string id =
                std::to_string(c) + "-" + std::to_string(b) + "-" + std::to_string(i);
            body +=
                std::string(i ? "," : "") + R"({"_id":")" + id +
                R"(","operationType":"insert","ns":{"db":"shop","coll":"orders"},"documentKey":{"id":")" +
                id + R"("},"fullDocument":{"id":")" + id + R"(","status":"new","total":12.5}})";
          }
          body += "]";
          auto res = client->Post("/v1/sources/api/changes", body, "application/json");
          if (res && res->status == 200) done.fetch_add(100);
        }
      });
    }
    for (auto& t : clients) t.join();
    out["http_changes_per_s"] = static_cast<double>(done.load()) / SecondsSince(start);
  }
  return out;
}

}  // namespace rivulet::bench
