#include "projections/document_update.h"

#include <catch2/catch.hpp>

using namespace rivulet;
using namespace rivulet::projections;
using core::Json;

namespace {

ProjectionDefinition Compile(const char* json) {
  auto def = CompileProjection(Json::parse(json));
  INFO(def.status());
  REQUIRE(def.ok());
  return std::move(def).value();
}

Json Event(const char* data, int64_t position = 1, const char* type = "T") {
  return Json{{"position", position},
              {"stream", "s-1"},
              {"version", 0},
              {"id", "x"},
              {"type", type},
              {"data", Json::parse(data)},
              {"metadata", Json::object()},
              {"recorded_at", "2026-11-21T09:35:12.345Z"}};
}

}  // namespace

TEST_CASE("set, unset and the bookkeeping fields", "[projections][operations]") {
  auto def = Compile(R"({"name": "p", "key": "${stream}",
    "on": {"T": {"set": {"a": "${data.a}", "b": 1, "c": "x-${data.a}"}, "unset": ["gone"]}}})");
  std::optional<Json> doc;
  REQUIRE(ApplyEvent(def.on.at("T"), Event(R"({"a": 5})", 7), "s-1", 7, doc).ok());
  REQUIRE(doc);
  CHECK(
      *doc ==
      Json::parse(R"({"a": 5, "b": 1, "c": "x-5", "_key": "s-1", "_version": 1, "_position": 7})"));
  (*doc)["gone"] = true;
  REQUIRE(ApplyEvent(def.on.at("T"), Event(R"({"a": [1]})", 9), "s-1", 9, doc).ok());
  CHECK((*doc)["a"] == Json::parse("[1]"));
  CHECK_FALSE(doc->contains("gone"));
  CHECK((*doc)["_version"] == 2);
  CHECK((*doc)["_position"] == 9);
}

TEST_CASE("a missing document is created by set/inc/min/max/push, not by unset alone",
          "[projections][operations]") {
  auto def = Compile(R"({"name": "p", "key": "${stream}", "on": {
    "OnlyUnset": {"unset": ["x"]}, "Inc": {"inc": {"n": 2}}, "Min": {"min": {"m": 3}},
    "Max": {"max": {"m": 3}}, "Push": {"push": {"l": "${data.v}"}}}})");
  std::optional<Json> doc;
  REQUIRE(ApplyEvent(def.on.at("OnlyUnset"), Event("{}"), "k", 1, doc).ok());
  CHECK_FALSE(doc);
  for (const char* type : {"Inc", "Min", "Max", "Push"}) {
    INFO(type);
    std::optional<Json> fresh;
    REQUIRE(ApplyEvent(def.on.at(type), Event(R"({"v": 1})"), "k", 1, fresh).ok());
    REQUIRE(fresh);
    CHECK((*fresh)["_version"] == 1);
  }
}

TEST_CASE("inc adds numbers and refuses anything else", "[projections][operations]") {
  auto def =
      Compile(R"({"name": "p", "key": "${stream}", "on": {"T": {"inc": {"n": "${data.by}"}}}})");
  const auto& handler = def.on.at("T");
  std::optional<Json> doc;
  REQUIRE(ApplyEvent(handler, Event(R"({"by": 2})"), "k", 1, doc).ok());
  REQUIRE(ApplyEvent(handler, Event(R"({"by": 3})"), "k", 2, doc).ok());
  CHECK((*doc)["n"] == 5);
  CHECK((*doc)["n"].is_number_integer());
  REQUIRE(ApplyEvent(handler, Event(R"({"by": 0.5})"), "k", 3, doc).ok());
  CHECK((*doc)["n"] == 5.5);

  Json before = *doc;
  Status text = ApplyEvent(handler, Event(R"({"by": "12.50"})"), "k", 4, doc);
  CHECK(text.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(text.message(),
             Catch::Contains("inc.n: expected a number to add, got string \"12.50\""));
  CHECK(*doc == before);  // a failed event leaves the document as it was

  (*doc)["n"] = "five";
  Status not_number = ApplyEvent(handler, Event(R"({"by": 1})"), "k", 5, doc);
  CHECK_THAT(not_number.message(), Catch::Contains("the document's n is a string, not a number"));

  std::optional<Json> big = Json{{"n", std::numeric_limits<int64_t>::max()}};
  REQUIRE(ApplyEvent(handler, Event(R"({"by": 1})"), "k", 6, big).ok());
  CHECK((*big)["n"].is_number_float());  // no silent wrap-around

  Status missing = ApplyEvent(handler, Event(R"({})"), "k", 7, doc);
  CHECK_THAT(missing.message(),
             Catch::Contains("inc.n: template \"${data.by}\": data.by not found"));
}

TEST_CASE("min and max keep the extreme of numbers or of strings", "[projections][operations]") {
  auto def = Compile(R"({"name": "p", "key": "${stream}", "on": {
    "T": {"min": {"lo": "${data.v}", "first": "${recorded_at}"}, "max": {"hi": "${data.v}"}}}})");
  const auto& handler = def.on.at("T");
  std::optional<Json> doc;
  for (int v : {5, 2, 9, 4}) {
    REQUIRE(ApplyEvent(handler, Event(("{\"v\": " + std::to_string(v) + "}").c_str()), "k", 1, doc)
                .ok());
  }
  CHECK((*doc)["lo"] == 2);
  CHECK((*doc)["hi"] == 9);
  CHECK((*doc)["first"] == "2026-11-21T09:35:12.345Z");
  Status mixed = ApplyEvent(handler, Event(R"({"v": "x"})"), "k", 2, doc);
  CHECK_THAT(mixed.message(),
             Catch::Contains("min.lo: cannot compare the document's number with string"));
}

