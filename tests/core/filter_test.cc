#include "core/filter.h"

#include <catch2/catch.hpp>

using rivulet::core::Filter;
using rivulet::core::Json;

namespace {
const Json& Doc() {
  static const Json doc = Json::parse(R"({
    "type": "OrderInsert",
    "data": {"after": {"status": "pending", "total": 100, "tags": ["a", "b"], "note": null, "name": "Alice",
                       "items": [{"sku": "x", "qty": 2}, {"sku": "y", "qty": 5}], "flag": true,
                       "when": "2026-11-21T09:00:00Z"}}
  })");
  return doc;
}
}  // namespace

TEST_CASE("filters match like MongoDB queries", "[filter]") {
  const std::pair<const char*, bool> cases[] = {
      {R"({})", true},
      {R"({"type": "OrderInsert"})", true},
      {R"({"type": "OrderUpdate"})", false},
      {R"({"type": {"$eq": "OrderInsert"}})", true},
      {R"({"data.after.total": {"$gt": 50}})", true},
      {R"({"data.after.total": {"$gt": 100}})", false},
      {R"({"data.after.total": {"$gte": 100}})", true},
      {R"({"data.after.total": {"$lt": 100}})", false},
      {R"({"data.after.total": {"$lte": 100}})", true},
      {R"({"data.after.total": {"$gt": 50, "$lt": 150}})", true},
      {R"({"data.after.total": {"$gt": 50, "$lt": 60}})", false},
      {R"({"data.after.total": 100.0})", true},
      {R"({"data.after.total": "100"})", false},
      {R"({"data.after.status": {"$gt": 5}})", false},
      {R"({"data.after.status": {"$gt": "a"}})", true},
      {R"({"data.after.when": {"$gte": "2026-11-21T00:00:00Z"}})", true},
      {R"({"data.after.flag": true})", true},
      {R"({"data.after.status": {"$ne": "done"}})", true},
      {R"({"data.after.status": {"$ne": "pending"}})", false},
      {R"({"data.after.status": {"$in": ["pending", "new"]}})", true},
      {R"({"data.after.status": {"$nin": ["pending", "new"]}})", false},
      {R"({"data.after.tags": "a"})", true},
      {R"({"data.after.tags": "c"})", false},
      {R"({"data.after.tags": ["a", "b"]})", true},
      {R"({"data.after.tags": {"$in": ["c", "b"]}})", true},
      {R"({"data.after.items.sku": "y"})", true},
      {R"({"data.after.items.qty": {"$gt": 4}})", true},
      {R"({"data.after.items.qty": {"$gt": 5}})", false},
      {R"({"data.after.items.0.sku": "x"})", true},
      {R"({"data.after.items.1.sku": "x"})", false},
      {R"({"data.after.missing": {"$exists": false}})", true},
      {R"({"data.after.note": {"$exists": true}})", true},
      {R"({"data.after.missing": null})", true},
      {R"({"data.after.note": null})", true},
      {R"({"data.after.status": null})", false},
      {R"({"data.after.missing": {"$ne": null}})", false},
      {R"({"data.after.name": {"$regex": "^al", "$options": "i"}})", true},
      {R"({"data.after.name": {"$regex": "^al"}})", false},
      {R"({"data.after.name": {"$regex": "^\\w+$"}})", true},
      {R"({"data.after.name": {"$regex": "\\d"}})", false},
      {R"({"data.after.tags": {"$regex": "^b$"}})", true},
      {R"({"data.after.tags": {"$size": 2}})", true},
      {R"({"data.after.tags": {"$size": 3}})", false},
      {R"({"data.after.total": {"$not": {"$gt": 150}}})", true},
      {R"({"data.after.total": {"$not": {"$gt": 50}}})", false},
      {R"({"$or": [{"type": "X"}, {"data.after.total": 100}]})", true},
      {R"({"$or": [{"type": "X"}, {"data.after.total": 1}]})", false},
      {R"({"$nor": [{"type": "X"}, {"data.after.total": 1}]})", true},
      {R"({"$and": [{"type": "OrderInsert"}, {"data.after.total": {"$gt": 1}}]})", true},
      {R"({"type": "OrderInsert", "data.after.status": "done"})", false},
      {R"({"data.after": {"status": "pending"}})", false},
  };
  for (const auto& [query, expected] : cases) {
    INFO("filter: " << query);
    auto filter = Filter::Parse(Json::parse(query));
    INFO("error: " << filter.status());
    REQUIRE(filter.ok());
    CHECK(filter->Matches(Doc()) == expected);
  }
}

