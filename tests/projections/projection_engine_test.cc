#include <atomic>
#include <map>

#include "projections/projection_tables.h"
#include "tests/projections/projection_fixture.h"

using namespace rivulet;
using namespace rivulet::testing;
using projections::ProjectionEngine;
using std::chrono::milliseconds;

namespace {
int64_t Sum(eventstore::EventStore& store, const std::string& name, const char* field, int streams,
            const std::string& prefix = "s-") {
  int64_t total = 0;
  for (int s = 0; s < streams; ++s) {
    core::Json doc = Doc(store, name, prefix + std::to_string(s));
    if (doc.is_object() && doc.contains(field)) total += doc[field].get<int64_t>();
  }
  return total;
}
}  // namespace

TEST_CASE("a projection folds the log into documents and follows live appends",
          "[projections][engine]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  AppendMany(*store, 300, 10);
  ProjectionEngine engine(*store, {Projection(kCountPerStream)}, {});
  REQUIRE(engine.Start().ok());
  auto status = WaitForLive(engine, "counts", 300);
  CHECK(status.lag == 0);
  CHECK(status.generation == 1);
  core::Json doc = Doc(*store, "counts", "s-3");
  CHECK(doc["count"] == 30);
  CHECK(doc["_key"] == "s-3");
  CHECK(doc["_version"] == 30);
  CHECK(doc["_position"] == 294);  // the 30th event of s-3: n = 293
  CHECK(Sum(*store, "counts", "count", 10) == 300);

  AppendMany(*store, 50, 10);  // live appends, n = 0..49 again
  WaitForLive(engine, "counts", 350);
  CHECK(Sum(*store, "counts", "count", 10) == 350);
  CHECK(Sum(*store, "counts", "sum", 10) == 299 * 300 / 2 + 49 * 50 / 2);
}

TEST_CASE(
    "a failed projection stops at its event, the others keep running, a fixed definition restarts "
    "it",
    "[projections][engine]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  AppendMany(*store, 20, 2);
  REQUIRE(store->Append(testing::MakeAppend("s-0", 1, eventstore::ExpectedVersion::Any(), "Odd"))
              .ok());         // 21
  AppendMany(*store, 20, 2);  // 22..41
  const char* breaks =
      R"({"name": "strict", "key": "${stream}", "on": {"*": {"set": {"n": "${data.missing}"}}}})";
  const char* fixed =
      R"({"name": "strict", "key": "${stream}", "on": {"*": {"set": {"n": "${data.missing ?? 0}"}}}})";
  {
    ProjectionEngine engine(*store, {Projection(kCountPerStream), Projection(breaks)}, {});
    REQUIRE(engine.Start().ok());
    auto counts = WaitForLive(engine, "counts", 41);
    CHECK(counts.state == "running");
    auto strict = WaitForLive(engine, "strict", 41);
    CHECK(strict.state == "failed");
    CHECK(strict.failed_position == 1);
    CHECK(strict.position == 0);
    CHECK_THAT(strict.last_error,
               Catch::Contains("position 1 (s-0 v0, Tick): set.n: template \"${data.missing}\""));
    CHECK(Sum(*store, "counts", "count", 2) == 40);
    Status wait = engine.WaitForPosition("strict", 10, milliseconds(100));
    CHECK(wait.code() == StatusCode::kFailedPrecondition);
    CHECK_THAT(wait.message(), Catch::Contains("failed at position 1"));
  }
  ProjectionEngine engine(*store, {Projection(kCountPerStream), Projection(fixed)}, {});
  REQUIRE(engine.Start().ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  projections::ProjectionStatus strict;
  do {  // the failed copy answers until the rebuild with the fixed definition replaces it
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(20));
    auto status = engine.Describe("strict");
    REQUIRE(status.ok());
    strict = *status;
  } while (strict.generation != 2 || strict.state != "running" || strict.position < 41);
  CHECK_FALSE(strict.failed_position.has_value());
  CHECK(Doc(*store, "strict", "s-1")["n"] == 0);
}

