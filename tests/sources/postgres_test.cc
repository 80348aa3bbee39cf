#include <libpq-fe.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "config/config_loader.h"
#include "eventstore/sqlite/sqlite_event_store.h"
#include "sources/ingestor.h"
#include "sources/pg_status.h"
#include "sources/pgoutput.h"
#include "sources/source_runner.h"
#include "tests/support/postgres_server.h"
#include "tests/support/rivulet_server.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_store.h"

using namespace rivulet;
using namespace rivulet::testing;
using core::Json;
using std::chrono::milliseconds;

namespace {

// A store fed by one postgres source "shop" (publication and slot rivulet_shop).
struct Pipeline {
  Pipeline(PostgresServer& pg, TempDir& dir, const std::string& tables, bool snapshot = true)
      : store(OpenTestStore("sqlite", dir)) {
    auto loaded = config::LoadConfigString(
        "sources:\n  - { name: shop, type: postgres, url: \"" + pg.url() +
            "\", publication: rivulet_shop, slot: rivulet_shop, tables: " + tables +
            ", snapshot: " + (snapshot ? "initial" : "never") +
            ", heartbeat: 200ms }\nmappings:\n  - { source: shop }\n",
        "rivulet.yaml", dir.path());
    INFO(loaded.status());
    REQUIRE(loaded.ok());
    config = *loaded;
    REQUIRE(sources::Ingestor::Migrate(*store).ok());
    mapper = std::make_unique<sources::Mapper>(config.mappings);
    ingestor = std::make_unique<sources::Ingestor>(*store, *mapper);
    runner = std::make_unique<sources::SourceRunner>(*store, *ingestor, config.sources, nullptr);
    REQUIRE(runner->Start().ok());
  }
  ~Pipeline() { runner->Stop(); }

  std::vector<Json> Events() {
    eventstore::LogReadOptions options;
    options.limit = 1'000'000;
    auto batch = store->ReadLog(options);
    REQUIRE(batch.ok());
    std::vector<Json> out;
    for (const auto& e : batch->events) out.push_back(e.ToJson());
    return out;
  }
  std::string StoredLsn() {
    auto checkpoint = sources::Ingestor::Checkpoint(*store, "shop");
    REQUIRE(checkpoint.ok());
    return checkpoint->is_object() ? (*checkpoint)["lsn"].get<std::string>() : "0/0";
  }
  void WaitForEvents(size_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (store->HeadPosition() < static_cast<int64_t>(n)) {  // cheaper than reading them
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

  std::unique_ptr<eventstore::EventStore> store;
  config::Config config;
  std::unique_ptr<sources::Mapper> mapper;
  std::unique_ptr<sources::Ingestor> ingestor;
  std::unique_ptr<sources::SourceRunner> runner;
};

uint64_t Lsn(const std::string& text) { return sources::pg::ParseLsn(text).value(); }

// A fast shutdown of the source (pg_ctl stop -m fast) must finish within this, or
// PostgresServer::Stop throws; PostgreSQL waits for the walsender's client meanwhile.
constexpr std::chrono::seconds kFastStop{10};

// The store of `server`, read with `rivulet export` (which works beside a running serve).
std::vector<Json> Exported(const RivuletServer& server) {
  CommandResult exported = RunCommand({RivuletBinary(), "export", "-c", server.config_path()});
  REQUIRE(exported.exit_code == 0);
  std::vector<Json> events;
  std::istringstream lines(exported.out);
  for (std::string line; std::getline(lines, line);) events.push_back(Json::parse(line));
  return events;
}

}  // namespace

TEST_CASE(
    "postgres: inserts, updates with and without REPLICA IDENTITY FULL, deletes, "
    "truncates, transactions, NULLs, TOAST and types",
    "[sources][postgres]") {
  PostgresServer pg;
  pg.Exec(R"(
    CREATE TABLE orders (id bigint PRIMARY KEY, status text, total numeric(10,2), note text);
    CREATE TABLE items (order_id bigint, n int, qty int, PRIMARY KEY (order_id, n));
    ALTER TABLE items REPLICA IDENTITY FULL;
    CREATE TABLE kinds (id int PRIMARY KEY, b boolean, i2 smallint, i8 bigint, f8 float8,
      num numeric, j json, jb jsonb, ts timestamp, tstz timestamptz, d date, u uuid,
      ints int[], texts text[], nums numeric[], missing text);
  )");
  TempDir dir;
  Pipeline p(pg, dir, "[public.orders, public.items, public.kinds]");
  p.WaitForEvents(0);
  // Wait until streaming (the slot exists and its checkpoint is stored).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (p.StoredLsn() == "0/0") {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(20));
  }

