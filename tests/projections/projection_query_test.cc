#include <map>
#include <set>

#include "tests/projections/projection_fixture.h"

using namespace rivulet;
using namespace rivulet::testing;
using core::Json;
using projections::ProjectionEngine;
using projections::QueryPage;
using projections::QueryRequest;

namespace {

// 10,000 documents, one per stream: total = n % 97 (many ties), bucket = "b" + n % 5,
// n unindexed. "indexed" and "plain" hold the same documents, with and without indexes.
const char* kIndexed = R"({"name": "indexed", "key": "${stream}",
  "on": {"Tick": {"set": {"total": "${data.total}", "bucket": "${data.bucket}", "n": "${data.n}"}}},
  "indexes": ["total", "bucket"]})";
const char* kPlain = R"({"name": "plain", "key": "${stream}",
  "on": {"Tick": {"set": {"total": "${data.total}", "bucket": "${data.bucket}", "n": "${data.n}"}}}})";

void AppendDocs(eventstore::EventStore& store, int count) {
  for (int start = 0; start < count; start += 1000) {
    REQUIRE(
        store
            .Write([&](eventstore::Transaction& tx) -> Status {
              for (int n = start; n < std::min(count, start + 1000); ++n) {
                eventstore::AppendRequest r;
                r.stream = "d-" + std::to_string(n);
                eventstore::EventData e;
                e.type = "Tick";
                e.data = Json{{"total", n % 97}, {"bucket", "b" + std::to_string(n % 5)}, {"n", n}};
                r.events.push_back(std::move(e));
                RETURN_IF_ERROR(tx.Append(r).status());
              }
              return Status::Ok();
            })
            .ok());
  }
}

struct Store {
  TempDir dir;
  std::unique_ptr<eventstore::EventStore> store = OpenTestStore("sqlite", dir);
  std::unique_ptr<ProjectionEngine> engine;

  explicit Store(int docs, std::vector<const char*> defs = {kIndexed, kPlain}) {
    AppendDocs(*store, docs);
    std::vector<projections::ProjectionDefinition> compiled;
    for (const char* d : defs) compiled.push_back(Projection(d));
    engine = std::make_unique<ProjectionEngine>(*store, compiled, ProjectionEngine::Options{});
    REQUIRE(engine->Start().ok());
    for (const auto& d : compiled) WaitForLive(*engine, d.name, store->HeadPosition());
  }

  Result<QueryPage> Query(const std::string& name, QueryRequest request) {
    auto indexes = engine->LiveIndexes(name);
    REQUIRE(indexes.ok());
    return projections::QueryProjection(*store, name, *indexes, request);
  }

  // Every page of a query, in order.
  std::vector<Json> All(const std::string& name, QueryRequest request, bool* used_index = nullptr) {
    std::vector<Json> docs;
    while (true) {
      auto page = Query(name, request);
      INFO(page.status());
      REQUIRE(page.ok());
      if (used_index != nullptr) *used_index = page->used_index;
      for (const auto& item : page->items) docs.push_back(Json::parse(item));
      if (!page->next_cursor) return docs;
      request.cursor = *page->next_cursor;
    }
  }
};

std::optional<core::Filter> Match(const char* json) {
  return *core::Filter::Parse(Json::parse(json));
}

}  // namespace