TEST_CASE("a rebuild builds beside the live copy: readers never see a gap or a mix",
          "[projections][engine][rebuild]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  constexpr int kEvents = 20'000, kStreams = 50;
  AppendMany(*store, kEvents, kStreams);
  ProjectionEngine engine(*store, {Projection(kCountPerStream)}, {});
  REQUIRE(engine.Start().ok());
  WaitForLive(engine, "counts", kEvents);

  // Readers: every answer must be the complete live copy, never the half-built one.
  std::atomic<bool> stop{false};
  std::atomic<int> queries{0}, bad{0};
  std::thread reader([&] {
    while (!stop.load()) {
      projections::QueryRequest all;
      all.limit = 1000;
      auto page = projections::QueryProjection(*store, "counts", {"count"}, all);
      int64_t total = 0;
      if (page.ok()) {
        for (const auto& item : page->items)
          total += core::Json::parse(item)["count"].get<int64_t>();
      }
      auto one = projections::GetDocument(*store, "counts", "s-7");
      if (!page.ok() || page->items.size() != kStreams || total != kEvents || !one.ok() || !*one)
        bad.fetch_add(1);
      queries.fetch_add(1);
    }
  });
  auto rebuilding = engine.Rebuild("counts");
  REQUIRE(rebuilding.ok());
  CHECK(rebuilding->state == "rebuilding");
  CHECK(engine.Rebuild("counts").status().reason() == "conflict");  // one at a time
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    auto s = engine.Describe("counts");
    REQUIRE(s.ok());
    if (s->generation == 2 && s->state == "running") break;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(10));
  }
  stop.store(true);
  reader.join();
  CHECK(queries.load() > 0);
  CHECK(bad.load() == 0);
  CHECK(Sum(*store, "counts", "count", kStreams) == kEvents);
  AppendMany(*store, 10, kStreams);
  WaitForLive(engine, "counts", kEvents + 10);  // the new copy follows the log
  CHECK(Sum(*store, "counts", "count", kStreams) == kEvents + 10);
}

TEST_CASE("planner statistics are gathered as a table grows and move with a swap",
          "[projections][engine][rebuild]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  // sqlite_stat1 rows of a table: index name -> "rows ...".
  auto stats = [&](const std::string& table) {
    std::map<std::string, std::string> out;
    auto rows = store->Query("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = $1", {table});
    REQUIRE(rows.ok());
    for (const auto& row : *rows)
      out[std::get<std::string>(row[0])] = std::get<std::string>(row[1]);
    return out;
  };
  auto rows_of = [](const std::string& stat) { return stat.substr(0, stat.find(' ')); };

  AppendMany(*store, 3000, 3000);  // 3,000 documents
  ProjectionEngine engine(*store, {Projection(kCountPerStream)}, {});
  REQUIRE(engine.Start().ok());
  WaitForLive(engine, "counts", 3000);
  auto first = stats("proj_counts");
  REQUIRE_FALSE(first.empty());
  for (const auto& [index, stat] : first) CHECK(rows_of(stat) == "3000");

  AppendMany(*store, 1000, 1000, "Tick", "t-");  // +1/3: not yet worth another ANALYZE
  WaitForLive(engine, "counts", 4000);
  for (const auto& [index, stat] : stats("proj_counts")) CHECK(rows_of(stat) == "3000");
  AppendMany(*store, 1000, 1000, "Tick", "u-");  // 5,000 >= 3,000 * 1.5
  WaitForLive(engine, "counts", 5000);
  for (const auto& [index, stat] : stats("proj_counts")) {
    CHECK(std::stoi(rows_of(stat)) >= 4500);  // the builder may see the appends in parts
  }

  REQUIRE(engine.Rebuild("counts").ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (engine.Describe("counts")->generation != 2 ||
         engine.Describe("counts")->state != "running") {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(10));
  }
  auto swapped = stats("proj_counts");
  CHECK(swapped.size() == first.size());  // the old copy's rows are gone, not doubled
  for (const auto& [index, stat] : swapped) {
    CHECK(index.find("proj_counts$g2") == 0);  // the rebuilt copy's indexes
    CHECK(rows_of(stat) == "5000");
  }
  CHECK(stats("proj_counts$g2").empty());
}

