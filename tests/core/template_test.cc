#include "core/template.h"

#include <catch2/catch.hpp>

using rivulet::core::Json;
using rivulet::core::JsonTemplate;
using rivulet::core::Template;

namespace {

const Json& Context() {
  static const Json ctx = Json::parse(R"({
    "data": {"after": {"id": 42, "status": "pending", "total_amount": 99.5, "name": "order_created",
                       "items": [{"sku": "a"}, {"sku": "b"}], "nullv": null, "camel": "HTTPServerError"},
             "before": null},
    "operationType": "insert",
    "recorded_at": "2026-11-21T09:35:12.345Z",
    "ms": 1700000000123,
    "s": "12", "f": "1.5", "bad": "abc", "neg": "-7",
    "tags": ["x", "y"]
  })");
  return ctx;
}

struct Case {
  const char* tmpl;
  const char* expected;  // JSON text of the result
};

}  // namespace

TEST_CASE("templates evaluate to the documented values", "[template]") {
  const Case cases[] = {
      {"plain text", R"("plain text")"},
      {"", R"("")"},
      {"${data.after.id}", "42"},
      {"${ data.after.id }", "42"},
      {"order-${data.after.id}", R"("order-42")"},
      {"${data.after.total_amount}", "99.5"},
      {"${data.after.items[1].sku}", R"("b")"},
      {"${data.after.items[-1].sku}", R"("b")"},
      {"${data.after.items.0.sku}", R"("a")"},
      {"${data[\"after\"].status}", R"("pending")"},
      {"${data.after.missing ?? data.after.id}", "42"},
      {"${data.before.id ?? data.after.id}", "42"},
      {"${data.after.nullv ?? \"none\"}", R"("none")"},
      {"${data.after.nullv ?? 0}", "0"},
      {"${data.after.nullv}", "null"},
      {"${operationType|pascal}", R"("Insert")"},
      {"Order${operationType|pascal}", R"("OrderInsert")"},
      {"${data.after.name|pascal}", R"("OrderCreated")"},
      {"${data.after.name|camel}", R"("orderCreated")"},
      {"${data.after.camel|snake}", R"("http_server_error")"},
      {"${data.after.camel|pascal}", R"("HttpServerError")"},
      {"${data.after.status|upper}", R"("PENDING")"},
      {"${data.after.status|upper|lower}", R"("pending")"},
      {"${data.after.id|string}", R"("42")"},
      {"${s|number}", "12"},
      {"${neg|number}", "-7"},
      {"${f|number}", "1.5"},
      {"${data.after.total_amount|number}", "99.5"},
      {"${tags|json}", R"("[\"x\",\"y\"]")"},
      {"${data.after.missing|default:0}", "0"},
      {"${data.after.missing|default:none}", R"("none")"},
      {"${data.after.nullv|default:true}", "true"},
      {"${data.after.id|default:0}", "42"},
      {"${recorded_at|bucket:1h}", R"("2026-11-21T09:00:00.000Z")"},
      {"${recorded_at|bucket:15m}", R"("2026-11-21T09:30:00.000Z")"},
      {"${ms|bucket:1d}", R"("2023-11-14T00:00:00.000Z")"},
      {"${data.after.status}|${recorded_at|bucket:1h}", R"("pending|2026-11-21T09:00:00.000Z")"},
      {"$${literal}", R"("${literal}")"},
      {"${tags}", R"(["x","y"])"},
      {"a ${tags} b", R"("a [\"x\",\"y\"] b")"},
      {"${data.after.items}", R"([{"sku":"a"},{"sku":"b"}])"},
      {"${\"lit|eral\"}", R"("lit|eral")"},
      {"n=${data.after.nullv}", R"("n=null")"},
  };
  for (const Case& c : cases) {
    INFO("template: " << c.tmpl);
    auto t = Template::Parse(c.tmpl);
    REQUIRE(t.ok());
    auto value = t->Evaluate(Context());
    INFO("error: " << value.status());
    REQUIRE(value.ok());
    CHECK(*value == Json::parse(c.expected));
  }
}

TEST_CASE("malformed templates are rejected at parse time with the template and offset",
          "[template]") {
  const std::pair<const char*, const char*> cases[] = {
      {"${data.", "missing '}'"},
      {"order-${id", "missing '}' for '${' at offset 6"},
      {"${}", "expected a path or a literal"},
      {"${a|nope}", "unknown filter \"nope\""},
      {"${a|bucket:fast}", "bucket needs a duration"},
      {"${a|bucket}", "bucket needs a duration"},
      {"${a..b}", "expected a field name"},
      {"${a|default}", "default needs a value"},
      {"${a|upper:1}", "takes no argument"},
      {"${a[x]}", "expected an array index"},
      {"${a ?? }", "expected a path or a literal"},
      {"${a b}", "unexpected ' '"},
      {"${\"unterminated}", "missing '}'"},
  };
  for (const auto& [text, message] : cases) {
    INFO("template: " << text);
    auto t = Template::Parse(text);
    REQUIRE_FALSE(t.ok());
    CHECK_THAT(t.status().message(), Catch::Contains(message));
    CHECK_THAT(t.status().message(), Catch::Contains(std::string("template \"") + text + "\""));
  }
}

TEST_CASE("evaluation errors name the template and the missing path", "[template]") {
  const std::pair<const char*, const char*> cases[] = {
      {"${nope.x}", "template \"${nope.x}\": nope.x not found"},
      {"order-${documentKey.id}", "documentKey.id not found"},
      {"${a ?? b}", "none of a, b is set"},
      {"${data.after.id|upper}", "filter upper: expected a string, got number"},
      {"${bad|number}", "cannot convert \"abc\" to a number"},
      {"${data.after.status|bucket:1h}", "expected an RFC 3339 timestamp"},
      {"${data.after.items[5]}", "data.after.items[5] not found"},
      {"${missing|upper}", "missing not found"},
  };
  for (const auto& [text, message] : cases) {
    INFO("template: " << text);
    auto t = Template::Parse(text);
    REQUIRE(t.ok());
    auto value = t->Evaluate(Context());
    REQUIRE_FALSE(value.ok());
    CHECK_THAT(value.status().message(), Catch::Contains(message));
  }
}

TEST_CASE("templates report the paths they read", "[template]") {
  auto t = Template::Parse("${steps.payment.response.id ?? saga.id}-${trigger.data[0]}");
  REQUIRE(t.ok());
  auto paths = t->ReferencedPaths();
  REQUIRE(paths.size() == 3);
  CHECK(paths[0][0].key == "steps");
  CHECK(paths[0][1].key == "payment");
  CHECK(paths[1][0].key == "saga");
  CHECK(paths[2][1].key == "data");
  CHECK(paths[2][2].is_index);
  CHECK(Template::Parse("no templates")->is_constant());
}

TEST_CASE("JSON templates replace every template leaf and keep the shape", "[template]") {
  auto shape = Json::parse(R"({"before": "${data.before}", "after": "${data.after.id}",
                               "list": ["${s|number}", 1, "x-${operationType}"], "fixed": {"k": true}})");
  auto t = JsonTemplate::Parse(shape);
  REQUIRE(t.ok());
  auto value = t->Evaluate(Context());
  REQUIRE(value.ok());
  CHECK(*value ==
        Json::parse(
            R"({"before": null, "after": 42, "list": [12, 1, "x-insert"], "fixed": {"k": true}})"));

  auto bad = JsonTemplate::Parse(Json::parse(R"({"a": {"b": "${x|nope}"}})"));
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::StartsWith("a.b: template"));

  auto missing = JsonTemplate::Parse(Json::parse(R"({"a": ["${nope}"]})"));
  REQUIRE(missing.ok());
  auto failed = missing->Evaluate(Context());
  REQUIRE_FALSE(failed.ok());
  CHECK_THAT(failed.status().message(),
             Catch::StartsWith("a[0]: template \"${nope}\": nope not found"));
}

TEST_CASE("bucket refuses timestamps outside years 0000-9999 instead of overflowing",
          "[template]") {
  const Json ctx = Json::parse(R"({"max": 9223372036854775807, "min": -9223372036854775808,
                                   "huge": 1e300, "year10000": 253402300800000,
                                   "last": 253402300799999, "first": -62167219200000,
                                   "unsigned": 18446744073709551615})");
  for (const char* field : {"max", "min", "huge", "year10000", "unsigned"}) {
    INFO(field);
    auto t = Template::Parse(std::string("${") + field + "|bucket:1h}");
    REQUIRE(t.ok());
    auto value = t->Evaluate(ctx);
    REQUIRE_FALSE(value.ok());
    CHECK_THAT(value.status().message(), Catch::Contains("outside years 0000-9999"));
  }
  CHECK(*Template::Parse("${last|bucket:1d}")->Evaluate(ctx) == "9999-12-31T00:00:00.000Z");
  CHECK(*Template::Parse("${first|bucket:1d}")->Evaluate(ctx) == "0000-01-01T00:00:00.000Z");
  // A week bucket of the first instant would start before year 0000.
  CHECK_FALSE(Template::Parse("${first|bucket:7d}")->Evaluate(ctx).ok());
}