  const std::string big(10000, 'x');  // stored out of line (TOAST), not compressible away
  std::string random_big;
  for (int i = 0; i < 3000; ++i) random_big += std::to_string((i * 7919) % 10007);
  pg.Exec("INSERT INTO orders VALUES (1, 'new', 10.50, $1)", {random_big});
  pg.Exec("UPDATE orders SET status = 'paid' WHERE id = 1");  // note unchanged: TOAST 'u'
  pg.Exec(
      "BEGIN; INSERT INTO items VALUES (1, 1, 2); INSERT INTO items VALUES (1, 2, 5); "
      "UPDATE items SET qty = 3 WHERE n = 1; COMMIT;");
  pg.Exec("DELETE FROM items WHERE n = 2");
  pg.Exec(
      "INSERT INTO kinds VALUES (1, true, 7, 9007199254740993, 1.5, 12345.6789, "
      "'{\"a\": [1, 2]}', '{\"b\": null}', '2024-03-01 12:00:00.25', "
      "'2024-03-01 12:00:00+02', '2024-03-01', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "
      "'{1,2,NULL}', '{\"a b\",c}', '{1.5,2}', NULL)");
  pg.Exec("TRUNCATE items");
  pg.Exec("DELETE FROM orders WHERE id = 1");
  p.WaitForEvents(8);
  std::this_thread::sleep_for(milliseconds(300));
  auto events = p.Events();
  REQUIRE(events.size() == 8);

  // Default mapping: stream <table>-<key>, type <table>.<operation>, data the documents.
  const Json& insert = events[0];
  CHECK(insert["stream"] == "orders-1");
  CHECK(insert["type"] == "orders.insert");
  CHECK(insert["data"]["fullDocument"]["total"] == "10.50");  // numeric: a decimal string
  CHECK(insert["data"]["fullDocument"]["note"] == random_big);
  CHECK(insert["data"]["documentKey"] == Json{{"id", 1}});
  CHECK(insert["metadata"]["source"] == "shop");
  CHECK(insert["metadata"]["source_position"].is_string());
  CHECK(insert["metadata"]["cluster_time"].is_string());

  const Json& update = events[1];
  CHECK(update["type"] == "orders.update");
  CHECK(update["data"]["fullDocument"]["status"] == "paid");
  CHECK_FALSE(update["data"]["fullDocument"].contains("note"));  // unchanged TOAST: omitted
  CHECK(update["metadata"]["unchanged_toast_columns"] == Json::array({"note"}));
  CHECK(update["metadata"]["update_description"] == "all_columns");  // no before-image
  CHECK(update["data"]["fullDocumentBeforeChange"].is_null());

  // One transaction: three events, one after the other, the same source position.
  CHECK(events[2]["stream"] == "items-1-1");
  CHECK(events[3]["stream"] == "items-2-1");  // key values in key name order: n, order_id
  CHECK(events[4]["type"] == "items.update");
  CHECK(events[2]["metadata"]["source_position"] == events[4]["metadata"]["source_position"]);
  CHECK(events[4]["position"].get<int64_t>() == events[2]["position"].get<int64_t>() + 2);
  // REPLICA IDENTITY FULL: the before-image, and only the changed fields.
  CHECK(events[4]["data"]["fullDocumentBeforeChange"] ==
        Json{{"order_id", 1}, {"n", 1}, {"qty", 2}});
  CHECK(events[4]["data"]["updateDescription"]["updatedFields"] == Json{{"qty", 3}});
  CHECK(events[5]["type"] == "items.delete");
  CHECK(events[5]["data"]["fullDocument"].is_null());
  CHECK(events[5]["data"]["fullDocumentBeforeChange"]["qty"] == 5);

