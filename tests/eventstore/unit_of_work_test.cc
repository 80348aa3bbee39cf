#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "core/metrics.h"
#include "core/status_macros.h"
#include "tests/support/test_store.h"

using namespace rivulet;
using namespace rivulet::eventstore;
using rivulet::testing::MakeAppend;
using rivulet::testing::OpenTestStore;
using rivulet::testing::StoreBackends;
using rivulet::testing::TempDir;
using std::chrono::milliseconds;

namespace {

const std::vector<Migration>& TestMigrations() {
  static const std::vector<Migration> migrations = {
      {1, "notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);"},
      {2, "notes.kind", "ALTER TABLE notes ADD COLUMN kind TEXT NOT NULL DEFAULT 'plain';"},
  };
  return migrations;
}

int64_t Count(EventStore& store, const std::string& sql) {
  auto rows = store.Query(sql, {});
  return rows.ok() ? std::get<int64_t>((*rows)[0][0]) : -1;
}

}  // namespace

TEST_CASE("a unit of work commits events and its own rows together", "[unit-of-work][atomicity]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  REQUIRE(store->ApplyMigrations("test", TestMigrations()).ok());

  Status ok = store->Write([](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(AppendResult a, tx.Append(MakeAppend("a", 2)));
    ASSIGN_OR_RETURN(AppendResult b, tx.Append(MakeAppend("b", 1)));
    RETURN_IF_ERROR(tx.Execute("INSERT INTO notes (text) VALUES ($1)",
                               {"after " + std::to_string(b.position)}));
    ASSIGN_OR_RETURN(SqlRows seen, tx.Query("SELECT count(*) FROM events", {}));
    return std::get<int64_t>(seen[0][0]) == 3 ? Status::Ok()
                                              : Status::Internal("unit cannot see its own events");
  });
  REQUIRE(ok.ok());
  CHECK(store->HeadPosition() == 3);
  CHECK(Count(*store, "SELECT count(*) FROM notes WHERE text = 'after 3'") == 1);

  Status failed = store->Write([](Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Append(MakeAppend("a", 5)).status());
    RETURN_IF_ERROR(tx.Execute("INSERT INTO notes (text) VALUES ('doomed')", {}));
    return Status::Aborted("the unit changes its mind");
  });
  CHECK(failed.code() == StatusCode::kAborted);
  CHECK(store->HeadPosition() == 3);
  CHECK(Count(*store, "SELECT count(*) FROM events") == 3);
  CHECK(Count(*store, "SELECT count(*) FROM notes") == 1);

  Status threw = store->Write([](Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Append(MakeAppend("a", 1)).status());
    throw std::runtime_error("boom");
  });
  CHECK(threw.code() == StatusCode::kInternal);
  CHECK_THAT(threw.message(), Catch::Contains("boom"));
  CHECK(Count(*store, "SELECT count(*) FROM events") == 3);
  CHECK(store->Append(MakeAppend("a", 1)).ok());  // the store carries on
}