TEST_CASE("a changed definition rebuilds on start while the old copy keeps following the log",
          "[projections][engine][rebuild]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  AppendMany(*store, 100, 5);
  {
    ProjectionEngine v1(*store, {Projection(kCountPerStream)}, {});
    REQUIRE(v1.Start().ok());
    WaitForLive(v1, "counts", 100);
  }
  AppendMany(*store, 100, 5);
  const char* v2 = R"({"name": "counts", "key": "${stream}",
                       "on": {"Tick": {"inc": {"count": 1}, "max": {"top": "${data.n}"}}}, "indexes": ["top"]})";
  ProjectionEngine engine(*store, {Projection(v2)}, {});
  REQUIRE(engine.Start().ok());
  auto status = WaitForLive(engine, "counts", 200);
  CHECK(status.generation == 2);
  CHECK(status.definition_current);
  core::Json doc = Doc(*store, "counts", "s-4");
  CHECK(doc["count"] == 40);
  CHECK(doc["top"] == 99);
  CHECK_FALSE(doc.contains("sum"));
  auto indexes = engine.LiveIndexes("counts");
  REQUIRE(indexes.ok());
  CHECK(*indexes == std::vector<std::string>{"top"});
}

TEST_CASE("min_position waits for the projection, and times out", "[projections][engine]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  AppendMany(*store, 10, 2);
  ProjectionEngine engine(*store, {Projection(kCountPerStream)}, {});
  REQUIRE(engine.Start().ok());
  REQUIRE(engine.WaitForPosition("counts", 10, std::chrono::seconds(30)).ok());

  auto started = std::chrono::steady_clock::now();
  Status late = engine.WaitForPosition("counts", 15, milliseconds(200));
  CHECK(late.code() == StatusCode::kDeadlineExceeded);
  CHECK_THAT(late.message(), Catch::Contains("not yet at 15"));
  CHECK(std::chrono::steady_clock::now() - started >= milliseconds(200));

  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(100));
    AppendMany(*store, 5, 2);
  });
  Status reached = engine.WaitForPosition("counts", 15, std::chrono::seconds(30));
  writer.join();
  CHECK(reached.ok());
  CHECK(Sum(*store, "counts", "count", 2) == 15);
  CHECK(engine.WaitForPosition("nope", 1, milliseconds(1)).code() == StatusCode::kNotFound);
}

TEST_CASE("two engines on one store apply every event exactly once, and hand over",
          "[projections][engine][leases]") {
  TempDir dir;
  auto store_a = OpenTestStore("sqlite", dir);
  auto store_b = OpenTestStore("sqlite", dir);  // as another process would
  ProjectionEngine::Options a_options, b_options;
  a_options.lease_ms = 500;
  b_options.lease_ms = 500;
  auto a = std::make_unique<ProjectionEngine>(
      *store_a, std::vector<projections::ProjectionDefinition>{Projection(kCountPerStream)},
      a_options);
  ProjectionEngine b(*store_b, {Projection(kCountPerStream)}, b_options);
  REQUIRE(a->Start().ok());
  REQUIRE(b.Start().ok());
  for (int round = 0; round < 5; ++round) AppendMany(*store_a, 200, 8);
  WaitForLive(b, "counts", 1000);
  CHECK(Sum(*store_a, "counts", "count", 8) == 1000);

  a.reset();  // A stops (its lease is released); B carries on alone
  AppendMany(*store_b, 200, 8);
  WaitForLive(b, "counts", 1200);
  CHECK(Sum(*store_b, "counts", "count", 8) == 1200);
}

TEST_CASE("replay builds a new copy while another engine runs the live one",
          "[projections][engine][replay]") {
  TempDir dir;
  auto server_store = OpenTestStore("sqlite", dir);
  auto cli_store = OpenTestStore("sqlite", dir);
  AppendMany(*server_store, 2000, 10);
  ProjectionEngine server(*server_store, {Projection(kCountPerStream)}, {});
  REQUIRE(server.Start().ok());
  WaitForLive(server, "counts", 2000);

  ProjectionEngine cli(*cli_store, {Projection(kCountPerStream)}, {});
  REQUIRE(cli.Start(/*run_builders=*/false).ok());
  int64_t last_progress = 0;
  auto replayed = cli.Replay(
      "counts", 0, std::nullopt, [&](int64_t p) { last_progress = p; }, [] { return false; });
  INFO(replayed.status());
  REQUIRE(replayed.ok());
  CHECK(replayed->generation == 2);
  CHECK(last_progress >= 2000);
  CHECK(Sum(*cli_store, "counts", "count", 10) == 2000);

  // The server notices the new copy and follows the log with it.
  AppendMany(*server_store, 100, 10);
  WaitForLive(server, "counts", 2100);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Sum(*server_store, "counts", "count", 10) != 2100) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(20));
  }
}