TEST_CASE("cursor pagination over 10,000 documents returns each exactly once, in order",
          "[projections][query]") {
  Store s(10'000);
  struct Case {
    const char* sort;
    bool indexed;
  };
  const Case cases[] = {
      {"", true},      {"total", true}, {"-total", true},    {"bucket,-total", true},
      {"-_key", true}, {"n", false},    {"-n,bucket", false}};
  for (const Case& c : cases) {
    INFO("sort=" << c.sort);
    QueryRequest request;
    request.sort = *projections::ParseSort(c.sort);
    request.limit = 777;
    bool used_index = false;
    auto docs = s.All("indexed", request, &used_index);
    CHECK(used_index == c.indexed);
    REQUIRE(docs.size() == 10'000);
    std::set<std::string> keys;
    for (const Json& d : docs) keys.insert(d["_key"].get<std::string>());
    CHECK(keys.size() == 10'000);
    for (size_t i = 1; i < docs.size(); ++i) {
      const Json& a = docs[i - 1];
      const Json& b = docs[i];
      int order = 0;  // <0: a before b, by the sort keys then the key
      for (const auto& key : request.sort) {
        const std::string f = key.field;
        if (f == "_key") break;
        if (a[f] != b[f]) {
          order = (a[f] < b[f]) != key.descending ? -1 : 1;
          break;
        }
      }
      if (order == 0) {
        bool key_desc = !request.sort.empty() && request.sort.back().descending;
        order = (a["_key"] < b["_key"]) != key_desc ? -1 : 1;
      }
      REQUIRE(order < 0);
    }
  }
}

TEST_CASE("query results never depend on what is indexed", "[projections][query]") {
  Store s(2'000);
  const char* filters[] = {R"({"total": 5})",
                           R"({"total": "5"})",
                           R"({"total": {"$gt": 50}})",
                           R"({"total": {"$gte": 10, "$lt": 12}, "bucket": "b2"})",
                           R"({"bucket": {"$in": ["b1", "b3"]}})",
                           R"({"bucket": {"$gt": 7}})",
                           R"({"total": {"$ne": 5}})",
                           R"({"total": {"$lt": 3}, "n": {"$gt": 1500}})",
                           R"({"$or": [{"total": 1}, {"bucket": "b4"}]})",
                           R"({"missing": null})",
                           R"({"_key": "d-42"})",
                           R"({"_key": {"$in": ["d-1", "d-2", "nope"]}})"};
  for (const char* f : filters) {
    INFO("match=" << f);
    QueryRequest request;
    request.match = Match(f);
    request.limit = 1000;
    bool indexed_plan = false, plain_plan = true;
    auto with = s.All("indexed", request, &indexed_plan);
    auto without = s.All("plain", request, &plain_plan);
    std::set<std::string> a, b;
    for (const Json& d : with) a.insert(d["_key"].get<std::string>());
    for (const Json& d : without) b.insert(d["_key"].get<std::string>());
    CHECK(a == b);
    CHECK(with.size() == a.size());
  }
  QueryRequest pushed;
  pushed.match = Match(R"({"total": {"$gt": 50}, "bucket": "b1"})");
  pushed.sort = *projections::ParseSort("-total");
  bool plan = false;
  s.All("indexed", pushed, &plan);
  CHECK(plan);
  s.All("plain", pushed, &plan);
  CHECK_FALSE(plan);
  QueryRequest unindexed_field;
  unindexed_field.match = Match(R"({"n": 5})");
  s.All("indexed", unindexed_field, &plan);
  CHECK_FALSE(plan);
}

TEST_CASE("an indexed field holding lists is matched element-wise, through a scan",
          "[projections][query]") {
  const char* tagged = R"({"name": "tagged", "key": "${stream}",
    "on": {"Tick": {"set": {"total": "${data.total}"}, "push": {"tags": "${data.bucket}"}}},
    "indexes": ["total", "tags"]})";
  Store s(30, {tagged});
  QueryRequest request;
  request.match = Match(R"({"tags": "b2"})");
  bool plan = true;
  auto docs = s.All("tagged", request, &plan);
  CHECK_FALSE(plan);  // a list in an indexed field: the index cannot answer element matches
  CHECK(docs.size() == 6);
  for (const Json& d : docs) CHECK(d["tags"] == Json::parse(R"(["b2"])"));
}

TEST_CASE("cursors belong to their query", "[projections][query]") {
  Store s(50);
  QueryRequest request;
  request.sort = *projections::ParseSort("-total");
  request.limit = 10;
  auto first = s.Query("indexed", request);
  REQUIRE(first.ok());
  REQUIRE(first->next_cursor);
  QueryRequest other = request;
  other.sort = *projections::ParseSort("total");
  other.cursor = *first->next_cursor;
  auto mismatch = s.Query("indexed", other);
  REQUIRE_FALSE(mismatch.ok());
  CHECK_THAT(mismatch.status().message(), Catch::Contains("another match or sort"));
  other.cursor = "not-a-cursor";
  CHECK(s.Query("indexed", other).status().code() == StatusCode::kInvalidArgument);
  QueryRequest bad_limit;
  bad_limit.limit = 0;
  CHECK(s.Query("indexed", bad_limit).status().code() == StatusCode::kInvalidArgument);
  for (const char* sort : {"a b", ",total", "total,total", "-", "_secret"}) {
    INFO(sort);
    CHECK_FALSE(projections::ParseSort(sort).ok());
  }
  auto unknown = projections::QueryProjection(*s.store, "never_built", {}, QueryRequest{});
  CHECK(unknown.status().code() == StatusCode::kNotFound);
}

TEST_CASE("a key-ordered cursor returns every key once while documents change",
          "[projections][query]") {
  Store s(3'000, {kIndexed});
  QueryRequest request;
  request.limit = 250;
  std::multiset<std::string> seen;
  int page_number = 0;
  while (true) {
    auto page = s.Query("indexed", request);
    REQUIRE(page.ok());
    for (const auto& item : page->items) seen.insert(Json::parse(item)["_key"].get<std::string>());
    if (!page->next_cursor) break;
    request.cursor = *page->next_cursor;
    // Between pages: new documents (keys before and after the cursor) and updates.
    REQUIRE(s.store
                ->Write([&](eventstore::Transaction& tx) -> Status {
                  for (int k = 0; k < 20; ++k) {
                    eventstore::AppendRequest r;
                    r.stream =
                        (k % 2 ? "d-" : "a-") + std::to_string(page_number * 100 + k) + "-new";
                    eventstore::EventData e;
                    e.type = "Tick";
                    e.data = Json{{"total", 1}, {"bucket", "b0"}, {"n", -1}};
                    r.events.push_back(e);
                    RETURN_IF_ERROR(tx.Append(r).status());
                    r.stream = "d-" + std::to_string(k * 37);
                    RETURN_IF_ERROR(tx.Append(r).status());
                  }
                  return Status::Ok();
                })
                .ok());
    WaitForLive(*s.engine, "indexed", s.store->HeadPosition());
    ++page_number;
  }
  for (int n = 0; n < 3'000; ++n) CHECK(seen.count("d-" + std::to_string(n)) == 1);
  for (const auto& key : seen) CHECK(seen.count(key) == 1);
}
