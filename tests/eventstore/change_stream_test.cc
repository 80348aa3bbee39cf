#include "eventstore/change_stream.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "tests/support/subprocess.h"
#include "tests/support/test_store.h"

using namespace rivulet;
using namespace rivulet::eventstore;
using rivulet::testing::MakeAppend;
using rivulet::testing::OpenTestStore;
using rivulet::testing::StoreBackends;
using rivulet::testing::TempDir;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE("a change stream catches up, then follows live appends", "[changes]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  for (int i = 0; i < 10; ++i)
    REQUIRE(store->Append(MakeAppend("s-" + std::to_string(i % 3), 10)).ok());

  ChangeStream changes(*store, {}, {}, 30);
  std::vector<int64_t> seen;
  while (seen.size() < 100) {
    auto batch = changes.Next(milliseconds(0));
    REQUIRE(batch.ok());
    REQUIRE_FALSE(batch->events.empty());
    CHECK(batch->events.size() <= 30);
    for (const auto& e : batch->events) seen.push_back(e.position);
  }
  for (size_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == static_cast<int64_t>(i + 1));

  // Live: a waiting reader is woken by the commit, not by a poll.
  std::atomic<bool> appended{false};
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(100));
    appended.store(store->Append(MakeAppend("live", 2)).ok());
  });
  auto live = changes.Next(seconds(30));
  writer.join();
  REQUIRE(appended.load());
  REQUIRE(live.ok());
  REQUIRE_FALSE(live->events.empty());
  CHECK(live->events[0].position == 101);
  CHECK(live->events[0].stream == "live");
}

TEST_CASE("an idle change stream returns an empty batch after max_await", "[changes]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  REQUIRE(store->Append(MakeAppend("s", 3)).ok());
  ChangeStream changes(*store, {}, LogPosition{3, 0});
  auto batch = changes.Next(milliseconds(50));
  REQUIRE(batch.ok());
  CHECK(batch->events.empty());
  CHECK(batch->resume.position == 3);
}

TEST_CASE("filtered change streams advance their token past skipped events", "[changes]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  EventFilter filter;
  filter.types = {"Wanted"};
  ChangeStream changes(*store, filter, {});
  REQUIRE(store->Append(MakeAppend("s", 5, ExpectedVersion::Any(), "Unwanted")).ok());
  auto batch = changes.Next(milliseconds(50));
  REQUIRE(batch.ok());
  CHECK(batch->events.empty());
  CHECK(changes.position().position == 5);

  std::atomic<bool> appended{false};
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(50));
    appended.store(store->Append(MakeAppend("s", 2, ExpectedVersion::Any(), "Unwanted")).ok() &&
                   store->Append(MakeAppend("s", 1, ExpectedVersion::Any(), "Wanted")).ok());
  });
  batch = changes.Next(seconds(30));
  writer.join();
  REQUIRE(appended.load());
  REQUIRE(batch.ok());
  REQUIRE(batch->events.size() == 1);
  CHECK(batch->events[0].position == 8);
  CHECK(batch->events[0].type == "Wanted");
}

TEST_CASE("resume tokens stay valid across a restart: no event skipped or repeated", "[changes]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  std::string token;
  std::vector<int64_t> seen;
  {
    auto store = OpenTestStore(backend, dir);
    for (int i = 0; i < 5; ++i) REQUIRE(store->Append(MakeAppend("r", 4)).ok());
    ChangeStream changes(*store, {}, {}, 7);
    auto batch = changes.Next(milliseconds(0));
    REQUIRE(batch.ok());
    for (const auto& e : batch->events) seen.push_back(e.position);
    token = EncodeResumeToken(changes.position());
  }
  auto store = OpenTestStore(backend, dir);
  REQUIRE(store->Append(MakeAppend("r", 3)).ok());
  auto resumed = DecodeResumeToken(token);
  REQUIRE(resumed.ok());
  ChangeStream changes(*store, {}, *resumed, 100);
  auto batch = changes.Next(milliseconds(0));
  REQUIRE(batch.ok());
  for (const auto& e : batch->events) seen.push_back(e.position);
  REQUIRE(seen.size() == 23);
  for (size_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == static_cast<int64_t>(i + 1));
}

TEST_CASE("appends by another process wake this process's change stream", "[changes][process]") {
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  REQUIRE(store->Append(MakeAppend("local", 1)).ok());
  ChangeStream changes(*store, {}, LogPosition{1, 0});
  testing::Subprocess writer(
      {CRASH_WRITER, testing::SqlitePath(dir), "count", "3", "cross-process"},
      dir.File("writer.stderr"));
  std::vector<std::string> streams;
  while (streams.size() < 3) {
    auto batch = changes.Next(seconds(30));
    REQUIRE(batch.ok());
    REQUIRE_FALSE(batch->events.empty());  // 30 s without seeing the other process's commit fails
    for (const auto& e : batch->events) streams.push_back(e.stream);
  }
  CHECK(streams == std::vector<std::string>{"cross-process", "cross-process", "cross-process"});
  CHECK(writer.Wait() == 0);
}

TEST_CASE("waiting readers are released by WakeWaiters and by cancellation", "[changes]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(milliseconds(100));
    cancel.store(true);
    store->WakeWaiters();
  });
  LogReadOptions options;
  auto batch = store->ReadChanges(options, seconds(120), [&] { return cancel.load(); });
  canceller.join();
  REQUIRE(batch.ok());
  CHECK(batch->events.empty());
}
