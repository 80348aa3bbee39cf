#include "bench/saga_bench.h"

#include <sqlite3.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "bench/bench_util.h"
#include "core/status_macros.h"
#include "sagas/saga_engine.h"
#include "sagas/saga_tables.h"
#include "tests/support/example_services.h"
#include "tests/support/rivulet_server.h"

namespace rivulet::bench {

namespace {

const char* kThreeSteps = R"({"name": "order", "trigger": {"type": "OrderPlaced"},
  "id": "${stream}",
  "retry": {"max_attempts": 5, "initial_interval": "50ms"},
  "steps": [
    {"name": "payment", "action": {"call": "svc", "path": "/payments", "body": {"order_id": "${saga.id}", "amount": 10}},
     "compensation": {"call": "svc", "path": "/payments/by-order/${saga.id}/refund"}},
    {"name": "reserve", "action": {"call": "svc", "path": "/reservations", "body": {"order_id": "${saga.id}"}},
     "compensation": {"call": "svc", "method": "DELETE", "path": "/reservations/by-order/${saga.id}"}},
    {"name": "ship", "action": {"call": "svc", "path": "/shipments", "body": {"order_id": "${saga.id}"}},
     "compensation": {"call": "svc", "method": "DELETE", "path": "/shipments/by-order/${saga.id}"}}]})";

void AppendTriggers(eventstore::EventStore& store, int count, const std::string& prefix) {
  for (int start = 0; start < count; start += 500) {
    Status written = store.Write([&](eventstore::Transaction& tx) -> Status {
      for (int i = start; i < std::min(count, start + 500); ++i) {
        eventstore::AppendRequest request;
        request.stream = prefix + std::to_string(i);
        request.events.push_back(
            {"", "OrderPlaced", core::Json{{"total", 10}}, core::Json::object()});
        RETURN_IF_ERROR(tx.Append(request).status());
      }
      return Status::Ok();
    });
    if (!written.ok()) throw std::runtime_error(written.ToString());
  }
}

// Plain POSTs to the services from `clients` keep-alive clients for `seconds`.
double ServiceLimit(const testing::ExampleServices& services, int clients, double seconds) {
  std::atomic<int64_t> done{0};
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", services.port());
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      for (int64_t i = 0; SecondsSince(start) < seconds; ++i) {
        auto res = client.Post("/notifications", R"({"order_id": "x"})", "application/json");
        if (res && res->status == 202) done.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  return static_cast<double>(done.load()) / seconds;
}

}  // namespace

core::Json MeasureSagaThroughput(const std::string& dir, int sagas, int steady_rate) {
  testing::ExampleServices services;
  auto store = OpenStore(dir + "/sagas.db");

  auto def = sagas::CompileSaga(core::Json::parse(kThreeSteps));
  if (!def.ok()) throw std::runtime_error(def.status().ToString());
  std::mutex mu;
  std::vector<double> overheads;
  sagas::SagaEngineOptions options;
  options.services["svc"] = services.url();
  options.workers = 64;
  options.on_step_overhead = [&](double seconds) {
    std::lock_guard<std::mutex> lock(mu);
    overheads.push_back(seconds * 1000);
  };
  sagas::SagaEngine engine(*store, {*def}, options);
  if (!engine.Start().ok()) throw std::runtime_error("saga engine did not start");

  auto start = Clock::now();
  AppendTriggers(*store, sagas, "order-");
  int64_t completed = 0;
  while (completed < sagas) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto counts = sagas::SagaTables::Counts(*store);
    if (!counts.ok()) throw std::runtime_error(counts.status().ToString());
    completed = 0;
    for (const auto& [name, status, n] : *counts) {
      if (status == "completed") completed = n;
      if (status == "compensated" || status == "failed")
        throw std::runtime_error("a saga did not complete: " + status);
    }
    if (SecondsSince(start) > 300) throw std::runtime_error("sagas did not complete in 300 s");
  }
  const double elapsed = SecondsSince(start);
  core::Json out;
  out["sagas"] = sagas;
  out["steps_per_saga"] = 3;
  out["completed_per_s"] = sagas / elapsed;
  {
    // At saturation the overhead is mostly the queue of waiting calls; the engine's own
    // share shows at a steady rate well below capacity.
    std::lock_guard<std::mutex> lock(mu);
    out["step_overhead_at_saturation_ms"] = {{"p50", Percentile(overheads, 50)},
                                             {"p99", Percentile(overheads, 99)}};
    overheads.clear();
  }
  const int steady = steady_rate * 3;
  auto steady_start = Clock::now();
  for (int sent = 0; sent < steady;) {
    const int due = std::min(steady, static_cast<int>(SecondsSince(steady_start) * steady_rate));
    if (due > sent) {
      Status written = store->Write([&](eventstore::Transaction& tx) -> Status {
        for (int i = sent; i < due; ++i) {
          eventstore::AppendRequest request;
          request.stream = "steady-" + std::to_string(i);
          request.events.push_back(
              {"", "OrderPlaced", core::Json{{"total", 10}}, core::Json::object()});
          RETURN_IF_ERROR(tx.Append(request).status());
        }
        return Status::Ok();
      });
      if (!written.ok()) throw std::runtime_error(written.ToString());
      sent = due;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  while (completed < sagas + steady) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto counts = sagas::SagaTables::Counts(*store);
    if (!counts.ok()) throw std::runtime_error(counts.status().ToString());
    for (const auto& [name, status, n] : *counts) {
      if (status == "completed") completed = n;
    }
    if (SecondsSince(steady_start) > 120) throw std::runtime_error("steady sagas did not complete");
  }
  engine.Stop();
  {
    std::lock_guard<std::mutex> lock(mu);
    out["step_overhead_ms"] = {{"at_sagas_per_s", steady_rate},
                               {"samples", overheads.size()},
                               {"p50", Percentile(overheads, 50)},
                               {"p99", Percentile(overheads, 99)}};
  }
  const double calls_per_s = ServiceLimit(services, 64, 2.0);
  out["services_limit"] = {{"requests_per_s", calls_per_s},
                           {"sagas_per_s_if_only_http", calls_per_s / 3}};
  return out;
}

core::Json MeasureParkedSagas(int instances) {
  testing::ExampleServices services;
  testing::RivuletServer server("", "services: { svc: " + services.url() + R"( }
sagas:
  - name: parked
    trigger: { type: OrderPlaced }
    id: "${stream}"
    timeout: 7d
    steps:
      - name: shipped
        await: { type: ShipmentBooked, match: { data.order_id: "${saga.id}" } }
        timeout: 1d
)",
                                /*start=*/true);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const int64_t before = ResidentKiB(server.process().pid());
  { AppendTriggers(*OpenStore(server.dir().File("rivulet.db")), instances, "order-"); }
  sqlite3* db = nullptr;
  sqlite3_open_v2(server.dir().File("rivulet.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  auto start = Clock::now();
  int64_t parked = 0;
  while (parked < instances) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM saga_instances WHERE phase = 'awaiting_event'", -1,
                       &stmt, nullptr);
    if (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) parked = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    if (SecondsSince(start) > 300) throw std::runtime_error("instances did not park in 300 s");
  }
  const double seconds = SecondsSince(start);
  sqlite3_close(db);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const int64_t after = ResidentKiB(server.process().pid());
  return core::Json{{"instances", instances},
                    {"seconds_to_park", seconds},
                    {"rss_before_mib", static_cast<double>(before) / 1024},
                    {"rss_parked_mib", static_cast<double>(after) / 1024}};
}

}  // namespace rivulet::bench