TEST_CASE("push appends and keeps the last N", "[projections][operations]") {
  auto def = Compile(R"({"name": "p", "key": "${stream}", "on": {
    "T": {"push": {"recent": {"value": "${data.v}", "limit": 3}, "all": "${data.v}"}}}})");
  const auto& handler = def.on.at("T");
  std::optional<Json> doc;
  for (int v = 1; v <= 5; ++v) {
    REQUIRE(ApplyEvent(handler, Event(("{\"v\": " + std::to_string(v) + "}").c_str()), "k", v, doc)
                .ok());
  }
  CHECK((*doc)["recent"] == Json::parse("[3, 4, 5]"));
  CHECK((*doc)["all"] == Json::parse("[1, 2, 3, 4, 5]"));
  (*doc)["all"] = 7;
  Status not_list = ApplyEvent(handler, Event(R"({"v": 6})"), "k", 6, doc);
  CHECK_THAT(not_list.message(),
             Catch::Contains("push.all: the document's all is a number, not a list"));
}

TEST_CASE("operations on one field in one event see each other, in order",
          "[projections][operations]") {
  // set, then unset, then inc, min, max, push: each sees what the earlier ones made.
  auto def = Compile(R"({"name": "p", "key": "${stream}", "on": {
    "T": {"set": {"n": 10, "l": [0]}, "inc": {"n": 5}, "max": {"n": 12}, "push": {"l": 1}},
    "U": {"unset": ["n"], "inc": {"n": 1}, "min": {"n": 0}},
    "Bad": {"set": {"l": 3}, "push": {"l": 4}}}})");
  std::optional<Json> doc;
  REQUIRE(ApplyEvent(def.on.at("T"), Event("{}"), "k", 1, doc).ok());
  CHECK((*doc)["n"] == 15);
  CHECK((*doc)["l"] == Json::parse("[0, 1]"));
  (*doc)["n"] = "text";  // unset first, so inc does not see it
  REQUIRE(ApplyEvent(def.on.at("U"), Event("{}"), "k", 2, doc).ok());
  CHECK((*doc)["n"] == 0);

  Json before = *doc;
  Status bad = ApplyEvent(def.on.at("Bad"), Event("{}"), "k", 3, doc);
  CHECK(bad.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(bad.message(), Catch::Contains("not a list"));
  CHECK(*doc == before);  // nothing of the failed event is applied
}

