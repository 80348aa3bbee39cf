#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "eventstore/change_stream.h"
#include "tests/support/test_store.h"

using namespace rivulet;
using namespace rivulet::eventstore;
using rivulet::testing::MakeAppend;
using rivulet::testing::OpenTestStore;
using rivulet::testing::StoreBackends;
using rivulet::testing::TempDir;
using std::chrono::milliseconds;

TEST_CASE("of concurrent appends with the same expected version exactly one wins",
          "[concurrency]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  constexpr int kWriters = 8;
  constexpr int kRounds = 50;
  int wins = 0;
  for (int round = 0; round < kRounds; ++round) {
    ExpectedVersion expected =
        round == 0 ? ExpectedVersion::NoStream() : ExpectedVersion::Exact(round - 1);
    std::atomic<int> winners{0};
    std::atomic<int> losers{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int w = 0; w < kWriters; ++w) {
      threads.emplace_back([&] {
        while (!go.load()) std::this_thread::yield();
        auto result = store->Append(MakeAppend("contended", 1, expected));
        if (result.ok()) {
          winners.fetch_add(1);
        } else if (result.status().reason() == "wrong_expected_version" &&
                   result.status().details()["expected"] == expected.ToJson() &&
                   result.status().details()["actual"] == round) {
          losers.fetch_add(1);
        }
      });
    }
    go.store(true);
    for (auto& t : threads) t.join();
    INFO("round " << round);
    REQUIRE(winners.load() == 1);
    REQUIRE(losers.load() == kWriters - 1);
    wins += winners.load();
  }
  auto slice = store->ReadStream({"contended", false, 0, 1000});
  REQUIRE(slice.ok());
  CHECK(static_cast<int>(slice->events.size()) == wins);
  CHECK(store->HeadPosition() == kRounds);
}

TEST_CASE("concurrent re-sends of one append write it once", "[concurrency][idempotency]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  AppendRequest request = MakeAppend("payment-1", 3, ExpectedVersion::NoStream());
  for (auto& e : request.events) e.id = core::Uuid::NewV4().ToString();
  std::vector<std::thread> threads;
  std::mutex mu;
  std::vector<Result<AppendResult>> results;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto r = store->Append(request);
      std::lock_guard<std::mutex> lock(mu);
      results.push_back(std::move(r));
    });
  }
  for (auto& t : threads) t.join();
  int originals = 0;
  for (const auto& r : results) {
    REQUIRE(r.ok());
    CHECK(r->first_version == 0);
    CHECK(r->last_version == 2);
    CHECK(r->position == 3);
    if (!r->deduplicated) ++originals;
  }
  CHECK(originals == 1);
  CHECK(store->HeadPosition() == 3);
}

TEST_CASE(
    "a subscriber following 8 concurrent writers sees every acknowledged event once, in order",
    "[concurrency][changes]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  constexpr int kWriters = 8;
  constexpr int kAppendsPerWriter = 150;

  std::mutex acked_mu;
  std::map<int64_t, std::string> acked;  // position -> id, for every acknowledged event
  std::atomic<int> writers_done{0};
  std::atomic<int> failures{0};  // Catch2 assertions are not thread-safe: count, check after join
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int k = 0; k < kAppendsPerWriter; ++k) {
        // Mixed shapes: shared and private streams, single events and batches.
        std::string stream =
            k % 3 == 0 ? "shared-" + std::to_string(k % 4) : "w" + std::to_string(w);
        AppendRequest request = MakeAppend(stream, 1 + (k % 4));
        for (auto& e : request.events) e.id = core::Uuid::NewV4().ToString();
        auto result = store->Append(request);
        if (!result.ok()) {
          failures.fetch_add(1);
          continue;
        }
        std::lock_guard<std::mutex> lock(acked_mu);
        int64_t first_position = result->position - static_cast<int64_t>(request.events.size()) + 1;
        for (size_t i = 0; i < request.events.size(); ++i) {
          acked[first_position + static_cast<int64_t>(i)] = request.events[i].id;
        }
      }
      writers_done.fetch_add(1);
    });
  }

  // One subscriber keeps its stream; another reopens from its token after every batch,
  // as a client persisting resume tokens would.
  std::vector<RecordedEvent> followed, resumed;
  std::thread follower([&] {
    ChangeStream changes(*store, {}, {}, 64);
    while (true) {
      // Read "done" before the batch: an empty batch after that proves nothing is left.
      bool done = writers_done.load() == kWriters;
      auto batch = changes.Next(milliseconds(200));
      if (!batch.ok()) {
        failures.fetch_add(1);
        return;
      }
      for (auto& e : batch->events) followed.push_back(std::move(e));
      if (done && batch->events.empty()) break;
    }
  });
  std::thread resumer([&] {
    std::string token = EncodeResumeToken({});
    while (true) {
      bool done = writers_done.load() == kWriters;
      ChangeStream changes(*store, {}, *DecodeResumeToken(token), 37);
      auto batch = changes.Next(milliseconds(200));
      if (!batch.ok()) {
        failures.fetch_add(1);
        return;
      }
      for (auto& e : batch->events) resumed.push_back(std::move(e));
      token = EncodeResumeToken(changes.position());
      if (done && batch->events.empty()) break;
    }
  });
  for (auto& t : writers) t.join();
  follower.join();
  resumer.join();
  REQUIRE(failures.load() == 0);
  size_t expected_events = 0;
  for (int k = 0; k < kAppendsPerWriter; ++k) expected_events += kWriters * (1 + k % 4);
  REQUIRE(acked.size() == expected_events);

  for (const auto* seen : {&followed, &resumed}) {
    REQUIRE(seen->size() == acked.size());
    int64_t expected_position = 1;
    for (const auto& e : *seen) {
      REQUIRE(e.position == expected_position);  // in log order, nothing skipped, nothing twice
      REQUIRE(acked.at(e.position) == e.id.ToString());
      ++expected_position;
    }
  }
  // Every stream's versions are dense: no half-applied append.
  std::map<std::string, int64_t> next_version;
  for (const auto& e : followed) {
    CHECK(e.version == next_version[e.stream]);
    next_version[e.stream] = e.version + 1;
  }
}
