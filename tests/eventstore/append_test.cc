#include <sqlite3.h>

#include <catch2/catch.hpp>

#include "core/clock.h"
#include "core/metrics.h"
#include "core/status_macros.h"
#include "eventstore/sqlite/sqlite_event_store.h"
#include "tests/support/test_store.h"

using namespace rivulet;
using namespace rivulet::eventstore;
using rivulet::testing::MakeAppend;
using rivulet::testing::OpenTestStore;
using rivulet::testing::StoreBackends;
using rivulet::testing::TempDir;

namespace {

int64_t StreamLength(EventStore& store, const std::string& stream) {
  auto slice = store.ReadStream({stream, false, 0, 100'000});
  return slice.ok() ? static_cast<int64_t>(slice->events.size()) : 0;
}

EventData Event(const std::string& id, const std::string& type = "T") {
  EventData e;
  e.id = id;
  e.type = type;
  return e;
}

}  // namespace

TEST_CASE("appends assign stream versions and global positions", "[append]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  auto a = store->Append(MakeAppend("order-1", 3));
  REQUIRE(a.ok());
  CHECK(a->stream == "order-1");
  CHECK(a->first_version == 0);
  CHECK(a->last_version == 2);
  CHECK(a->position == 3);
  auto b = store->Append(MakeAppend("order-2", 2));
  REQUIRE(b.ok());
  CHECK(b->first_version == 0);
  CHECK(b->position == 5);
  auto c = store->Append(MakeAppend("order-1", 1));
  REQUIRE(c.ok());
  CHECK(c->first_version == 3);
  CHECK(c->position == 6);
  CHECK(store->HeadPosition() == 6);

  auto slice = store->ReadStream({"order-1", false, 0, 100});
  REQUIRE(slice.ok());
  REQUIRE(slice->events.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(slice->events[i].version == static_cast<int64_t>(i));
    CHECK(slice->events[i].type == "Tested");
    CHECK(core::Json::parse(slice->events[i].metadata) == core::Json::object());
    CHECK(slice->events[i].id.version() == 7);
  }
  CHECK(core::Json::parse(slice->events[1].data) == core::Json{{"n", 1}});
}

TEST_CASE("every expected-version mode accepts and refuses as documented",
          "[append][concurrency]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  REQUIRE(store->Append(MakeAppend("existing", 3)).ok());  // at version 2

  struct Case {
    const char* stream;
    ExpectedVersion expected;
    bool ok;
    core::Json actual;  // on conflict
  };
  const Case cases[] = {
      {"missing", ExpectedVersion::StreamExists(), false, "no_stream"},
      {"existing", ExpectedVersion::NoStream(), false, 2},
      {"existing", ExpectedVersion::Exact(1), false, 2},
      {"existing", ExpectedVersion::Exact(3), false, 2},
      {"missing", ExpectedVersion::Exact(0), false, "no_stream"},
      {"existing", ExpectedVersion::Any(), true, nullptr},
      {"existing", ExpectedVersion::StreamExists(), true, nullptr},
      {"existing", ExpectedVersion::Exact(4), true, nullptr},
      {"fresh-1", ExpectedVersion::Any(), true, nullptr},
      {"fresh-2", ExpectedVersion::NoStream(), true, nullptr},
  };
  for (const Case& c : cases) {
    INFO(c.stream << " expected " << c.expected.ToString());
    int64_t head = store->HeadPosition();
    auto result = store->Append(MakeAppend(c.stream, 1, c.expected));
    if (c.ok) {
      REQUIRE(result.ok());
      CHECK(result->position == head + 1);
      continue;
    }
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().code() == StatusCode::kAborted);
    CHECK(result.status().reason() == "wrong_expected_version");
    CHECK(result.status().details()["expected"] == c.expected.ToJson());
    CHECK(result.status().details()["actual"] == c.actual);
    CHECK_THAT(result.status().message(),
               Catch::Contains("expected version " + c.expected.ToString()));
    CHECK(store->HeadPosition() == head);  // a conflict writes nothing
  }
  CHECK(StreamLength(*store, "existing") == 6);
}

TEST_CASE("re-sending an append with the same ids returns the original result and writes nothing",
          "[append][idempotency]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  REQUIRE(store->Append(MakeAppend("order-7", 2)).ok());

  AppendRequest request;
  request.stream = "order-7";
  request.expected = ExpectedVersion::Exact(1);
  request.events = {Event("5f0c6f5e-4f5b-4e3a-9d3c-1b2a3c4d5e6f"),
                    Event("6f0c6f5e-4f5b-4e3a-9d3c-1b2a3c4d5e6f")};
  auto first = store->Append(request);
  REQUIRE(first.ok());
  CHECK_FALSE(first->deduplicated);
  int64_t head = store->HeadPosition();

  SECTION("the same request again") {
    auto again = store->Append(request);
    REQUIRE(again.ok());
    CHECK(again->deduplicated);
    CHECK(again->first_version == first->first_version);
    CHECK(again->last_version == first->last_version);
    CHECK(again->position == first->position);
  }
  SECTION("with expected version any") {
    request.expected = ExpectedVersion::Any();
    auto again = store->Append(request);
    REQUIRE(again.ok());
    CHECK(again->deduplicated);
    CHECK(again->position == first->position);
  }
  SECTION("after other events were appended") {
    REQUIRE(store->Append(MakeAppend("order-7", 1)).ok());
    head = store->HeadPosition();
    auto again = store->Append(request);
    REQUIRE(again.ok());
    CHECK(again->deduplicated);
    CHECK(again->position == first->position);
  }
  SECTION("after a restart") {
    store.reset();
    store = OpenTestStore(backend, dir);
    auto again = store->Append(request);
    REQUIRE(again.ok());
    CHECK(again->deduplicated);
  }
  CHECK(store->HeadPosition() == head);
  CHECK(StreamLength(*store, "order-7") == 4 + (head > 4 ? 1 : 0));
}

TEST_CASE("any other reuse of an event id is a conflict", "[append][idempotency]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  const std::string id1 = "11111111-1111-4111-8111-111111111111";
  const std::string id2 = "22222222-2222-4222-8222-222222222222";
  const std::string id3 = "33333333-3333-4333-8333-333333333333";
  AppendRequest original;
  original.stream = "a";
  original.events = {Event(id1), Event(id2)};
  REQUIRE(store->Append(original).ok());
  int64_t head = store->HeadPosition();

  std::vector<AppendRequest> reuses;
  {
    AppendRequest other_stream;  // same ids, another stream
    other_stream.stream = "b";
    other_stream.events = {Event(id1), Event(id2)};
    reuses.push_back(other_stream);
    AppendRequest partial;  // one stored id, one new, in the same stream
    partial.stream = "a";
    partial.events = {Event(id1), Event(id3)};
    reuses.push_back(partial);
    AppendRequest second_only;  // a new id first, then a stored one
    second_only.stream = "a";
    second_only.events = {Event(id3), Event(id2)};
    reuses.push_back(second_only);
    AppendRequest reordered;  // both stored, other order
    reordered.stream = "a";
    reordered.events = {Event(id2), Event(id1)};
    reuses.push_back(reordered);
    AppendRequest wrong_version;  // stored at 0..1, but claims to follow version 5
    wrong_version.stream = "a";
    wrong_version.expected = ExpectedVersion::Exact(5);
    wrong_version.events = {Event(id1), Event(id2)};
    reuses.push_back(wrong_version);
  }
  for (const auto& request : reuses) {
    INFO("stream " << request.stream << ", first id " << request.events[0].id);
    auto result = store->Append(request);
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().code() == StatusCode::kAborted);
    CHECK(result.status().reason() == "conflict");
    CHECK_THAT(result.status().message(), Catch::Contains("is already stored in stream a"));
    CHECK(store->HeadPosition() == head);
  }
  CHECK(StreamLength(*store, "a") == 2);
  CHECK_FALSE(store->ReadStream({"b", false, 0, 10}).ok());
}