  const Json& kinds = events[6]["data"]["fullDocument"];
  CHECK(kinds["b"] == true);
  CHECK(kinds["i2"] == 7);
  CHECK(kinds["i8"] == 9007199254740993LL);
  CHECK(kinds["f8"] == 1.5);
  CHECK(kinds["num"] == "12345.6789");
  CHECK(kinds["j"] == Json{{"a", {1, 2}}});
  CHECK(kinds["jb"] == Json{{"b", nullptr}});
  CHECK(kinds["ts"] == "2024-03-01T12:00:00.25Z");
  CHECK(kinds["tstz"] == "2024-03-01T10:00:00Z");
  CHECK(kinds["d"] == "2024-03-01");
  CHECK(kinds["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  CHECK(kinds["ints"] == Json::parse("[1, 2, null]"));
  CHECK(kinds["texts"] == Json::parse(R"(["a b", "c"])"));
  CHECK(kinds["nums"] == Json::parse(R"(["1.5", "2"])"));
  CHECK(kinds["missing"].is_null());

  // The truncate is counted and skipped; the delete after it still arrives.
  CHECK(events[7]["type"] == "orders.delete");
  CHECK(events[7]["data"]["documentKey"] == Json{{"id", 1}});
}

TEST_CASE(
    "postgres: snapshot then streaming with concurrent writes misses and doubles nothing, "
    "the slot is confirmed only up to what is stored, a server restart is survived",
    "[sources][postgres]") {
  PostgresServer pg;
  pg.Exec("CREATE TABLE orders (id bigint PRIMARY KEY, v int)");
  pg.Exec("INSERT INTO orders SELECT g, 0 FROM generate_series(1, 2000) g");
  TempDir dir;
  std::atomic<bool> writing{true};
  std::atomic<int> next_id{2001};
  std::thread writer([&] {
    PostgresServer* server = &pg;
    while (writing.load()) {
      const int id = next_id.fetch_add(1);
      try {
        server->Exec("INSERT INTO orders VALUES ($1, 0)", {std::to_string(id)});
      } catch (const std::exception&) {
        next_id.store(id);  // retry the same id (the server may be restarting)
        std::this_thread::sleep_for(milliseconds(50));
      }
    }
  });
  std::unique_ptr<Pipeline> p;
  try {
    std::this_thread::sleep_for(milliseconds(100));
    p = std::make_unique<Pipeline>(pg, dir, "[orders]");
    // The copy ends when the slot is consistent, which can take until PostgreSQL logs
    // its running transactions (every 15 s) while the writer keeps some open. Then a
    // while of streaming, still with the writer.
    auto copied = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (p->StoredLsn() == "0/0") {
      REQUIRE(std::chrono::steady_clock::now() < copied);
      std::this_thread::sleep_for(milliseconds(20));
    }
    std::this_thread::sleep_for(milliseconds(1000));
  } catch (...) {
    writing.store(false);
    writer.join();
    throw;
  }
  writing.store(false);
  writer.join();
  // The test's writer shares the server's connection; only it runs SQL until now.
  const int last = next_id.load() - 1;
  pg.Restart(kFastStop);  // connections are cut; the source reconnects with backoff
  pg.Exec("INSERT INTO orders SELECT g, 1 FROM generate_series($1::int, $1::int + 99) g",
          {std::to_string(last + 1)});
  const int total = last + 100;
  // The writer's rows can be tens of thousands (it runs for as long as the copy takes),
  // so wait on the head position (cheap) while it moves, and read the events once.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int64_t last_head = -1;
  while (true) {
    // The slot never claims more than the store holds. (While the initial copy runs,
    // nothing is stored and the slot's confirmed_flush_lsn is the snapshot's own LSN,
    // set by PostgreSQL when it made the slot: not an acknowledgement.) Read the slot
    // first: what is stored only grows.
    const std::string confirmed = pg.Value(
        "SELECT coalesce(confirmed_flush_lsn::text, '0/0') FROM pg_replication_slots "
        "WHERE slot_name = 'rivulet_shop'");
    const std::string stored = p->StoredLsn();
    if (stored != "0/0") CHECK(Lsn(confirmed) <= Lsn(stored));
    const int64_t head = p->store->HeadPosition();
    if (head >= total) break;
    if (head > last_head) {  // still arriving: 60 s more from the last progress
      last_head = head;
      deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    }
    if (std::chrono::steady_clock::now() >= deadline)
      FAIL("no progress for 60 s at " << head << " of " << total << " rows, stored up to " << stored
                                      << ", confirmed " << confirmed);
    std::this_thread::sleep_for(milliseconds(50));
  }
  std::map<int64_t, int> seen;
  for (const Json& e : p->Events()) seen[e["data"]["documentKey"]["id"].get<int64_t>()]++;
  CHECK(static_cast<int>(seen.size()) == total);
  for (const auto& [id, count] : seen) {
    INFO("row " << id);
    CHECK(count == 1);
  }
  // Rows of the snapshot are marked; streamed ones are not.
  const auto events = p->Events();
  CHECK(events.front()["metadata"]["snapshot"] == true);
  CHECK_FALSE(events.back()["metadata"].contains("snapshot"));
}

TEST_CASE("postgres: rivulet serve killed with SIGKILL mid-stream keeps every row exactly once",
          "[sources][postgres][crash]") {
  PostgresServer pg;
  pg.Exec("CREATE TABLE orders (id bigint PRIMARY KEY, v int)");
  RivuletServer server("",
                       "sources:\n  - { name: shop, type: postgres, url: \"" + pg.url() +
                           "\", publication: rivulet_shop, slot: rivulet_shop, tables: [orders], "
                           "heartbeat: 200ms }\nmappings:\n  - { source: shop }\n");
  std::atomic<bool> writing{true};
  std::atomic<int> written{0};
  std::thread writer([&] {
    PostgresServer* server_pg = &pg;
    for (int id = 1; writing.load(); ++id) {
      if (id % 10 == 0) {  // now and then a transaction of 5 rows
        server_pg->Exec(
            "INSERT INTO orders SELECT g, 1 FROM generate_series($1::int, $1::int + "
            "4) g",
            {std::to_string(id)});
        id += 4;
      } else {
        server_pg->Exec("INSERT INTO orders VALUES ($1, 0)", {std::to_string(id)});
      }
      written.store(id);
    }
  });
  for (int crash = 0; crash < 3; ++crash) {
    std::this_thread::sleep_for(milliseconds(700));
    server.Crash();
    server.Start();
  }
  std::this_thread::sleep_for(milliseconds(300));
  writing.store(false);
  writer.join();
  const int total = written.load();
  REQUIRE(total > 100);

  std::map<int64_t, int> seen;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    seen.clear();
    for (const Json& event : Exported(server))
      seen[event["data"]["documentKey"]["id"].get<int64_t>()]++;
    if (static_cast<int>(seen.size()) >= total) break;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(100));
  }
  CHECK(static_cast<int>(seen.size()) == total);
  for (const auto& [id, count] : seen) {
    INFO("row " << id);
    CHECK(count == 1);
  }
}

namespace {

// The value of the metric line that starts with `series` (name and labels), or -1.
double MetricValue(const std::string& metrics, const std::string& series) {
  std::istringstream lines(metrics);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

size_t ExportedCount(const RivuletServer& server) { return Exported(server).size(); }

}  // namespace

TEST_CASE(
    "postgres: source lag and state in /metrics, an invalidated slot is a clear error, "
    "and the documented reset copies the table again",
    "[sources][postgres]") {
  PostgresServer pg;
  pg.Exec("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
  pg.Exec("SELECT pg_reload_conf()");
  pg.Exec("CREATE TABLE orders (id bigint PRIMARY KEY, v int)");
  pg.Exec("CREATE TABLE scratch (filler text)");
  const std::string source =
      "sources:\n  - { name: shop, type: postgres, url: \"" + pg.url() +
      "\", publication: rivulet_shop, slot: rivulet_shop, tables: [orders], snapshot: initial, "
      "heartbeat: 200ms }\nmappings:\n  - { source: shop }\n";
  RivuletServer server("", source);
  pg.Exec("INSERT INTO orders SELECT g, 0 FROM generate_series(1, 10) g");

  // Caught up and idle: lag 0, up 1.
  auto client = server.Client();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (true) {
    auto metrics = client->Get("/metrics");
    REQUIRE(metrics);
    const double lag = MetricValue(metrics->body, "rivulet_source_lag_bytes{source=\"shop\"}");
    const double seconds =
        MetricValue(metrics->body, "rivulet_source_lag_seconds{source=\"shop\"}");
    const double up = MetricValue(metrics->body, "rivulet_source_up{source=\"shop\"}");
    if (ExportedCount(server) == 10 && lag == 0 && seconds == 0 && up == 1) break;
    INFO(metrics->body);
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(100));
  }

  // While Rivulet is down, changes wait in the slot, and then the WAL they are in is
  // removed: PostgreSQL invalidates the slot at the next checkpoint.
  server.Crash();
  pg.Exec("INSERT INTO orders SELECT g, 0 FROM generate_series(11, 20) g");
  for (int i = 0; i < 4; ++i) {
    pg.Exec("INSERT INTO scratch VALUES ('x')");
    pg.Exec("SELECT pg_switch_wal()");
  }
  pg.Exec("CHECKPOINT");
  REQUIRE(pg.Value("SELECT wal_status FROM pg_replication_slots WHERE slot_name = "
                   "'rivulet_shop'") == "lost");

  server.Start();
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (server.stderr_text().find("was invalidated") == std::string::npos) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(100));
  }
  const std::string log = server.stderr_text();
  CHECK_THAT(log, Catch::Contains("replication slot rivulet_shop was invalidated"));
  CHECK_THAT(log, Catch::Contains("SELECT pg_drop_replication_slot('rivulet_shop')"));
  CHECK_THAT(log, Catch::Contains("DELETE FROM source_checkpoints WHERE source = 'shop'"));
  auto metrics = server.Client()->Get("/metrics");  // a new port after the restart
  REQUIRE(metrics);
  CHECK(MetricValue(metrics->body, "rivulet_source_up{source=\"shop\"}") == 0);
  CHECK(ExportedCount(server) == 10);  // nothing stored from a slot that lost changes

