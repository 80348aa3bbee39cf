#include "bench/projection_bench.h"

#include <sqlite3.h>

#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "bench/bench_util.h"
#include "core/random.h"
#include "core/status_macros.h"
#include "eventstore/sqlite/sqlite_event_store.h"
#include "projections/projection_engine.h"
#include "tests/support/rivulet_server.h"

namespace rivulet::bench {

namespace {

// `events` OrderPlaced events over `streams` streams, 10 at a time per stream, so every
// stream's events are spread over the whole log.
void Fill(eventstore::EventStore& store, int64_t events, int64_t streams) {
  const int64_t per_append = std::min<int64_t>(10, std::max<int64_t>(1, events / streams));
  int64_t written = 0;
  for (int64_t round = 0; written < events; ++round) {
    Status status = store.Write([&](eventstore::Transaction& tx) -> Status {
      for (int64_t s = 0; s < streams && written < events; ++s) {
        eventstore::AppendRequest request;
        request.stream = "order-" + std::to_string(s);
        for (int64_t k = 0; k < per_append && written < events; ++k, ++written) {
          eventstore::EventData e;
          e.type = "OrderPlaced";
          e.data = core::Json{{"customer", "c-" + std::to_string(written % 977)},
                              {"region", "r-" + std::to_string(written % 20)},
                              {"status", std::vector<std::string>{"placed", "paid", "packed",
                                                                  "shipped", "done"}[written % 5]},
                              {"total", static_cast<double>(written % 1000) / 10.0},
                              {"n", written}};
          request.events.push_back(std::move(e));
        }
        RETURN_IF_ERROR(tx.Append(request).status());
      }
      return Status::Ok();
    });
    if (!status.ok()) throw std::runtime_error(status.ToString());
  }
}

projections::ProjectionDefinition Compile(const char* json) {
  auto def = projections::CompileProjection(core::Json::parse(json));
  if (!def.ok()) throw std::runtime_error(def.status().ToString());
  return std::move(def).value();
}

const char* kDocs = R"({"name": "docs", "key": "${stream}", "on": {"OrderPlaced": {"set": {
  "customer": "${data.customer}", "region": "${data.region}", "total": "${data.total}", "last": "${data.n}"}}}})";
const char* kAggregate = R"({"name": "by_region", "key": "${data.region}", "on": {"OrderPlaced": {
  "inc": {"orders": 1, "revenue": "${data.total}"}, "max": {"largest": "${data.total}"}}}})";
const char* kRecent = R"({"name": "recent", "key": "${stream}", "on": {"OrderPlaced": {
  "push": {"last5": {"value": "${data.n}", "limit": 5}}}}})";

