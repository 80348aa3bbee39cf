// Randomized inputs for every parser that sees untrusted text. Seeds are fixed, so a
// failure reproduces; the sanitizer build turns any memory error into a failure. The
// only assertion most cases need is "returns, with a value or an error".

#include <catch2/catch.hpp>
#include <random>

#include "core/base64.h"
#include "core/duration.h"
#include "core/filter.h"
#include "core/json.h"
#include "core/template.h"
#include "core/time_format.h"

using namespace rivulet::core;

namespace {

// Mutates `text`: flips, inserts, deletes and duplicates bytes, biased towards the
// characters the grammars care about.
std::string Mutate(std::mt19937_64& rng, std::string text) {
  static const char kInteresting[] = "${}[]()|?:.,\"\\$-0123456789 \n\t\x01\xff";
  int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    size_t pos = text.empty() ? 0 : rng() % (text.size() + 1);
    char c = rng() % 2 ? kInteresting[rng() % (sizeof(kInteresting) - 1)]
                       : static_cast<char>(rng() % 256);
    switch (rng() % 4) {
      case 0:
        if (pos < text.size()) text[pos] = c;
        break;
      case 1:
        text.insert(text.begin() + static_cast<std::ptrdiff_t>(pos), c);
        break;
      case 2:
        if (pos < text.size()) text.erase(pos, 1 + rng() % 3);
        break;
      default:
        if (pos < text.size()) text.insert(pos, text.substr(pos, 1 + rng() % 8));
    }
  }
  return text;
}

const Json& Context() {
  static const Json ctx =
      Json::parse(R"({"data": {"after": {"id": 42, "items": [{"sku": "a"}], "s": "x_y"},
                                          "before": null}, "recorded_at": "2026-11-21T09:35:12.345Z", "n": 7})");
  return ctx;
}

}  // namespace

TEST_CASE("fuzz: JSON parsing never crashes", "[fuzz]") {
  std::mt19937_64 rng(1);
  const std::string seeds[] = {R"({"a": [1, 2.5, "x", null, true, {"b": {}}]})", R"("\u00e9\n")",
                               "[[[[[]]]]]"};
  for (int i = 0; i < 5000; ++i) {
    std::string text = Mutate(rng, seeds[i % 3]);
    auto parsed = ParseJson(text);
    if (parsed.ok()) {
      CHECK(ParseJson(DumpJson(*parsed)).ok());  // whatever parses, serializes and re-parses
    }
  }
}

TEST_CASE("fuzz: templates parse or fail cleanly, and evaluate or fail cleanly", "[fuzz]") {
  std::mt19937_64 rng(2);
  const std::string seeds[] = {
      "order-${data.after.id}", "${data.before.id ?? data.after.items[0].sku | upper}",
      "${recorded_at|bucket:1h}-${n|string}", "${data.after.s|pascal|default:\"x\"}",
      "$${literal} ${\"lit\" ?? n}"};
  int parsed = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string text = Mutate(rng, seeds[i % 5]);
    auto t = Template::Parse(text);
    if (!t.ok()) {
      CHECK_FALSE(t.status().message().empty());
      continue;
    }
    ++parsed;
    auto value = t->Evaluate(Context());
    if (!value.ok()) CHECK_THAT(value.status().message(), Catch::Contains("template"));
  }
  CHECK(parsed > 100);  // the mutations also produce valid templates, which are evaluated
}

TEST_CASE("fuzz: filters parse or fail cleanly, and match without crashing", "[fuzz]") {
  std::mt19937_64 rng(3);
  const std::string seeds[] = {
      R"({"type": "A", "data.after.id": {"$gt": 1, "$lte": 100}})",
      R"({"$or": [{"data.after.items.sku": {"$in": ["a", "b"]}}, {"n": {"$not": {"$size": 2}}}]})",
      R"({"data.after.s": {"$regex": "^x_\\w+$", "$options": "i"}, "missing": {"$exists": false}})"};
  int parsed = 0;
  for (int i = 0; i < 5000; ++i) {
    auto json = ParseJson(Mutate(rng, seeds[i % 3]));
    if (!json.ok()) continue;
    auto filter = Filter::Parse(*json);
    if (!filter.ok()) {
      CHECK_FALSE(filter.status().message().empty());
      continue;
    }
    ++parsed;
    auto again = Filter::Parse(filter->source());  // a filter is fully described by its source
    REQUIRE(again.ok());
    CHECK(again->Matches(Context()) == filter->Matches(Context()));
  }
  CHECK(parsed > 100);
}

TEST_CASE("fuzz: timestamps, durations and tokens parse or fail cleanly", "[fuzz]") {
  std::mt19937_64 rng(4);
  for (int i = 0; i < 5000; ++i) {
    std::string ts = Mutate(rng, "2026-11-21T09:35:12.345+01:00");
    auto ms = ParseRfc3339(ts);
    if (ms.ok()) CHECK(ParseRfc3339(FormatRfc3339Millis(*ms)).ok());
    static_cast<void>(ParseDuration(Mutate(rng, "1h30m")));
    static_cast<void>(Base64UrlDecode(Mutate(rng, "MTIzNDU2")));
  }
}
