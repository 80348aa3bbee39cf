// Projections with `on_error: dead_letter`: an event whose key or operation fails is
// parked in the unit that moves the checkpoint past it; the rest is applied once; a
// retry applies it once through the copy's builder (SPEC 2.6, 4 `on_error`).
#include "eventstore/dead_letters.h"
#include "tests/projections/projection_fixture.h"
#include "tests/support/log_capture.h"

using namespace rivulet;
using namespace rivulet::testing;
using core::Json;
using projections::ProjectionEngine;
using std::chrono::milliseconds;

namespace {

// Sums data.amount per stream; an event whose amount is not a number fails `inc`.
const char* kTotals = R"({"name": "totals", "key": "${stream}", "on_error": "dead_letter",
    "on": {"Paid": {"inc": {"total": "${data.amount}", "count": 1}},
           "Fix": {"set": {"total": 0}}}})";

void Pay(eventstore::EventStore& store, const std::string& stream, Json amount,
         const std::string& type = "Paid") {
  eventstore::AppendRequest request;
  request.stream = stream;
  eventstore::EventData e;
  e.type = type;
  e.data = Json{{"amount", std::move(amount)}};
  request.events.push_back(std::move(e));
  REQUIRE(store.Append(request).ok());
}

std::vector<eventstore::DeadLetter> Letters(eventstore::EventStore& store) {
  auto letters = eventstore::DeadLetters::List(store, {"projection", "totals", 0, 100});
  REQUIRE(letters.ok());
  return *letters;
}

}  // namespace

TEST_CASE("projection dead letters: a bad event mid-batch is parked, the rest applied once",
          "[projections][dead_letters]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  Pay(*store, "a", 1);         // 1
  Pay(*store, "a", "twelve");  // 2: inc of a string fails
  Pay(*store, "b", 5);         // 3
  Pay(*store, "a", 2);         // 4
  {
    ProjectionEngine engine(*store, {Projection(kTotals)}, {});
    REQUIRE(engine.Start().ok());
    auto status = WaitForLive(engine, "totals", 4);
    CHECK(status.state == "running");
    CHECK(Doc(*store, "totals", "a")["total"] == 3);
    CHECK(Doc(*store, "totals", "a")["count"] == 2);
    CHECK(Doc(*store, "totals", "b")["total"] == 5);

    auto letters = Letters(*store);
    REQUIRE(letters.size() == 1);
    CHECK(letters[0].position == 2);
    CHECK(letters[0].generation == 1);
    CHECK(letters[0].payload["data"]["amount"] == "twelve");
    CHECK(letters[0].payload["stream"] == "a");
    CHECK_THAT(letters[0].error, Catch::Contains("inc.total"));

    auto components = engine.Components();
    REQUIRE(components.size() == 1);
    CHECK(components[0].health == core::ComponentHealth::kOk);  // readiness adds the letters
  }
  // A restart applies nothing twice and parks nothing again.
  ProjectionEngine engine(*store, {Projection(kTotals)}, {});
  REQUIRE(engine.Start().ok());
  Pay(*store, "b", 1);  // 5
  WaitForLive(engine, "totals", 5);
  CHECK(Doc(*store, "totals", "a")["total"] == 3);
  CHECK(Doc(*store, "totals", "b")["total"] == 6);
  CHECK(Letters(*store).size() == 1);
}

TEST_CASE("projection dead letters: retry applies once when it can, counts a failed attempt",
          "[projections][dead_letters]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  // The document's state makes the event fail: total holds a string until "Fix".
  const char* strict = R"({"name": "totals", "key": "${stream}", "on_error": "dead_letter",
      "on": {"Paid": {"inc": {"total": "${data.amount}"}},
             "Text": {"set": {"total": "${data.amount}"}},
             "Fix": {"set": {"total": 100}}}})";
  Pay(*store, "a", "n/a", "Text");  // 1: total = "n/a"
  Pay(*store, "a", 5);              // 2: inc on a string fails
  ProjectionEngine engine(*store, {Projection(strict)}, {});
  REQUIRE(engine.Start().ok());
  WaitForLive(engine, "totals", 2);
  auto letters = Letters(*store);
  REQUIRE(letters.size() == 1);
  const int64_t id = letters[0].id;

  // Still failing: the letter stays, its attempts counted.
  Status still = engine.RetryDeadLetter(id, std::chrono::seconds(30));
  CHECK(still.code() == StatusCode::kAborted);
  CHECK_THAT(still.message(), Catch::Contains("still fails"));
  letters = Letters(*store);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].attempts == 2);
  CHECK_FALSE(letters[0].retry_requested);

  Pay(*store, "a", 0, "Fix");  // 3: total = 100
  WaitForLive(engine, "totals", 3);
  Status applied = engine.RetryDeadLetter(id, std::chrono::seconds(30));
  INFO(applied);
  REQUIRE(applied.ok());
  Json doc = Doc(*store, "totals", "a");
  CHECK(doc["total"] == 105);
  CHECK(doc["_position"] == 3);  // a late event does not move the document back
  CHECK(Letters(*store).empty());
  CHECK(engine.RetryDeadLetter(id, std::chrono::seconds(1)).code() == StatusCode::kNotFound);
  CHECK(Doc(*store, "totals", "a")["total"] == 105);

  // A letter that does not exist.
  Status wrong = engine.RetryDeadLetter(987654, milliseconds(10));
  CHECK(wrong.code() == StatusCode::kNotFound);
}