TEST_CASE("replay with --from and --to builds from a slice of the log",
          "[projections][engine][replay]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  AppendMany(*store, 100, 1);  // positions 1..100 in s-0, n = 0..99
  ProjectionEngine engine(*store, {Projection(kCountPerStream)}, {});
  REQUIRE(engine.Start(/*run_builders=*/false).ok());
  auto replayed = engine.Replay("counts", 10, 30, nullptr, [] { return false; });
  REQUIRE(replayed.ok());
  CHECK(replayed->position == 30);
  core::Json doc = Doc(*store, "counts", "s-0");
  CHECK(doc["count"] == 20);                // positions 11..30
  CHECK(doc["sum"] == (10 + 29) * 20 / 2);  // n = 10..29
  CHECK(engine.Replay("nope", 0, std::nullopt, nullptr, [] { return false; }).status().code() ==
        StatusCode::kNotFound);
}

namespace {
// Waits until `name`'s live copy is generation `generation`, running.
void WaitForGeneration(ProjectionEngine& engine, const std::string& name, int64_t generation) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    auto s = engine.Describe(name);
    REQUIRE(s.ok());
    if (s->generation == generation && s->state == "running" && !s->rebuild) return;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(10));
  }
}

std::vector<std::string> SchemaNames(eventstore::EventStore& store, const std::string& like) {
  auto rows = store.Query(
      "SELECT name FROM sqlite_schema WHERE name LIKE $1 ESCAPE '\\' ORDER BY name", {like});
  REQUIRE(rows.ok());
  std::vector<std::string> out;
  for (const auto& row : *rows) out.push_back(std::get<std::string>(row[0]));
  return out;
}

const char* kSeenPerAmount =
    R"({"name": "%s", "key": "k${data.amount}", "on": {"Tick": {"inc": {"seen": 1}}},
        "indexes": ["seen"]})";

projections::ProjectionDefinition SeenPerAmount(const std::string& name) {
  std::string json = kSeenPerAmount;
  json.replace(json.find("%s"), 2, name);
  return Projection(json);
}
}  // namespace

TEST_CASE("a projection named like another's rebuild copy keeps its table through the rebuild",
          "[projections][engine][rebuild][names]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  AppendMany(*store, 300, 10);
  std::string counts = kCountPerStream;
  counts.replace(counts.find("\"counts\""), 8, "\"a\"");
  ProjectionEngine engine(*store, {Projection(counts), SeenPerAmount("a__g2")}, {});
  REQUIRE(engine.Start().ok());
  CHECK(WaitForLive(engine, "a", 300).state == "running");
  CHECK(WaitForLive(engine, "a__g2", 300).state == "running");
  REQUIRE(engine.Rebuild("a").ok());  // generation 2 of a: once the table proj_a__g2
  WaitForGeneration(engine, "a", 2);
  AppendMany(*store, 10, 10, "Tick", "t-");
  CHECK(WaitForLive(engine, "a", 310).state == "running");
  auto other = WaitForLive(engine, "a__g2", 310);
  CHECK(other.state == "running");
  CHECK(other.generation == 1);
  CHECK(Sum(*store, "a", "count", 10) == 300);
  CHECK(Sum(*store, "a", "count", 10, "t-") == 10);
  // n = 0..299 and 0..9: amount n % 7 == 0 for 43 + 2 of them.
  CHECK(Doc(*store, "a__g2", "k0")["seen"] == 45);
  CHECK(Doc(*store, "a__g2", "k6")["seen"] == 42 + 1);
  CHECK(SchemaNames(*store, "proj\\_a%") ==
        std::vector<std::string>{"proj_a", "proj_a$g2$f_count", "proj_a$g2$structured",
                                 "proj_a__g2", "proj_a__g2$g1$f_seen", "proj_a__g2$g1$structured"});
}