TEST_CASE("delete removes the document and a later event creates it afresh",
          "[projections][operations]") {
  auto def = Compile(R"({"name": "p", "key": "${stream}", "on": {
    "Put": {"set": {"v": "${data.v}"}, "inc": {"n": 1}}, "Del": {"delete": true}}})");
  std::optional<Json> doc;
  REQUIRE(ApplyEvent(def.on.at("Put"), Event(R"({"v": 1})"), "k", 1, doc).ok());
  REQUIRE(ApplyEvent(def.on.at("Put"), Event(R"({"v": 2})"), "k", 2, doc).ok());
  CHECK((*doc)["_version"] == 2);
  REQUIRE(ApplyEvent(def.on.at("Del"), Event("{}"), "k", 3, doc).ok());
  CHECK_FALSE(doc);
  REQUIRE(ApplyEvent(def.on.at("Del"), Event("{}"), "k", 4, doc).ok());  // deleting nothing is fine
  REQUIRE(ApplyEvent(def.on.at("Put"), Event(R"({"v": 3})"), "k", 5, doc).ok());
  CHECK(*doc == Json::parse(R"({"v": 3, "n": 1, "_key": "k", "_version": 1, "_position": 5})"));
}

TEST_CASE("keys are strings or numbers, never empty", "[projections][operations]") {
  auto key = [](const char* t, const char* data) {
    return EvaluateKey(*core::Template::Parse(t), Event(data));
  };
  CHECK(*key("${data.id}", R"({"id": "o-1"})") == "o-1");
  CHECK(*key("${data.id}", R"({"id": 42})") == "42");
  CHECK(*key("${data.r}|${recorded_at|bucket:1h}", R"({"r": "eu"})") ==
        "eu|2026-11-21T09:00:00.000Z");
  CHECK_THAT(key("${data.id}", R"({"id": ""})").status().message(), Catch::Contains("empty key"));
  CHECK_THAT(key("${data.id}", R"({"id": null})").status().message(), Catch::Contains("gave null"));
  CHECK_THAT(key("${data.id}", R"({"id": {"a": 1}})").status().message(),
             Catch::Contains("gave object"));
  CHECK_THAT(key("${data.id}", R"({})").status().message(),
             Catch::Contains("key: template \"${data.id}\""));
}

TEST_CASE("definitions: handler lookup and the event types worth reading",
          "[projections][definition]") {
  auto typed = Compile(
      R"({"name": "p", "key": "${stream}", "on": {"A": {"inc": {"n": 1}}, "B": {"delete": true}}})");
  CHECK(*typed.TypesToRead() == std::vector<std::string>{"A", "B"});
  CHECK(typed.HandlerFor("A") != nullptr);
  CHECK(typed.HandlerFor("C") == nullptr);
  auto star = Compile(R"({"name": "p", "key": "${stream}", "on": {"*": {"inc": {"n": 1}}}})");
  CHECK_FALSE(star.TypesToRead().has_value());
  CHECK(star.HandlerFor("Anything") != nullptr);
  auto from = Compile(
      R"({"name": "p", "key": "${stream}", "from": {"types": ["A", "Z"]}, "on": {"A": {"inc": {"n": 1}}}})");
  CHECK(*from.TypesToRead() == std::vector<std::string>{"A"});
  CHECK(typed.hash.size() == 64);
  CHECK(typed.hash != star.hash);
  auto bad =
      CompileProjection(Json::parse(R"({"name": "bad name", "key": 5, "on": {}, "extra": 1})"));
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("name: expected a name"));
  CHECK_THAT(bad.status().message(), Catch::Contains("key: expected a string"));
  CHECK_THAT(bad.status().message(),
             Catch::Contains("on: declare what at least one event type does"));
  CHECK_THAT(bad.status().message(), Catch::Contains("extra: unknown key"));
}

TEST_CASE("push: a limit written beside the field is refused, saying where it goes",
          "[projections]") {
  auto misplaced = CompileProjection(Json::parse(
      R"({"name": "p", "key": "${stream}", "on": {"A": {"push": {"tags": "${data.tag}", "limit": 3}}}})"));
  REQUIRE_FALSE(misplaced.ok());
  CHECK_THAT(misplaced.status().message(),
             Catch::Contains("on.A.push.limit: this would push 3 to a field named limit"));
  CHECK_THAT(misplaced.status().message(), Catch::Contains("{FIELD: {value: TEMPLATE, limit: N}}"));
  // Where it belongs, and a field named limit fed by a template, are fine.
  CHECK(CompileProjection(Json::parse(R"({"name": "p", "key": "${stream}",
      "on": {"A": {"push": {"tags": {"value": "${data.tag}", "limit": 3}, "limit": "${data.n}"}}}})"))
            .ok());
}