TEST_CASE("one failing unit does not fail its neighbours in the same group commit",
          "[unit-of-work][group-commit]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  core::MetricsRegistry metrics;
  testing::TestStoreOptions options;
  options.metrics = &metrics;
  auto store = OpenTestStore(backend, dir, options);
  auto& commits = metrics.GetCounter("rivulet_store_commits_total", "");
  uint64_t commits_before = commits.value();

  // A slow unit holds the writer until three more have reached Write (and a moment
  // longer, for them to enqueue); those three are then committed as one group.
  std::atomic<bool> holding{false};
  std::atomic<int> arrived{0};
  std::thread slow([&] {
    static_cast<void>(store->Write([&](Transaction&) {
      holding.store(true);
      while (arrived.load() < 3) std::this_thread::yield();
      std::this_thread::sleep_for(milliseconds(200));
      return Status::Ok();
    }));
  });
  while (!holding.load()) std::this_thread::yield();
  Status results[3];
  std::thread units[3];
  for (int i = 0; i < 3; ++i) {
    units[i] = std::thread([&, i] {
      arrived.fetch_add(1);
      results[i] = store->Write([i](Transaction& tx) -> Status {
        RETURN_IF_ERROR(tx.Append(MakeAppend("unit-" + std::to_string(i), 1)).status());
        return i == 1 ? Status::Aborted("unit 1 fails") : Status::Ok();
      });
    });
  }
  for (auto& t : units) t.join();
  slow.join();
  CHECK(results[0].ok());
  CHECK(results[1].code() == StatusCode::kAborted);
  CHECK(results[2].ok());
  CHECK(store->ReadStream({"unit-0", false, 0, 10}).ok());
  CHECK_FALSE(store->ReadStream({"unit-1", false, 0, 10}).ok());
  CHECK(store->ReadStream({"unit-2", false, 0, 10}).ok());
  CHECK(commits.value() - commits_before == 2);  // the slow unit's group, then one for the three
}

TEST_CASE("append hooks write in the append's transaction: a failing hook leaves nothing",
          "[unit-of-work][atomicity]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  REQUIRE(store->ApplyMigrations("test", TestMigrations()).ok());
  std::atomic<bool> fail{false};
  store->AddAppendHook([&](Transaction& tx, const std::vector<RecordedEvent>& events) -> Status {
    for (const auto& e : events) {
      RETURN_IF_ERROR(
          tx.Execute("INSERT INTO notes (text, kind) VALUES ($1, $2)", {e.id.ToString(), e.type}));
    }
    return fail.load() ? Status::Unavailable("injected: the outbox row could not be written")
                       : Status::Ok();
  });

  auto ok = store->Append(MakeAppend("hooked", 3, ExpectedVersion::Any(), "Published"));
  REQUIRE(ok.ok());
  CHECK(Count(*store, "SELECT count(*) FROM notes WHERE kind = 'Published'") == 3);

  fail.store(true);
  auto failed = store->Append(MakeAppend("hooked", 2, ExpectedVersion::Any(), "Lost"));
  REQUIRE_FALSE(failed.ok());
  CHECK_THAT(failed.status().message(), Catch::Contains("injected"));
  CHECK(Count(*store, "SELECT count(*) FROM notes WHERE kind = 'Lost'") == 0);
  CHECK(Count(*store, "SELECT count(*) FROM events WHERE type = 'Lost'") == 0);
  CHECK(store->HeadPosition() == 3);
}

TEST_CASE("migrations apply once, in order, and a failing one changes nothing",
          "[unit-of-work][migrations]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  std::vector<Migration> reversed(TestMigrations().rbegin(), TestMigrations().rend());
  REQUIRE(store->ApplyMigrations("test", reversed).ok());
  REQUIRE(store->ApplyMigrations("test", TestMigrations()).ok());
  CHECK(Count(*store, "SELECT count(*) FROM schema_migrations WHERE component = 'test'") == 2);
  CHECK(store
            ->Write([](Transaction& tx) {
              return tx.Execute("INSERT INTO notes (text, kind) VALUES ('x', 'y')", {});
            })
            .ok());

  std::vector<Migration> broken = TestMigrations();
  broken.push_back({3, "half", "CREATE TABLE half (id INTEGER); THIS IS NOT SQL;"});
  Status failed = store->ApplyMigrations("test", broken);
  REQUIRE_FALSE(failed.ok());
  CHECK_THAT(failed.message(), Catch::Contains("migration test 3 (half)"));
  CHECK(Count(*store, "SELECT count(*) FROM sqlite_master WHERE name = 'half'") == 0);
  CHECK(Count(*store, "SELECT max(version) FROM schema_migrations WHERE component = 'test'") == 2);

  Status newer = store->ApplyMigrations("test", {TestMigrations()[0]});
  CHECK(newer.code() == StatusCode::kFailedPrecondition);
}