TEST_CASE("malformed filters are config errors naming the path", "[filter]") {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"$where": "x"})", "unknown top-level operator $where"},
      {R"({"a": {"$foo": 1}})", "a.$foo: unknown operator $foo"},
      {R"({"a": {"$in": 1}})", "a.$in: $in needs an array"},
      {R"({"$or": []})", "$or needs a non-empty array"},
      {R"({"$or": {}})", "$or needs a non-empty array"},
      {R"({"$and": [1]})", "a filter must be an object"},
      {R"({"a": {"$regex": "("}})", "invalid regular expression"},
      {R"({"a": {"$regex": 1}})", "$regex needs a string"},
      {R"({"a": {"$regex": "x", "$options": "q"}})", "unsupported $options flag 'q'"},
      {R"({"a": {"$options": "i"}})", "$options is only valid next to $regex"},
      {R"({"a": {"$exists": 1}})", "$exists needs true or false"},
      {R"({"a": {"$size": -1}})", "$size needs a non-negative integer"},
      {R"({"a": {"$gt": 1, "b": 2}})", "cannot mix operators"},
      {R"({"a": {"$not": 5}})", "$not needs an operator object"},
      {R"({"a..b": 1})", "empty segment"},
      {R"("text")", "a filter must be an object"},
      {R"({"a": "${x}"})", "templates are not allowed"},
  };
  for (const auto& [query, message] : cases) {
    INFO("filter: " << query);
    auto filter = Filter::Parse(Json::parse(query));
    REQUIRE_FALSE(filter.ok());
    CHECK_THAT(filter.status().message(), Catch::Contains(message));
  }
}

TEST_CASE("filter operands may be templates over a context", "[filter]") {
  Filter::Options options;
  options.allow_templates = true;
  auto filter = Filter::Parse(
      Json::parse(R"({"data.order_id": "${saga.id}", "data.n": {"$gte": "${saga.min}"}})"),
      options);
  REQUIRE(filter.ok());
  Json ctx = Json::parse(R"({"saga": {"id": "o-1", "min": 3}})");
  CHECK(*filter->Matches(Json::parse(R"({"data": {"order_id": "o-1", "n": 3}})"), ctx));
  CHECK_FALSE(*filter->Matches(Json::parse(R"({"data": {"order_id": "o-2", "n": 3}})"), ctx));
  CHECK_FALSE(*filter->Matches(Json::parse(R"({"data": {"order_id": "o-1", "n": 2}})"), ctx));
  auto missing = filter->Matches(Json::parse(R"({"data": {}})"), Json::object());
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.status().message(), Catch::Matches(".*saga\\.(id|min) not found.*"));
}

TEST_CASE("filters report the document roots they read", "[filter]") {
  auto filter =
      Filter::Parse(Json::parse(R"({"type": "A", "$or": [{"data.x": 1}, {"metadata.y": 2}]})"));
  REQUIRE(filter.ok());
  CHECK(filter->referenced_roots() == std::set<std::string>{"type", "data", "metadata"});
  CHECK(Filter().matches_everything());
  CHECK(Filter::Parse(Json::object())->matches_everything());
}

