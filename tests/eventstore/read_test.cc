#include <catch2/catch.hpp>

#include "eventstore/log_position.h"
#include "tests/support/test_store.h"

using namespace rivulet;
using namespace rivulet::eventstore;
using rivulet::testing::MakeAppend;
using rivulet::testing::OpenTestStore;
using rivulet::testing::StoreBackends;
using rivulet::testing::TempDir;

namespace {
std::vector<int64_t> Versions(const StreamSlice& slice) {
  std::vector<int64_t> v;
  for (const auto& e : slice.events) v.push_back(e.version);
  return v;
}
std::vector<int64_t> Positions(const LogBatch& batch) {
  std::vector<int64_t> v;
  for (const auto& e : batch.events) v.push_back(e.position);
  return v;
}
}  // namespace

TEST_CASE("streams read forward and backward, page by page", "[read]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  REQUIRE(store->Append(MakeAppend("s", 5)).ok());
  REQUIRE(store->Append(MakeAppend("other", 2)).ok());

  auto page = store->ReadStream({"s", false, 0, 2});
  REQUIRE(page.ok());
  CHECK(Versions(*page) == std::vector<int64_t>{0, 1});
  CHECK(page->next == 2);
  page = store->ReadStream({"s", false, 4, 2});
  CHECK(Versions(*page) == std::vector<int64_t>{4});
  CHECK_FALSE(page->next.has_value());
  page = store->ReadStream({"s", false, 9, 2});
  REQUIRE(page.ok());
  CHECK(page->events.empty());
  CHECK_FALSE(page->next.has_value());

  auto back = store->ReadStream({"s", true, std::nullopt, 3});
  REQUIRE(back.ok());
  CHECK(Versions(*back) == std::vector<int64_t>{4, 3, 2});
  CHECK(back->next == 1);
  back = store->ReadStream({"s", true, 1, 3});
  CHECK(Versions(*back) == std::vector<int64_t>{1, 0});
  CHECK_FALSE(back->next.has_value());

  auto missing = store->ReadStream({"nope", false, 0, 10});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == StatusCode::kNotFound);
}

TEST_CASE("the global log reads by resume token with type, stream and match filters", "[read]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  REQUIRE(
      store->Append(MakeAppend("order-1", 2, ExpectedVersion::Any(), "OrderPlaced")).ok());  // 1, 2
  REQUIRE(
      store->Append(MakeAppend("invoice-1", 1, ExpectedVersion::Any(), "InvoiceSent")).ok());  // 3
  REQUIRE(store->Append(MakeAppend("order-2", 2, ExpectedVersion::Any(), "OrderShipped"))
              .ok());  // 4, 5
  REQUIRE(
      store->Append(MakeAppend("invoice-2", 1, ExpectedVersion::Any(), "InvoiceSent")).ok());  // 6

  LogReadOptions all;
  auto batch = store->ReadLog(all);
  REQUIRE(batch.ok());
  CHECK(Positions(*batch) == std::vector<int64_t>{1, 2, 3, 4, 5, 6});
  CHECK(batch->resume.position == 6);
  CHECK(batch->reached_head);

  LogReadOptions paged;
  paged.limit = 4;
  batch = store->ReadLog(paged);
  CHECK(Positions(*batch) == std::vector<int64_t>{1, 2, 3, 4});
  CHECK_FALSE(batch->reached_head);
  paged.after = batch->resume;
  batch = store->ReadLog(paged);
  CHECK(Positions(*batch) == std::vector<int64_t>{5, 6});

  LogReadOptions types;
  types.filter.types = {"InvoiceSent", "OrderShipped"};
  batch = store->ReadLog(types);
  CHECK(Positions(*batch) == std::vector<int64_t>{3, 4, 5, 6});

  LogReadOptions streams;
  streams.filter.streams = {"order-*"};
  streams.limit = 3;
  batch = store->ReadLog(streams);
  CHECK(Positions(*batch) == std::vector<int64_t>{1, 2, 4});
  CHECK(batch->resume.position == 4);

  LogReadOptions match;
  match.filter.match =
      *core::Filter::Parse(core::Json::parse(R"({"data.n": 1, "stream": {"$regex": "^order"}})"));
  batch = store->ReadLog(match);
  CHECK(Positions(*batch) == std::vector<int64_t>{2, 5});

  // The token moves past events the filter skipped, so a reader never rescans them.
  LogReadOptions nothing;
  nothing.filter.types = {"NeverAppended"};
  batch = store->ReadLog(nothing);
  CHECK(batch->events.empty());
  CHECK(batch->resume.position == 6);
  CHECK(batch->reached_head);

  LogReadOptions bounded;
  bounded.after.position = 2;
  bounded.up_to = 4;
  batch = store->ReadLog(bounded);
  CHECK(Positions(*batch) == std::vector<int64_t>{3, 4});

  LogReadOptions small_scan;
  small_scan.filter.types = {"InvoiceSent"};
  small_scan.limit = 1;
  small_scan.max_scan = 2;
  batch = store->ReadLog(small_scan);  // scans 1..2, finds nothing yet
  CHECK(batch->events.empty());
  CHECK(batch->resume.position == 2);
  CHECK_FALSE(batch->reached_head);
}