int64_t WaitCaughtUp(projections::ProjectionEngine& engine, const std::string& name, int64_t head,
                     int64_t generation) {
  while (true) {
    auto status = engine.Describe(name);
    if (!status.ok()) throw std::runtime_error(status.status().ToString());
    if (status->state == "failed")
      throw std::runtime_error(name + " failed: " + status->last_error);
    if (status->position >= head && status->generation >= generation &&
        status->state == "running") {
      return status->position;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// The per-stream documents written straight to SQLite, one upsert per event, in
// 1,000-row transactions: what folding costs without batching by key.
double RawUpserts(const std::string& path, int64_t events, int64_t streams) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(
      db,
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE docs (key TEXT PRIMARY KEY, "
      "doc TEXT NOT NULL) WITHOUT ROWID;",
      nullptr, nullptr, nullptr);
  sqlite3_stmt* upsert = nullptr;
  sqlite3_prepare_v2(
      db, "INSERT INTO docs (key, doc) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET doc = ?2",
      -1, &upsert, nullptr);
  std::vector<std::pair<std::string, std::string>> rows;
  for (int64_t i = 0; i < events; ++i) {
    rows.emplace_back(
        "order-" + std::to_string(i % streams),
        R"({"customer":"c-1","region":"r-1","total":12.5,"last":)" + std::to_string(i) + "}");
  }
  auto start = Clock::now();
  for (int64_t i = 0; i < events;) {
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    for (int k = 0; k < 1000 && i < events; ++k, ++i) {
      const auto& [key, doc] = rows[static_cast<size_t>(i)];
      sqlite3_bind_text(upsert, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      sqlite3_bind_text(upsert, 2, doc.data(), static_cast<int>(doc.size()), SQLITE_STATIC);
      sqlite3_step(upsert);
      sqlite3_reset(upsert);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  double rate = static_cast<double>(events) / SecondsSince(start);
  sqlite3_finalize(upsert);
  sqlite3_close(db);
  return rate;
}

}  // namespace

core::Json MeasureProjectionCatchUp(const std::string& dir, int64_t events) {
  constexpr int64_t kStreams = 10'000;
  auto store = OpenStore(dir + "/projections.db");
  Fill(*store, events, kStreams);
  const int64_t head = store->HeadPosition();
  core::Json out;
  out["events"] = events;
  out["streams"] = kStreams;
  {
    projections::ProjectionEngine engine(
        *store, {Compile(kDocs), Compile(kAggregate), Compile(kRecent)}, {});
    auto start = Clock::now();
    if (!engine.Start().ok()) throw std::runtime_error("engine did not start");
    // All three fold the log at once; each one's rate is the log over its own time.
    std::map<std::string, double> done;
    while (done.size() < 3) {
      for (const char* name : {"docs", "by_region", "recent"}) {
        if (done.count(name)) continue;
        auto status = engine.Describe(name);
        if (!status.ok() || status->state == "failed")
          throw std::runtime_error(std::string(name) + " failed");
        if (status->position >= head) done[name] = SecondsSince(start);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    for (const auto& [name, secs] : done)
      out["catch_up_events_per_s"][name] = static_cast<double>(events) / secs;
    auto rebuild_start = Clock::now();
    if (!engine.Rebuild("docs").ok()) throw std::runtime_error("rebuild did not start");
    WaitCaughtUp(engine, "docs", head, 2);
    out["rebuild_seconds"] = SecondsSince(rebuild_start);
  }
  out["raw_upserts_per_s"] = RawUpserts(dir + "/raw-upserts.db", events, kStreams);
  return out;
}

core::Json MeasureProjectionQueries(int64_t documents, int clients, double seconds) {
  testing::RivuletServer server("", R"(
projections:
  - name: orders
    key: "${stream}"
    on:
      OrderPlaced: { set: { status: "${data.status}", total: "${data.total}", customer: "${data.customer}" } }
    indexes: [status, total]
)",
                                /*start=*/false);
  const std::string db = server.dir().File("rivulet.db");
  {
    auto store = OpenStore(db);
    Fill(*store, documents, documents);  // one event, one document, per stream
  }
  server.Start();
  auto setup = server.Client();
  auto ready =
      setup->Get("/v1/projections/orders/order-0?min_position=" + std::to_string(documents) +
                 "&wait_ms=60000");
  if (!ready || ready->status != 200) throw std::runtime_error("the projection did not catch up");

  static const char* kStatuses[] = {"placed", "paid", "packed", "shipped", "done"};
  auto run = [&](const std::function<std::string(uint64_t)>& path) {
    std::vector<double> latencies;
    std::mutex mu;
    std::atomic<int64_t> failed{0};
    std::vector<std::thread> threads;
    auto start = Clock::now();
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&] {
        auto client = server.Client();
        std::vector<double> mine;
        while (SecondsSince(start) < seconds) {
          auto sent = Clock::now();
          auto res = client->Get(path(core::RandomU64()));
          mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
          if (!res || res->status != 200) failed.fetch_add(1);
        }
        std::lock_guard<std::mutex> lock(mu);
        latencies.insert(latencies.end(), mine.begin(), mine.end());
      });
    }
    for (auto& t : threads) t.join();
    return core::Json{{"requests_per_s", static_cast<double>(latencies.size()) / seconds},
                      {"p50_ms", Percentile(latencies, 50)},
                      {"p99_ms", Percentile(latencies, 99)},
                      {"failed", failed.load()}};
  };
  core::Json out;
  out["documents"] = documents;
  out["clients"] = clients;
  out["point_lookup"] = run([&](uint64_t r) {
    return "/v1/projections/orders/order-" + std::to_string(r % static_cast<uint64_t>(documents));
  });
  out["indexed_query"] = run([&](uint64_t r) {
    return "/v1/projections/orders?limit=50&sort=-total&match=" +
           httplib::detail::encode_query_param(std::string(R"({"status":")") + kStatuses[r % 5] +
                                               "\"}");
  });
  auto plan = setup->Get("/v1/projections/orders?limit=50&sort=-total&match=" +
                         httplib::detail::encode_query_param(R"({"status":"paid"})"));
  out["indexed_query"]["plan"] = plan ? plan->get_header_value("Rivulet-Query-Plan") : "";

  // The same two statements straight through SQLite, for the limit.
  sqlite3* raw = nullptr;
  sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  auto time_statement = [&](const char* sql,
                            const std::function<void(sqlite3_stmt*, uint64_t)>& bind) {
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(raw, sql, -1, &stmt, nullptr);
    std::vector<double> latencies;
    auto start = Clock::now();
    while (SecondsSince(start) < seconds / 2) {
      auto t0 = Clock::now();
      bind(stmt, core::RandomU64());
      while (sqlite3_step(stmt) == SQLITE_ROW) {
      }
      sqlite3_reset(stmt);
      latencies.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    sqlite3_finalize(stmt);
    return core::Json{{"p50_ms", Percentile(latencies, 50)}, {"p99_ms", Percentile(latencies, 99)}};
  };
  std::string key;
  out["raw_point_lookup"] = time_statement(
      "SELECT doc FROM proj_orders WHERE key = ?1", [&](sqlite3_stmt* s, uint64_t r) {
        key = "order-" + std::to_string(r % static_cast<uint64_t>(documents));
        sqlite3_bind_text(s, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      });
  out["raw_indexed_query"] = time_statement(
      "SELECT doc FROM proj_orders WHERE f_status = ?1 ORDER BY f_total DESC, key DESC LIMIT 50",
      [&](sqlite3_stmt* s, uint64_t r) {
        sqlite3_bind_text(s, 1, kStatuses[r % 5], -1, SQLITE_STATIC);
      });
  sqlite3_close(raw);
  return out;
}

}  // namespace rivulet::bench