TEST_CASE("$regex runs on RE2: MongoDB's common syntax, $options i m s x", "[filter][regex]") {
  const Json doc = Json::parse(R"({"name": "Alice Smith", "lines": "first\nsecond",
                                   "code": "AB-1234", "tags": ["x1", "y22"]})");
  const std::pair<const char*, bool> cases[] = {
      {R"({"name": {"$regex": "(?i)^alice"}})", true},
      {R"({"name": {"$regex": "^alice", "$options": "i"}})", true},
      {R"({"name": {"$regex": "^alice"}})", false},
      {R"({"name": {"$regex": "^[[:alpha:]]+ [A-Z][a-z]+$"}})", true},
      {R"({"code": {"$regex": "^[A-Z]{2}-\\d{4}$"}})", true},
      {R"({"code": {"$regex": "^\\w+-\\D"}})", false},
      {R"({"code": {"$regex": "[^\\s]+"}})", true},
      {R"({"tags": {"$regex": "^y\\d+$"}})", true},
      {R"({"name": {"$regex": "Ali.*?Smith"}})", true},
      // m: ^ and $ at line boundaries
      {R"({"lines": {"$regex": "^second$"}})", false},
      {R"({"lines": {"$regex": "^second$", "$options": "m"}})", true},
      // s: . matches a newline
      {R"({"lines": {"$regex": "first.second"}})", false},
      {R"({"lines": {"$regex": "first.second", "$options": "s"}})", true},
      // x: whitespace and # comments in the pattern are ignored (escaped ones stay)
      {R"({"name": {"$regex": "^Alice \\  Smith  # the whole name\n$", "$options": "x"}})", true},
      {R"({"code": {"$regex": "^ [A-Z]{2} -[ ]1234 $", "$options": "x"}})", false},  // [ ] stays
      {R"({"code": {"$regex": "^ [A-Z]{2} - \\d{4} $", "$options": "xi"}})", true},
      {R"({"name": {"$not": {"$regex": "^B"}}})", true},
  };
  for (const auto& [query, expected] : cases) {
    INFO("filter: " << query);
    auto filter = Filter::Parse(Json::parse(query));
    INFO(filter.status());
    REQUIRE(filter.ok());
    CHECK(filter->Matches(doc) == expected);
  }
}

TEST_CASE("$regex refuses what cannot run in linear time, with a clear error", "[filter][regex]") {
  // The pattern of issue 12: nine groups and back-references, 2.55 s against one event
  // on a backtracking engine.
  const std::string backrefs = R"(^(a*)(a*)(a*)(a*)(a*)(a*)(a*)(a*)(a*)\9\8\7\6\5\4\3\2\1b$)";
  auto refused = Filter::Parse(Json{{"data.s", {{"$regex", backrefs}}}});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == rivulet::StatusCode::kInvalidArgument);
  CHECK_THAT(refused.status().message(), Catch::Contains("data.s.$regex"));
  CHECK_THAT(refused.status().message(), Catch::Contains("back-reference \\9 is not supported"));
  const std::pair<const char*, const char*> cases[] = {
      {R"({"a": {"$regex": "(x)\\1"}})", "back-reference \\1 is not supported"},
      {R"q({"a": {"$regex": "a(?=b)"}})q", "invalid regular expression"},
      {R"({"a": {"$regex": "(?<!a)b"}})", "invalid regular expression"},
      {R"({"a": {"$regex": "((a"}})", "invalid regular expression (RE2 syntax): missing )"},
      {R"({"a": {"$regex": "x", "$options": "u"}})",
       "unsupported $options flag 'u' (known: i, m, s, x)"},
      {R"({"a": {"$regex": "x", "$options": 1}})", "$options needs a string"},
  };
  for (const auto& [query, message] : cases) {
    INFO("filter: " << query);
    auto filter = Filter::Parse(Json::parse(query));
    REQUIRE_FALSE(filter.ok());
    CHECK_THAT(filter.status().message(), Catch::Contains(message));
  }
}

TEST_CASE("$regex patterns that backtrack catastrophically elsewhere answer correctly",
          "[filter][regex]") {
  const std::string as(50000, 'a');
  const std::pair<const char*, std::pair<std::string, bool>> cases[] = {
      {"(a+)+$", {as + "b", false}},  {"^(a+)+$", {as, true}},     {"(a|aa)*c", {as, false}},
      {"(a|aa)*c", {as + "c", true}}, {"^(a|a?)+b$", {as, false}}, {"(.*a){12}x", {as, false}},
  };
  for (const auto& [pattern, subject_and_expected] : cases) {
    INFO("pattern: " << pattern);
    auto filter = Filter::Parse(Json{{"s", {{"$regex", pattern}}}});
    INFO(filter.status());
    REQUIRE(filter.ok());
    CHECK(filter->Matches(Json{{"s", subject_and_expected.first}}) == subject_and_expected.second);
  }
}