TEST_CASE("resume tokens are opaque, stable and strictly parsed", "[read]") {
  for (LogPosition p :
       {LogPosition{0, 0}, LogPosition{1, 0}, LogPosition{123456789, 0}, LogPosition{42, 7}}) {
    auto decoded = DecodeResumeToken(EncodeResumeToken(p));
    REQUIRE(decoded.ok());
    CHECK(*decoded == p);
  }
  CHECK(EncodeResumeToken({1, 0}) == "MQ");
  for (const char* bad :
       {"", "!!", "LTE" /* "-1" */, "MDE" /* "01" */, "YWJj" /* "abc" */, "MDox" /* "0:1" */}) {
    INFO(bad);
    auto decoded = DecodeResumeToken(bad);
    REQUIRE_FALSE(decoded.ok());
    CHECK(decoded.status().code() == StatusCode::kInvalidArgument);
  }
}

TEST_CASE("reads stop at a byte budget, always return one event, and continue exactly there",
          "[read][limits]") {
  auto backend = GENERATE(from_range(StoreBackends()));
  TempDir dir;
  auto store = OpenTestStore(backend, dir);
  // Five events of ~10 KB each in one stream, then a small one elsewhere.
  AppendRequest big;
  big.stream = "big";
  for (int i = 0; i < 5; ++i) {
    EventData e;
    e.type = "Blob";
    e.data = core::Json{{"i", i}, {"pad", std::string(10'000, 'x')}};
    big.events.push_back(std::move(e));
  }
  REQUIRE(store->Append(big).ok());
  REQUIRE(store->Append(MakeAppend("small", 1)).ok());

  LogReadOptions log;
  log.limit = 1000;
  log.max_bytes = 25'000;  // room for two
  auto first = store->ReadLog(log);
  REQUIRE(first.ok());
  CHECK(Positions(*first) == std::vector<int64_t>{1, 2});
  CHECK(first->resume.position == 2);  // not past the event left out
  CHECK_FALSE(first->reached_head);
  log.after = first->resume;
  auto second = store->ReadLog(log);
  REQUIRE(second.ok());
  CHECK(Positions(*second) == std::vector<int64_t>{3, 4});
  log.after = second->resume;
  auto third = store->ReadLog(log);
  REQUIRE(third.ok());
  CHECK(Positions(*third) == std::vector<int64_t>{5, 6});  // the small one fits beside
  CHECK(third->reached_head);

  // A budget smaller than one event still returns that event.
  log.after = LogPosition{};
  log.max_bytes = 100;
  auto one = store->ReadLog(log);
  REQUIRE(one.ok());
  CHECK(Positions(*one) == std::vector<int64_t>{1});
  CHECK(one->resume.position == 1);

  // Filtered-out events cost nothing and still move the token.
  log.filter.streams = {"small"};
  auto filtered = store->ReadLog(log);
  REQUIRE(filtered.ok());
  CHECK(Positions(*filtered) == std::vector<int64_t>{6});

  StreamReadOptions stream{"big", false, 0, 100};
  stream.max_bytes = 25'000;
  auto page = store->ReadStream(stream);
  REQUIRE(page.ok());
  CHECK(Versions(*page) == std::vector<int64_t>{0, 1});
  CHECK(page->next == 2);
  stream.backward = true;
  stream.from = std::nullopt;
  stream.max_bytes = 1;
  page = store->ReadStream(stream);
  REQUIRE(page.ok());
  CHECK(Versions(*page) == std::vector<int64_t>{4});
  CHECK(page->next == 3);
}
