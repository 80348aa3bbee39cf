#include <catch2/catch.hpp>
#include <set>

#include "core/base64.h"
#include "core/glob.h"
#include "core/json.h"
#include "core/json_path.h"
#include "core/utf8.h"
#include "core/uuid.h"

using namespace rivulet::core;

TEST_CASE("UUIDs parse, print and generate", "[uuid]") {
  auto id = Uuid::Parse("0190C2A4-7B7E-7CC1-9D8E-4F3C2B1A0D9E");
  REQUIRE(id.ok());
  CHECK(id->ToString() == "0190c2a4-7b7e-7cc1-9d8e-4f3c2b1a0d9e");
  CHECK(*Uuid::FromBytes(id->bytes_view()) == *id);
  for (const char* bad :
       {"", "0190c2a4", "0190c2a4-7b7e-7cc1-9d8e-4f3c2b1a0d9",
        "0190c2a4x7b7e-7cc1-9d8e-4f3c2b1a0d9e", "g190c2a4-7b7e-7cc1-9d8e-4f3c2b1a0d9e"}) {
    INFO(bad);
    CHECK_FALSE(Uuid::Parse(bad).ok());
  }
  std::set<std::string> seen;
  Uuid previous = Uuid::NewV7(1000);
  for (int i = 0; i < 1000; ++i) {
    Uuid v4 = Uuid::NewV4();
    CHECK(v4.version() == 4);
    CHECK(seen.insert(v4.ToString()).second);
    Uuid v7 = Uuid::NewV7(1001 + i);
    CHECK(v7.version() == 7);
    CHECK(previous < v7);  // later milliseconds sort later
    previous = v7;
  }
}

TEST_CASE("base64url round-trips any bytes", "[base64]") {
  for (std::string s : {std::string(""), std::string("1"), std::string("12"), std::string("123"),
                        std::string("42:1234567"), std::string("\x00\xff\xfe", 3)}) {
    auto decoded = Base64UrlDecode(Base64UrlEncode(s));
    REQUIRE(decoded);
    CHECK(*decoded == s);
  }
  CHECK(Base64UrlEncode("1") == "MQ");
  CHECK(*Base64UrlDecode("MQ==") == "1");
  CHECK_FALSE(Base64UrlDecode("M").has_value());
  CHECK_FALSE(Base64UrlDecode("M+Q").has_value());
}

TEST_CASE("globs match whole stream names", "[glob]") {
  CHECK(GlobMatch("order-*", "order-42"));
  CHECK(GlobMatch("order-*", "order-"));
  CHECK_FALSE(GlobMatch("order-*", "orders-42"));
  CHECK(GlobMatch("*-42", "order-42"));
  CHECK(GlobMatch("o?der-*-x", "order-1-2-x"));
  CHECK(GlobMatch("*", ""));
  CHECK_FALSE(GlobMatch("", "x"));
  CHECK(GlobMatch("a*b*c", "aXXbYYc"));
  CHECK_FALSE(GlobMatch("a*b*c", "aXXbYY"));
}

TEST_CASE("UTF-8 validation rejects malformed sequences", "[utf8]") {
  CHECK(IsValidUtf8("order-42"));
  CHECK(IsValidUtf8("Bestellung-\xc3\xa4-\xe2\x82\xac-\xf0\x9f\x98\x80"));
  CHECK_FALSE(IsValidUtf8("\xff"));
  CHECK_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  CHECK_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(IsValidUtf8("\xe2\x82"));          // truncated
  CHECK(HasControlCharacter(std::string("a\x01", 2)));
  CHECK(HasControlCharacter("a\tb"));
  CHECK_FALSE(HasControlCharacter("a b"));
}

TEST_CASE("JSON parsing reports errors and refuses deep nesting", "[json]") {
  CHECK(ParseJson(R"({"a": [1, 2]})").ok());
  auto bad = ParseJson("{\"a\": ");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::StartsWith("invalid JSON: "));
  CHECK_FALSE(ParseJson("\"\xff\"").ok());
  std::string deep(100000, '[');
  auto too_deep = ParseJson(deep);
  REQUIRE_FALSE(too_deep.ok());
  CHECK_THAT(too_deep.status().message(), Catch::Contains("nested deeper than 64"));
  std::string ok_depth = std::string(64, '[') + std::string(64, ']');
  CHECK(ParseJson(ok_depth).ok());
  CHECK(ParseJson(R"(["[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["])")
            .ok());

  std::string out;
  AppendJsonString(out, "a\"b\\c\n\x01");
  CHECK(out == R"("a\"b\\c\n\u0001")");
  CHECK(Json::parse(out) == "a\"b\\c\n\x01");
}

TEST_CASE("JSON paths parse and look values up", "[json]") {
  Json doc = Json::parse(R"({"a": {"b": [10, {"c": "x"}], "d-e": 1}})");
  CHECK(*FindJsonPath(doc, *ParseJsonPath("a.b[1].c")) == "x");
  CHECK(*FindJsonPath(doc, *ParseJsonPath("a.b.0")) == 10);
  CHECK(*FindJsonPath(doc, *ParseJsonPath("a.b[-2]")) == 10);
  CHECK(*FindJsonPath(doc, *ParseJsonPath("a[\"d-e\"]")) == 1);
  CHECK(FindJsonPath(doc, *ParseJsonPath("a.b[2]")) == nullptr);
  CHECK(FindJsonPath(doc, *ParseJsonPath("a.z")) == nullptr);
  for (const char* bad : {"", ".a", "a.", "a..b", "a[", "a[x]", "a]"}) {
    INFO(bad);
    CHECK_FALSE(ParseJsonPath(bad).ok());
  }
}