TEST_CASE("projection dead letters: a retry runs here when no process builds the copy",
          "[projections][dead_letters]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  const char* strict = R"({"name": "totals", "key": "${stream}", "on_error": "dead_letter",
      "on": {"Paid": {"inc": {"total": "${data.amount}"}},
             "Text": {"set": {"total": "${data.amount}"}},
             "Fix": {"set": {"total": 100}}}})";
  Pay(*store, "a", "n/a", "Text");
  Pay(*store, "a", 5);
  Pay(*store, "a", 0, "Fix");
  {
    ProjectionEngine engine(*store, {Projection(strict)}, {});
    REQUIRE(engine.Start().ok());
    WaitForLive(engine, "totals", 3);
  }  // stopped: the copy's lease is released
  REQUIRE(Letters(*store).size() == 1);
  // A CLI-like engine that runs no builders.
  ProjectionEngine cli(*store, {Projection(strict)}, {});
  REQUIRE(cli.Start(/*run_builders=*/false).ok());
  Status applied = cli.RetryDeadLetter(Letters(*store)[0].id, std::chrono::seconds(30));
  INFO(applied);
  REQUIRE(applied.ok());
  CHECK(Doc(*store, "totals", "a")["total"] == 105);
  CHECK(Letters(*store).empty());
}

TEST_CASE(
    "projection dead letters: a copy stopped under on_error: stop goes on once the config "
    "parks",
    "[projections][dead_letters]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  Pay(*store, "a", 1);
  Pay(*store, "a", "bad");
  Pay(*store, "a", 2);
  const std::string stopping =
      R"({"name": "totals", "key": "${stream}", "on": {"Paid": {"inc": {"total": "${data.amount}"}}}})";
  std::string parking = stopping;
  parking.insert(1, R"("on_error": "dead_letter", )");
  {
    ProjectionEngine engine(*store, {Projection(stopping)}, {});
    REQUIRE(engine.Start().ok());
    auto status = WaitForLive(engine, "totals", 3);
    CHECK(status.state == "failed");
    CHECK(status.failed_position == 2);
    auto components = engine.Components();
    CHECK(components[0].health == core::ComponentHealth::kStopped);
    CHECK_THAT(components[0].detail, Catch::Contains("position 2"));
  }
  // on_error is not part of what the copy is built with: no rebuild, the same copy goes on.
  CHECK(Projection(stopping).hash == Projection(parking).hash);
  ProjectionEngine engine(*store, {Projection(parking)}, {});
  REQUIRE(engine.Start().ok());
  projections::ProjectionStatus status;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  do {  // reported failed until the supervisor lets the copy go on
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(20));
    status = engine.Describe("totals").value();
  } while (status.state != "running" || status.position < 3);
  CHECK(status.generation == 1);
  CHECK(Doc(*store, "totals", "a")["total"] == 3);
  auto letters = Letters(*store);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].position == 2);
}

TEST_CASE("projection log: a copy that stops is said once, and once when it goes on",
          "[projections][dead_letters][log]") {
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  LogCapture log;  // outlives the engines' threads
  Pay(*store, "a", 1);
  Pay(*store, "a", "bad");
  Pay(*store, "a", 2);
  const std::string stopping =
      R"({"name": "totals", "key": "${stream}", "on": {"Paid": {"inc": {"total": "${data.amount}"}}}})";
  std::string parking = stopping;
  parking.insert(1, R"("on_error": "dead_letter", )");
  auto said = [&](const std::string& text, const std::string& level) {
    int n = 0;
    for (const Json& r : log.Matching("projection/totals", text)) n += r["level"] == level;
    return n;
  };
  {
    ProjectionEngine engine(*store, {Projection(stopping)}, {});
    REQUIRE(engine.Start().ok());
    CHECK(WaitForLive(engine, "totals", 3).state == "failed");
    std::this_thread::sleep_for(milliseconds(2500));  // the supervisor looks every second
  }
  INFO(log.Text());
  CHECK(said("generation 1 stopped at position 2", "error") == 1);
  ProjectionEngine engine(*store, {Projection(parking)}, {});
  REQUIRE(engine.Start().ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (said("no longer stopped", "info") == 0) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(20));
  }
  std::this_thread::sleep_for(milliseconds(2500));
  engine.Stop();
  CHECK(said("no longer stopped", "info") == 1);
  // This engine saw the copy stopped once before parking let it go on: it says so too.
  CHECK(said("generation 1 stopped at position 2", "error") == 2);
}