  // The reset the message gives: drop the slot, forget the checkpoint, restart. The
  // table is copied again, then streaming goes on.
  REQUIRE(server.Stop() == 0);
  pg.Exec("SELECT pg_drop_replication_slot('rivulet_shop')");
  {
    eventstore::sqlite::SqliteStoreOptions options;
    options.path = server.dir().File("rivulet.db");
    auto store = eventstore::sqlite::OpenSqliteEventStore(options);
    REQUIRE(store.ok());
    REQUIRE((*store)
                ->Write([](eventstore::Transaction& tx) {
                  return tx.Execute("DELETE FROM source_checkpoints WHERE source = 'shop'", {});
                })
                .ok());
  }
  server.Start();
  pg.Exec("INSERT INTO orders VALUES (21, 1)");
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (ExportedCount(server) < 10 + 21) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(100));
  }
  CHECK(ExportedCount(server) == 10 + 21);
}

TEST_CASE("postgres: a jsonb value that looks like Extended JSON is stored as it is",
          "[sources][postgres]") {
  PostgresServer pg;
  pg.Exec("CREATE TABLE docs (id int PRIMARY KEY, body jsonb)");
  TempDir dir;
  Pipeline p(pg, dir, "[docs]");
  const Json body = Json::parse(R"({"$oid": "abc", "n": {"$numberLong": "not a number"}})");
  pg.Exec("INSERT INTO docs VALUES (1, $1)", {body.dump()});  // copied by the snapshot, or
  pg.Exec("INSERT INTO docs VALUES (2, $1)", {body.dump()});  // streamed
  p.WaitForEvents(2);
  for (const Json& event : p.Events()) {
    INFO(event.dump());
    CHECK(event["data"]["fullDocument"]["body"] == body);
  }
}