TEST_CASE("objects named by earlier schemes give way without losing a row",
          "[projections][engine][names]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  AppendMany(*store, 100, 5);
  {
    ProjectionEngine engine(*store, {Projection(kCountPerStream)}, {});
    REQUIRE(engine.Start().ok());
    CHECK(WaitForLive(engine, "counts", 100).state == "running");
  }
  // A store from before names followed SPEC section 4: an index of counts named
  // proj_counts__i_count, and the table of a projection "Counts_x" (upper case was
  // allowed; SQLite sees proj_Counts_x and proj_counts_x as one name).
  REQUIRE(store
              ->Write([](eventstore::Transaction& tx) {
                return tx.ExecuteScript(
                    "CREATE INDEX IF NOT EXISTS \"proj_counts__i_count\" ON \"proj_counts\" "
                    "(\"f_count\", key);"
                    "CREATE TABLE \"proj_Counts_x\" (key TEXT PRIMARY KEY, doc TEXT);"
                    "INSERT INTO \"proj_Counts_x\" VALUES ('kept', '{}');");
              })
              .ok());
  ProjectionEngine engine(
      *store,
      {Projection(kCountPerStream), SeenPerAmount("counts__i_count"), SeenPerAmount("counts_x")},
      {});
  REQUIRE(engine.Start().ok());
  for (const char* name : {"counts", "counts__i_count", "counts_x"}) {
    INFO(name);
    CHECK(WaitForLive(engine, name, 100).state == "running");
  }
  CHECK(Sum(*store, "counts", "count", 5) == 100);
  CHECK(Doc(*store, "counts__i_count", "k0")["seen"] == 15);
  CHECK(Doc(*store, "counts_x", "k0")["seen"] == 15);
  auto kept = store->Query("SELECT key FROM \"proj_Counts_x$legacy\"", {});
  REQUIRE(kept.ok());
  REQUIRE(kept->size() == 1);
  CHECK(std::get<std::string>((*kept)[0][0]) == "kept");
  auto index = store->Query(
      "SELECT tbl_name FROM sqlite_schema WHERE name = 'proj_counts__i_count$legacy'", {});
  REQUIRE(index.ok());
  REQUIRE(index->size() == 1);
  CHECK(std::get<std::string>((*index)[0][0]) == "proj_counts");
}

TEST_CASE("a rebuild stopped under the earlier table names resumes under the current ones",
          "[projections][engine][rebuild][names]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  AppendMany(*store, 100, 5);
  {
    ProjectionEngine engine(*store, {Projection(kCountPerStream)}, {});
    REQUIRE(engine.Start().ok());
    CHECK(WaitForLive(engine, "counts", 100).state == "running");
  }
  // The state a rebuild left when stopped before names followed SPEC section 4: a
  // candidate row, its table called proj_counts__g2.
  auto rows = projections::ProjectionTables::Load(*store, "counts");
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  projections::Generation candidate = (*rows)[0];
  candidate.generation = 2;
  candidate.role = "candidate";
  candidate.position = 0;
  candidate.owner = "";
  candidate.lease_until = 0;
  REQUIRE(store
              ->Write([&](eventstore::Transaction& tx) -> Status {
                RETURN_IF_ERROR(projections::ProjectionTables::Create(tx, candidate, {"count"}, 1));
                return tx.ExecuteScript(
                    "ALTER TABLE \"proj_counts$g2\" RENAME TO \"proj_counts__g2\";");
              })
              .ok());
  // The table goes back to its name on start, and a projection named counts__g2 gets its own.
  ProjectionEngine engine(*store, {Projection(kCountPerStream), SeenPerAmount("counts__g2")}, {});
  REQUIRE(engine.Start().ok());
  WaitForGeneration(engine, "counts", 2);
  CHECK(WaitForLive(engine, "counts__g2", 100).state == "running");
  CHECK(Sum(*store, "counts", "count", 5) == 100);
  CHECK(Doc(*store, "counts__g2", "k0")["seen"] == 15);
}