TEST_CASE("invalid appends are refused with the field named and write nothing",
          "[append][bad-input]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  REQUIRE(store->Append(MakeAppend("seed", 1)).ok());

  struct Case {
    const char* what;
    AppendRequest request;
    const char* message;
  };
  std::vector<Case> cases;
  auto with = [&](const char* what, auto mutate, const char* message) {
    AppendRequest r = MakeAppend("ok-stream", 2);
    mutate(r);
    cases.push_back({what, std::move(r), message});
  };
  with(
      "empty stream name", [](AppendRequest& r) { r.stream = ""; }, "stream name is empty");
  with(
      "long stream name", [](AppendRequest& r) { r.stream = std::string(257, 'x'); },
      "the limit is 256");
  with(
      "slash", [](AppendRequest& r) { r.stream = "a/b"; }, "contains '/'");
  with(
      "control character", [](AppendRequest& r) { r.stream = "a\nb"; }, "control character");
  with(
      "invalid UTF-8", [](AppendRequest& r) { r.stream = "a\xff"; }, "not valid UTF-8");
  with(
      "reserved", [](AppendRequest& r) { r.stream = "$saga-x-1"; }, "reserved for the runtime");
  with(
      "no events", [](AppendRequest& r) { r.events.clear(); }, "at least one event");
  with(
      "too many events", [](AppendRequest& r) { r.events.resize(10'001, r.events[0]); },
      "the limit is 10000");
  with(
      "empty type", [](AppendRequest& r) { r.events[1].type = ""; },
      "events[1].type: event type is empty");
  with(
      "data not an object", [](AppendRequest& r) { r.events[0].data = core::Json::array(); },
      "events[0].data: expected an object, got array");
  with(
      "metadata not an object", [](AppendRequest& r) { r.events[1].metadata = 5; },
      "events[1].metadata: expected an object, got number");
  with(
      "bad id", [](AppendRequest& r) { r.events[0].id = "not-a-uuid"; },
      "events[0].id: expected a UUID");
  with(
      "duplicate ids",
      [](AppendRequest& r) {
        r.events[0].id = "44444444-4444-4444-8444-444444444444";
        r.events[1].id = "44444444-4444-4444-8444-444444444444";
      },
      "appears twice in this append");

  for (const Case& c : cases) {
    INFO(c.what);
    auto result = store->Append(c.request);
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().code() == StatusCode::kInvalidArgument);
    CHECK_THAT(result.status().message(), Catch::Contains(c.message));
  }
  CHECK(store->HeadPosition() == 1);

  AppendRequest runtime = MakeAppend("$saga-order_fulfillment-42", 1);
  runtime.allow_reserved_stream = true;
  CHECK(store->Append(runtime).ok());
}

TEST_CASE("recorded_at is the commit time and never goes backwards", "[append]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  core::ManualClock clock(core::TimePoint(std::chrono::milliseconds(1'800'000'000'000)));
  testing::TestStoreOptions options;
  options.clock = &clock;
  auto store = OpenTestStore(backend, dir, options);
  REQUIRE(store->Append(MakeAppend("t", 1)).ok());
  clock.Advance(std::chrono::milliseconds(-60'000));  // the wall clock steps back a minute
  REQUIRE(store->Append(MakeAppend("t", 1)).ok());
  clock.Advance(std::chrono::milliseconds(120'000));
  REQUIRE(store->Append(MakeAppend("t", 1)).ok());
  auto slice = store->ReadStream({"t", false, 0, 10});
  REQUIRE(slice.ok());
  CHECK(slice->events[0].recorded_at == 1'800'000'000'000);
  CHECK(slice->events[1].recorded_at == 1'800'000'000'000);
  CHECK(slice->events[2].recorded_at == 1'800'000'060'000);
  CHECK(slice->events[0].ToJson()["recorded_at"] == "2027-01-15T08:00:00.000Z");
}

TEST_CASE("the events table is append-only even to raw SQL", "[append][sqlite]") {
  TempDir dir;
  {
    auto store = OpenTestStore("sqlite", dir);
    REQUIRE(store->Append(MakeAppend("t", 2)).ok());
  }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(testing::SqlitePath(dir).c_str(), &db) == SQLITE_OK);
  char* error = nullptr;
  CHECK(sqlite3_exec(db, "UPDATE events SET type = 'X'", nullptr, nullptr, &error) != SQLITE_OK);
  CHECK_THAT(std::string(error ? error : ""), Catch::Contains("append-only"));
  sqlite3_free(error);
  error = nullptr;
  CHECK(sqlite3_exec(db, "DELETE FROM events", nullptr, nullptr, &error) != SQLITE_OK);
  CHECK_THAT(std::string(error ? error : ""), Catch::Contains("append-only"));
  sqlite3_free(error);
  sqlite3_close(db);
  auto store = OpenTestStore("sqlite", dir);
  CHECK(StreamLength(*store, "t") == 2);
}

TEST_CASE("the schema is versioned and a newer schema is refused", "[sqlite][migrations]") {
  TempDir dir;
  {
    auto store = OpenTestStore("sqlite", dir);
    auto rows = store->Query("SELECT component, version FROM schema_migrations", {});
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 1);
    CHECK(std::get<std::string>((*rows)[0][0]) == "eventstore");
    CHECK(std::get<int64_t>((*rows)[0][1]) == 1);
  }
  { auto again = OpenTestStore("sqlite", dir); }  // reopening applies nothing twice
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(testing::SqlitePath(dir).c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(
              db, "INSERT INTO schema_migrations VALUES ('eventstore', 99, 'from the future', 0)",
              nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  sqlite::SqliteStoreOptions options;
  options.path = testing::SqlitePath(dir);
  auto newer = sqlite::OpenSqliteEventStore(options);
  REQUIRE_FALSE(newer.ok());
  CHECK(newer.status().code() == StatusCode::kFailedPrecondition);
  CHECK_THAT(newer.status().message(), Catch::Contains("newer than this binary knows"));
}

TEST_CASE("append metrics count appends, events, conflicts and latency", "[append][metrics]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  core::MetricsRegistry metrics;
  testing::TestStoreOptions options;
  options.metrics = &metrics;
  auto store = OpenTestStore(backend, dir, options);
  REQUIRE(store->Append(MakeAppend("m", 3)).ok());
  REQUIRE_FALSE(store->Append(MakeAppend("m", 1, ExpectedVersion::NoStream())).ok());
  std::string text = metrics.RenderPrometheus();
  CHECK_THAT(text, Catch::Contains("rivulet_appends_total 1\n"));
  CHECK_THAT(text, Catch::Contains("rivulet_events_appended_total 3\n"));
  CHECK_THAT(text, Catch::Contains("rivulet_append_conflicts_total 1\n"));
  CHECK_THAT(text, Catch::Contains("rivulet_append_latency_seconds_count 1\n"));
  CHECK_THAT(text, Catch::Contains("rivulet_log_head_position 3\n"));
}

// Limits every path shares: the largest event, and the largest position.

namespace {

std::unique_ptr<EventStore> OpenLimited(const TempDir& dir, size_t max_event_bytes) {
  sqlite::SqliteStoreOptions options;
  options.path = testing::SqlitePath(dir);
  options.max_event_bytes = max_event_bytes;
  auto store = sqlite::OpenSqliteEventStore(options);
  REQUIRE(store.ok());
  return std::move(store).value();
}

RecordedEvent Recorded(int64_t position, const std::string& stream, int64_t version,
                       std::string data = "{}") {
  RecordedEvent e;
  e.position = position;
  e.stream = stream;
  e.version = version;
  e.id = core::Uuid::NewV4();
  e.type = "Imported";
  e.data = std::move(data);
  e.metadata = "{}";
  e.recorded_at = 1'700'000'000'000;
  return e;
}

}  // namespace

TEST_CASE(
    "an event larger than the store's limit is refused on every write path, nothing "
    "of its unit written",
    "[append][limits]") {
  TempDir dir;
  auto store = OpenLimited(dir, 2048);
  AppendRequest request = MakeAppend("big", 3);
  request.events[1].data["blob"] = std::string(3000, 'b');

  // Append: 413 over HTTP, the event named.
  auto refused = store->Append(request);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == StatusCode::kResourceExhausted);
  CHECK(refused.status().reason() == "too_large");
  CHECK(refused.status().details()["index"] == 1);
  CHECK(refused.status().details()["limit"] == 2048);
  CHECK_THAT(refused.status().message(), Catch::StartsWith("events[1]: the event is 30"));
  CHECK_THAT(refused.status().message(), Catch::Contains("up to 2KiB (server.max_body)"));

  // Inside a unit (sources, sagas): the unit rolls back with what it wrote before.
  Status unit = store->Write([&](Transaction& tx) -> Status {
    auto ok = tx.Append(MakeAppend("before", 1));
    if (!ok.ok()) return ok.status();
    return tx.Append(request).status();
  });
  CHECK(unit.code() == StatusCode::kResourceExhausted);

  // Import (restoring an export).
  Status imported = store->Write([&](Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Import(Recorded(1, "restored", 0)));
    return tx.Import(Recorded(2, "restored", 1, "{\"blob\":\"" + std::string(3000, 'b') + "\"}"));
  });
  CHECK(imported.code() == StatusCode::kResourceExhausted);
  CHECK_THAT(imported.message(), Catch::Contains("event at position 2"));

  CHECK(store->HeadPosition() == 0);
  for (const char* stream : {"big", "before", "restored"}) {
    CHECK(store->ReadStream({stream, false, 0, 10}).status().code() == StatusCode::kNotFound);
  }
  // At the limit exactly: accepted.
  AppendRequest fits = MakeAppend("fits", 1);
  fits.events[0].type = "T";
  fits.events[0].data = core::Json{{"b", std::string(2048 - 1 - 2 - 8, 'b')}};  // {"b":"..."}
  CHECK(store->Append(fits).ok());
}

TEST_CASE(
    "positions stay at or below 2^53 - 1: imports beyond it and appends past it are "
    "refused",
    "[append][limits]") {
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  for (int64_t beyond : {kMaxPosition + 1, (int64_t{1} << 62), INT64_MAX - 1}) {
    INFO(beyond);
    Status refused =
        store->Write([&](Transaction& tx) { return tx.Import(Recorded(beyond, "far", 0)); });
    CHECK(refused.code() == StatusCode::kResourceExhausted);
    CHECK_THAT(refused.message(), Catch::Contains("beyond the largest position 9007199254740991"));
  }
  CHECK(store->HeadPosition() == 0);

  // Up to the limit: fine, then the log is full.
  REQUIRE(
      store
          ->Write([&](Transaction& tx) { return tx.Import(Recorded(kMaxPosition - 1, "near", 0)); })
          .ok());
  auto last = store->Append(MakeAppend("near", 1));
  REQUIRE(last.ok());
  CHECK(last->position == kMaxPosition);
  auto full = store->Append(MakeAppend("near", 2));
  REQUIRE_FALSE(full.ok());
  CHECK(full.status().code() == StatusCode::kResourceExhausted);
  CHECK(full.status().reason() == "positions_exhausted");
  CHECK(store->ReadStream({"near", false, 0, 10})->events.size() == 2);
  CHECK(store->HeadPosition() == kMaxPosition);
}

TEST_CASE("a store whose log already passed 2^53 - 1 refuses writes at open", "[append][limits]") {
  TempDir dir;
  { OpenTestStore("sqlite", dir); }
  {
    // As an older binary's import left it.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(testing::SqlitePath(dir).c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db,
                         "INSERT INTO events VALUES (9223372036854775806, 'far', 0, "
                         "randomblob(16), 'T', '{}', '{}', 0)",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = OpenTestStore("sqlite", dir);
  CHECK(store->ReadStream({"far", false, 0, 10}).ok());
  auto refused = store->Append(MakeAppend("next", 1));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == StatusCode::kFailedPrecondition);
  CHECK_THAT(refused.status().message(), Catch::Contains("beyond the largest position"));
  CHECK(store->Health().code() == StatusCode::kFailedPrecondition);
}