namespace {

// Inserts rows first, first + 1, ... into orders (v = 0), one transaction each, through
// a connection of its own, until Stop. An insert that fails (the server stopping or
// restarting) is tried again until it succeeds, and ON CONFLICT DO NOTHING keeps a
// commit whose answer was lost from failing the retry; so once stopped, exactly the
// rows first..last() exist.
class Writer {
 public:
  Writer(std::string url, int64_t first) : url_(std::move(url)), next_(first) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Writer() {
    abort_.store(true);
    Stop();
  }
  void Stop() {
    writing_.store(false);
    if (thread_.joinable()) thread_.join();
  }
  int64_t last() const { return next_.load() - 1; }  // the last row committed
  bool failed() const { return failed_.load(); }

 private:
  void Run() {
    PGconn* conn = nullptr;
    while (writing_.load()) {
      const std::string id = std::to_string(next_.load());
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
      while (true) {
        if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
          if (conn != nullptr) PQfinish(conn);
          conn = PQconnectdb(url_.c_str());
        }
        const char* values[] = {id.c_str()};
        PGresult* r = PQexecParams(conn,
                                   "INSERT INTO orders VALUES ($1::bigint, 0) "
                                   "ON CONFLICT DO NOTHING",
                                   1, nullptr, values, nullptr, nullptr, 0);
        const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (ok) break;
        if (abort_.load() || std::chrono::steady_clock::now() > give_up) {
          failed_.store(true);
          PQfinish(conn);
          return;
        }
        PQfinish(conn);
        conn = nullptr;
        std::this_thread::sleep_for(milliseconds(50));
      }
      next_.fetch_add(1);
    }
    PQfinish(conn);
  }

  std::string url_;
  std::atomic<int64_t> next_;
  std::atomic<bool> writing_{true};
  std::atomic<bool> abort_{false};
  std::atomic<bool> failed_{false};
  std::thread thread_;
};

// The events stored, as recorded (cheaper to read than Pipeline::Events).
std::vector<eventstore::RecordedEvent> Recorded(Pipeline& p) {
  eventstore::LogReadOptions options;
  options.limit = 1'000'000;
  options.max_scan = 1'000'000;
  auto batch = p.store->ReadLog(options);
  REQUIRE(batch.ok());
  return std::move(batch->events);
}

// The orders row an event is about: the default mapping's stream is orders-<id>.
int64_t RowId(const eventstore::RecordedEvent& e) {
  return std::stoll(e.stream.substr(e.stream.rfind('-') + 1));
}

// Waits until the store holds as many events as `expected` has rows, then checks that
// they are exactly those rows, each once.
void CheckExactlyOnce(Pipeline& p, const std::set<int64_t>& expected) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  while (p.store->HeadPosition() < static_cast<int64_t>(expected.size())) {
    INFO(p.store->HeadPosition() << " of " << expected.size() << " rows stored");
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(100));
  }
  std::map<int64_t, int> seen;
  for (const auto& e : Recorded(p)) seen[RowId(e)]++;
  std::vector<int64_t> missing, doubled, unexpected;
  for (int64_t id : expected) {
    if (seen.count(id) == 0) missing.push_back(id);
  }
  for (const auto& [id, count] : seen) {
    if (count > 1) doubled.push_back(id);
    if (expected.count(id) == 0) unexpected.push_back(id);
  }
  auto first = [](const std::vector<int64_t>& ids) {
    std::string out;
    for (size_t i = 0; i < ids.size() && i < 10; ++i) out += std::to_string(ids[i]) + " ";
    return out + "(" + std::to_string(ids.size()) + ")";
  };
  INFO("missing " << first(missing) << ", doubled " << first(doubled) << ", unexpected "
                  << first(unexpected));
  CHECK(missing.empty());
  CHECK(doubled.empty());
  CHECK(unexpected.empty());
}

}  // namespace

TEST_CASE(
    "postgres: a fast shutdown of the source finishes while Rivulet is idle, and streaming "
    "goes on after the restart",
    "[sources][postgres][shutdown]") {
  PostgresServer pg;
  pg.Exec("CREATE TABLE orders (id bigint PRIMARY KEY, v int)");
  pg.Exec("INSERT INTO orders SELECT g, 0 FROM generate_series(1, 100) g");
  TempDir dir;
  Pipeline p(pg, dir, "[orders]");
  p.WaitForEvents(100);
  pg.Exec("INSERT INTO orders VALUES (101, 0)");
  p.WaitForEvents(101);
  // Idle: the walsender has sent everything, and the slot confirms all of it.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (pg.Value("SELECT count(*) FROM pg_stat_replication WHERE sent_lsn = flush_lsn") != "1") {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(50));
  }
  pg.Stop(kFastStop);
  pg.Start();
  pg.Exec("INSERT INTO orders SELECT g, 1 FROM generate_series(102, 110) g");
  std::set<int64_t> expected;
  for (int64_t id = 1; id <= 110; ++id) expected.insert(id);
  CheckExactlyOnce(p, expected);
}