TEST_CASE("projection dead letters: a rebuild parks its own, the swap drops the old copy's",
          "[projections][dead_letters]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  Pay(*store, "a", 1);
  Pay(*store, "a", "bad");
  ProjectionEngine engine(*store, {Projection(kTotals)}, {});
  REQUIRE(engine.Start().ok());
  WaitForLive(engine, "totals", 2);
  REQUIRE(Letters(*store).size() == 1);
  CHECK(Letters(*store)[0].generation == 1);
  REQUIRE(engine.Rebuild("totals").ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    auto s = engine.Describe("totals");
    REQUIRE(s.ok());
    if (s->generation == 2 && s->state == "running") break;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(10));
  }
  auto letters = Letters(*store);
  REQUIRE(letters.size() == 1);  // not two: one per copy, and the old copy is gone
  CHECK(letters[0].generation == 2);
  CHECK(letters[0].position == 2);
}

TEST_CASE(
    "projection dead letters: retries cut short by a failed read are not stored without "
    "their letters",
    "[projections][dead_letters]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  const char* strict = R"({"name": "totals", "key": "${stream}", "on_error": "dead_letter",
      "on": {"Paid": {"inc": {"total": "${data.amount}"}},
             "Text": {"set": {"total": "${data.amount}"}},
             "Fix": {"set": {"total": 100}}}})";
  for (const char* stream : {"a", "b"}) {
    Pay(*store, stream, "n/a", "Text");
    Pay(*store, stream, 5);  // parked: total holds text
    Pay(*store, stream, 0, "Fix");
  }
  {
    ProjectionEngine engine(*store, {Projection(strict)}, {});
    REQUIRE(engine.Start().ok());
    WaitForLive(engine, "totals", 6);
  }
  auto letters = Letters(*store);
  REQUIRE(letters.size() == 2);  // a's first, then b's
  // b's stored document cannot be read back: the second retry's read fails after the
  // first was applied in memory.
  auto write = [&](const std::string& sql) {
    REQUIRE(store->Write([&](eventstore::Transaction& tx) { return tx.Execute(sql, {}); }).ok());
  };
  write(R"(UPDATE "proj_totals" SET doc = '{broken' WHERE key = 'b')");
  for (const auto& letter : letters) {
    REQUIRE(store
                ->Write([&](eventstore::Transaction& tx) -> Status {
                  return eventstore::DeadLetters::RequestRetry(tx, letter.id).status();
                })
                .ok());
  }
  ProjectionEngine engine(*store, {Projection(strict)}, {});
  REQUIRE(engine.Start().ok());
  // The builder tries every 2 s and commits its checkpoint every second meanwhile; with
  // the retry of a left in memory, one of those commits would store it.
  std::this_thread::sleep_for(std::chrono::seconds(5));
  CHECK(Doc(*store, "totals", "a")["total"] == 100);
  REQUIRE(Letters(*store).size() == 2);
  write(R"(UPDATE "proj_totals" SET doc = '{"total": 100, "_key": "b", "_version": 2,
           "_position": 6}' WHERE key = 'b')");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!Letters(*store).empty()) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(50));
  }
  CHECK(Doc(*store, "totals", "a")["total"] == 105);  // once, not twice
  CHECK(Doc(*store, "totals", "b")["total"] == 105);
}

TEST_CASE("projection dead letters: the engine refuses a source's letter",
          "[projections][dead_letters]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  ProjectionEngine engine(*store, {Projection(kTotals)}, {});
  REQUIRE(engine.Start(/*run_builders=*/false).ok());
  int64_t id = 0;
  REQUIRE(store
              ->Write([&](eventstore::Transaction& tx) -> Status {
                eventstore::DeadLetter letter;
                letter.kind = "source";
                letter.component = "api";
                letter.position = "x";
                letter.payload = Json::object();
                letter.error = "mapping failed";
                auto added = eventstore::DeadLetters::Add(tx, letter);
                if (!added.ok()) return added.status();
                id = *added;
                return Status::Ok();
              })
              .ok());
  Status refused = engine.RetryDeadLetter(id, milliseconds(10));
  CHECK(refused.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(refused.message(), Catch::Contains("not to a projection"));
  CHECK(Letters(*store).empty());  // the projection's own list
  auto all = eventstore::DeadLetters::List(*store, {});
  REQUIRE(all.ok());
  CHECK(all->size() == 1);  // untouched
  CHECK_FALSE((*all)[0].retry_requested);
}
