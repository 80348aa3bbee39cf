#include "core/retry_policy.h"

#include <catch2/catch.hpp>

using namespace rivulet;
using core::Json;
using core::RetryPolicy;
using std::chrono::milliseconds;

TEST_CASE("retry delays grow by the backoff up to the maximum", "[core][retry]") {
  RetryPolicy p{5, milliseconds(100), 2.0, milliseconds(500), RetryPolicy::Jitter::kNone};
  CHECK(p.Delay(1, 0) == milliseconds(100));
  CHECK(p.Delay(2, 0) == milliseconds(200));
  CHECK(p.Delay(3, 0) == milliseconds(400));
  CHECK(p.Delay(4, 0) == milliseconds(500));
  CHECK(p.Delay(60, 0) == milliseconds(500));  // no overflow far out
  CHECK(p.AttemptsLeft(4));
  CHECK_FALSE(p.AttemptsLeft(5));
}

TEST_CASE("full jitter stays between zero and the delay and uses the whole range",
          "[core][retry]") {
  RetryPolicy p{5, milliseconds(100), 2.0, milliseconds(500), RetryPolicy::Jitter::kFull};
  milliseconds lowest(1000), highest(0);
  for (uint64_t r = 0; r < 2000; ++r) {
    milliseconds d = p.Delay(2, r * 7919);
    CHECK(d >= milliseconds(0));
    CHECK(d <= milliseconds(200));
    lowest = std::min(lowest, d);
    highest = std::max(highest, d);
  }
  CHECK(lowest < milliseconds(10));
  CHECK(highest > milliseconds(190));
}

TEST_CASE("retry policies are read with key paths in their errors", "[core][retry]") {
  core::JsonReader reader;
  auto p = core::ReadRetryPolicy(
      reader, Json::parse(R"({"max_attempts": 4, "initial_interval": "250ms", "jitter": "none"})"),
      "retry", RetryPolicy{});
  REQUIRE(p);
  CHECK(p->max_attempts == 4);
  CHECK(p->initial_interval == milliseconds(250));
  CHECK(p->max_interval == milliseconds(30'000));
  CHECK(p->jitter == RetryPolicy::Jitter::kNone);

  const std::pair<const char*, const char*> bad[] = {
      {R"({"max_attempts": 0})", "retry.max_attempts: must be between 1 and 1000, got 0"},
      {R"({"backoff": "x"})", "retry.backoff: expected a number"},
      {R"({"initial_interval": "fast"})", "retry.initial_interval: expected a duration like 30s"},
      {R"({"initial_interval": "1m", "max_interval": "1s"})",
       "retry.max_interval: must not be shorter than initial_interval"},
      {R"({"jitter": "some"})", "retry.jitter: expected one of full, none"},
      {R"({"tries": 3})", "retry.tries: unknown key"},
      {R"([1])", "retry: expected a mapping"},
  };
  for (const auto& [json, expected] : bad) {
    INFO(json);
    core::JsonReader errors;
    CHECK_FALSE(core::ReadRetryPolicy(errors, Json::parse(json), "retry", RetryPolicy{}));
    CHECK_THAT(errors.ErrorText(), Catch::Contains(expected));
  }
}