TEST_CASE(
    "postgres: a fast shutdown of the source finishes while Rivulet streams behind a writer "
    "(nothing it has not stored is confirmed, nothing is lost or doubled after the restart)",
    "[sources][postgres][shutdown]") {
  PostgresServer pg;
  pg.Exec("CREATE TABLE orders (id bigint PRIMARY KEY, v int)");
  TempDir dir;
  Pipeline p(pg, dir, "[orders]", /*snapshot=*/false);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (p.StoredLsn() == "0/0") {  // the slot is made: streaming
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(20));
  }
  Writer writer(pg.url(), 1);
  while (p.Events().size() < 50) {  // the writer's rows stream in
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(20));
  }
  // A transaction of 10,000 rows, then 5,000 single-row transactions: more than
  // Rivulet (ASan build) receives and stores in the 10 s the shutdown may take, so when
  // PostgreSQL starts shutting down the walsender has sent much that is not stored yet,
  // and the source may be storing the large transaction as one unit. A fast shutdown
  // waits until the client confirms all WAL sent; Rivulet confirms only what it stored.
  pg.Exec("INSERT INTO orders SELECT g, 2 FROM generate_series(2000001, 2010000) g");
  pg.Exec(
      "DO $$ BEGIN FOR i IN 1000001..1005000 LOOP INSERT INTO orders VALUES (i, 1); COMMIT; "
      "END LOOP; END $$");
  const std::string current = pg.Value("SELECT pg_current_wal_lsn()::text");
  const std::string stored = p.StoredLsn();
  // Behind is the case this test is about, and with 15,000 rows just written it almost
  // always is; a machine fast enough to have caught up still tests the shutdown.
  if (Lsn(stored) >= Lsn(current))
    WARN("Rivulet had caught up before the shutdown (stored " << stored << ")");
  pg.Stop(kFastStop);
  pg.Start();
  // The slot confirmed only what was stored. Read the slot first: what is stored only
  // grows, so the comparison holds whatever the source stores meanwhile.
  const uint64_t confirmed =
      Lsn(pg.Value("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = "
                   "'rivulet_shop'"));
  CHECK(confirmed <= Lsn(p.StoredLsn()));
  const int64_t at_restart = writer.last();
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (writer.last() < at_restart + 100) {  // the writer goes on after the restart
    REQUIRE_FALSE(writer.failed());
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(20));
  }
  writer.Stop();
  REQUIRE_FALSE(writer.failed());
  std::set<int64_t> expected;
  for (int64_t id = 1; id <= writer.last(); ++id) expected.insert(id);
  for (int64_t id = 1000001; id <= 1005000; ++id) expected.insert(id);
  for (int64_t id = 2000001; id <= 2010000; ++id) expected.insert(id);
  CheckExactlyOnce(p, expected);
}

TEST_CASE(
    "postgres: a fast shutdown of the source finishes in the middle of the initial copy, "
    "which is stored whole or not at all, and every row arrives once after the restart",
    "[sources][postgres][shutdown]") {
  PostgresServer pg;
  pg.Exec("CREATE TABLE orders (id bigint PRIMARY KEY, v int, note text)");
  constexpr int64_t kCopied = 5000;
  pg.Exec("INSERT INTO orders SELECT g, 0, repeat('x', 100) FROM generate_series(1, $1) g",
          {std::to_string(kCopied)});
  TempDir dir;
  Pipeline p(pg, dir, "[orders]");
  // The copy is under way from the moment the slot is made (its exported snapshot is
  // read, then the rows are written to the store in one unit) until the store holds its
  // checkpoint: seconds here.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::string first_slot;
  while (true) {
    auto slot = pg.Exec(
        "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = "
        "'rivulet_shop' AND confirmed_flush_lsn IS NOT NULL");
    if (!slot.empty() && p.StoredLsn() == "0/0") {
      first_slot = slot[0][0];
      break;
    }
    REQUIRE(p.StoredLsn() == "0/0");  // else the whole copy came and went unseen
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(10));
  }
  pg.Stop(kFastStop);
  pg.Start();
  pg.Exec("INSERT INTO orders SELECT g, 1, 'y' FROM generate_series($1::int + 1, $1::int + 10) g",
          {std::to_string(kCopied)});
  std::set<int64_t> expected;
  for (int64_t id = 1; id <= kCopied + 10; ++id) expected.insert(id);
  CheckExactlyOnce(p, expected);
  // The interrupted copy was not stored at all and was made again from a new slot (the
  // stop came while the snapshot was read: the usual case, it takes seconds here), or it
  // was stored whole (the stop came while it was written to the store, which goes on).
  int64_t copied = 0;
  int64_t from_first_slot = 0;
  for (const auto& e : Recorded(p)) {
    const Json metadata = Json::parse(e.metadata);
    if (!metadata.contains("snapshot")) continue;
    if (RowId(e) <= kCopied) ++copied;
    if (metadata["source_position"] == first_slot) ++from_first_slot;
  }
  INFO(from_first_slot << " rows stored from the first slot");
  CHECK(copied == kCopied);
  CHECK((from_first_slot == 0 || from_first_slot == kCopied));
}

TEST_CASE(
    "postgres: an idle_session_timeout on the source's role does not cut the stream "
    "(the idle SQL session is not taken for a shutdown)",
    "[sources][postgres][shutdown]") {
  PostgresServer pg;
  pg.Exec("CREATE TABLE orders (id bigint PRIMARY KEY, v int)");
  // Only the source's role: the test's own session stays idle between statements too.
  pg.Exec("CREATE ROLE rivulet_source LOGIN REPLICATION SUPERUSER");
  pg.Exec("ALTER ROLE rivulet_source SET idle_session_timeout = '300ms'");
  std::string url = pg.url();
  url.replace(url.find("postgres@"), 9, "rivulet_source@");
  TempDir dir;
  auto loaded = config::LoadConfigString(
      "sources:\n  - { name: shop, type: postgres, url: \"" + url +
          "\", publication: rivulet_shop, slot: rivulet_shop, tables: [orders], "
          "heartbeat: 200ms }\nmappings:\n  - { source: shop }\n",
      "rivulet.yaml", dir.path());
  INFO(loaded.status());
  REQUIRE(loaded.ok());
  auto store = OpenTestStore("sqlite", dir);
  REQUIRE(sources::Ingestor::Migrate(*store).ok());
  sources::Mapper mapper(loaded->mappings);
  sources::Ingestor ingestor(*store, mapper);
  sources::SourceRunner runner(*store, ingestor, loaded->sources, nullptr);
  REQUIRE(runner.Start().ok());
  auto walsender = [&] {
    return pg.Value("SELECT coalesce(active_pid::text, '') FROM pg_replication_slots");
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (pg.Value("SELECT count(*) FROM pg_replication_slots WHERE active") != "1") {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(50));
  }
  const std::string first = walsender();
  // Well past the timeout, several times over, with rows arriving meanwhile.
  for (int i = 1; i <= 10; ++i) {
    pg.Exec("INSERT INTO orders VALUES ($1, 0)", {std::to_string(i)});
    std::this_thread::sleep_for(milliseconds(200));
  }
  CHECK(walsender() == first);  // the same replication session throughout
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    eventstore::LogReadOptions options;
    auto batch = store->ReadLog(options);
    REQUIRE(batch.ok());
    if (batch->events.size() == 10) break;
    REQUIRE(batch->events.size() < 10);
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(20));
  }
  runner.Stop();
}

namespace {

// The source `name` as /v1/ready lists it (null until it is listed), and the answer's
// status.
Json ReadySource(const RivuletServer& server, const std::string& name, int* http_status) {
  auto ready = server.Client()->Get("/v1/ready");
  REQUIRE(ready);
  *http_status = ready->status;
  Json body = Json::parse(ready->body);
  for (const Json& c : body["components"]) {
    if (c["kind"] == "source" && c["name"] == name) return c;
  }
  return Json();
}

}  // namespace

TEST_CASE(
    "postgres: a publication the source's role cannot create fails the source with what to "
    "do, said once, never reconnecting, and a restart after the fix streams",
    "[sources][postgres][log]") {
  PostgresServer pg;
  pg.Exec("CREATE TABLE orders (id bigint PRIMARY KEY, v int)");
  // May stream changes and read the table, may not create publications: the
  // administrator's part.
  pg.Exec("CREATE ROLE reader LOGIN REPLICATION");
  pg.Exec("GRANT SELECT ON orders TO reader");
  const std::string url =
      "postgresql://reader@127.0.0.1:" + std::to_string(pg.port()) + "/postgres";
  RivuletServer server("",
                       "sources:\n  - { name: shop, type: postgres, url: \"" + url +
                           "\", publication: bench, slot: bench, tables: [orders], "
                           "heartbeat: 200ms }\nmappings:\n  - { source: shop }\n",
                       false);
  server.SetArgs({"--log-format", "json", "--log-level", "debug"});
  server.Start();

  int http_status = 0;
  Json shop;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (true) {
    shop = ReadySource(server, "shop", &http_status);
    if (shop.is_object() && shop["state"] == "failed") break;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(100));
  }
  CHECK(http_status == 200);  // a source's trouble never takes the node out
  const std::string detail = shop["detail"];
  CHECK_THAT(detail, Catch::Contains("publication \"bench\" does not exist on the source "
                                     "database") &&
                         Catch::Contains("permission denied for database postgres") &&
                         Catch::Contains("create it with CREATE PUBLICATION \"bench\" FOR TABLE "
                                         "\"public\".\"orders\"") &&
                         Catch::EndsWith("then restart rivulet"));

  // It does not try again: one connection, still one seconds later, none open.
  auto attempts = [&] {
    auto metrics = server.Client()->Get("/metrics");
    REQUIRE(metrics);
    return MetricValue(metrics->body, "rivulet_source_attempts_total{source=\"shop\"}");
  };
  CHECK(attempts() == 1);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // retries would come every 0.5-4 s
  CHECK(attempts() == 1);
  CHECK(pg.Value("SELECT count(*) FROM pg_stat_activity WHERE usename = 'reader'") == "0");

  std::vector<Json> said;
  for (const Json& r : server.LogRecords()) {
    if (r.value("component", "") == "source/shop") said.push_back(r);
  }
  {
    INFO(server.stderr_text());
    REQUIRE(said.size() == 1);
  }
  CHECK(said[0]["level"] == "error");
  CHECK(said[0]["code"] == "failed_precondition");
  CHECK_THAT(said[0]["msg"].get<std::string>(),
             Catch::Contains("publication \"bench\" does not exist"));

  // The fix the detail gives, then a restart: the source streams.
  REQUIRE(server.Stop() == 0);
  pg.Exec("CREATE PUBLICATION bench FOR TABLE orders");
  server.Start();
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!(shop = ReadySource(server, "shop", &http_status)).is_object() || shop["state"] != "ok") {
    INFO(shop.dump() << "\n" << server.stderr_text());
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(100));
  }
  pg.Exec("INSERT INTO orders VALUES (1, 1)");
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (ExportedCount(server) < 1) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(100));
  }
  CHECK(ExportedCount(server) == 1);
}

TEST_CASE("postgres: failures a person must fix are FailedPrecondition, with what to do",
          "[sources][postgres][log]") {
  using sources::PgConnectError;
  using sources::PgError;
  struct Case {
    std::string sqlstate, message;
    StatusCode code;
    std::string remedy;
  };
  const std::vector<Case> cases = {
      {"",
       "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  password "
       "authentication failed for user \"reader\"",
       StatusCode::kFailedPrecondition, "correct the user or password"},
      {"",
       "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  no pg_hba.conf "
       "entry for host \"127.0.0.1\", user \"reader\", database \"shop\"",
       StatusCode::kFailedPrecondition, "pg_hba.conf"},
      {"",
       "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  role \"nobody\" "
       "does not exist",
       StatusCode::kFailedPrecondition, "PostgreSQL refused the login"},
      {"",
       "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  database \"nodb\" "
       "does not exist",
       StatusCode::kFailedPrecondition, "correct the database"},
      {"",
       "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  must be "
       "superuser or replication role to start walsender",
       StatusCode::kFailedPrecondition, "REPLICATION"},
      {"28P01", "password authentication failed", StatusCode::kFailedPrecondition, "password"},
      {"3D000", "database \"x\" does not exist", StatusCode::kFailedPrecondition, "database"},
      {"42P01", "relation \"nosuch\" does not exist", StatusCode::kFailedPrecondition,
       "create the table, or remove it from the source's tables:"},
      {"42704", "replication ended: ERROR:  publication \"p\" does not exist",
       StatusCode::kFailedPrecondition, "pg_drop_replication_slot('slot1')"},
      {"55000", "cannot read from logical replication slot \"s\"", StatusCode::kFailedPrecondition,
       "fix what it names"},
      {"", "connection to server at \"127.0.0.1\", port 5432 failed: Connection refused",
       StatusCode::kUnavailable, ""},
      {"57P01", "terminating connection due to administrator command", StatusCode::kUnavailable,
       ""},
      {"57P03", "the database system is starting up", StatusCode::kUnavailable, ""},
      {"53300", "sorry, too many clients already", StatusCode::kUnavailable, ""},
      {"55006", "replication slot \"s\" is active for PID 42", StatusCode::kUnavailable, ""},
  };
  for (const Case& c : cases) {
    INFO(c.sqlstate << " " << c.message);
    Status s = PgError(c.sqlstate, c.message, "slot1", "shop");
    CHECK(s.code() == c.code);
    CHECK_THAT(s.message(), Catch::StartsWith(c.message));
    if (c.code == StatusCode::kFailedPrecondition) {
      CHECK_THAT(s.message(), Catch::Contains(c.remedy) && Catch::EndsWith("then restart rivulet"));
    } else {
      CHECK(s.message() == c.message);
    }
  }
  CHECK(PgConnectError("cannot connect to PostgreSQL", "Connection refused").code() ==
        StatusCode::kUnavailable);
  Status missing_table = sources::PublicationNotCreated(
      "bench", "CREATE PUBLICATION ...", PgError("42P01", "relation \"nosuch\" does not exist"));
  CHECK(missing_table.code() == StatusCode::kFailedPrecondition);
  CHECK_THAT(missing_table.message(), Catch::Contains("create the table"));
}
