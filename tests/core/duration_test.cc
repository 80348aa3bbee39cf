#include "core/duration.h"

#include <catch2/catch.hpp>
#include <limits>

#include "core/byte_size.h"
#include "core/clock.h"
#include "core/time_format.h"

using namespace rivulet::core;
using std::chrono::milliseconds;

TEST_CASE("durations parse in the config's units", "[duration]") {
  const std::pair<const char*, int64_t> good[] = {
      {"250ms", 250},      {"30s", 30'000},      {"5m", 300'000}, {"1h", 3'600'000},
      {"7d", 604'800'000}, {"1h30m", 5'400'000}, {"0s", 0}};
  for (const auto& [text, ms] : good) {
    INFO(text);
    auto d = ParseDuration(text);
    REQUIRE(d.ok());
    CHECK(d->count() == ms);
  }
  for (const char* text : {"fast", "", "30", "s", "-1s", "1.5s", "30 s", "1w", "99999999999d"}) {
    INFO(text);
    auto d = ParseDuration(text);
    REQUIRE_FALSE(d.ok());
    CHECK_THAT(d.status().message(), Catch::StartsWith("expected a duration like 30s, got \""));
  }
  CHECK(FormatDuration(milliseconds(90'000)) == "90s");
  CHECK(FormatDuration(milliseconds(7 * 86'400'000LL)) == "7d");
  CHECK(FormatDuration(milliseconds(1500)) == "1500ms");
}

TEST_CASE("sizes parse with binary units", "[size]") {
  CHECK(*ParseByteSize("4MiB") == 4u << 20);
  CHECK(*ParseByteSize("512KiB") == 512u << 10);
  CHECK(*ParseByteSize("1GiB") == 1u << 30);
  CHECK(*ParseByteSize("100") == 100u);
  CHECK(*ParseByteSize("100B") == 100u);
  for (const char* text : {"4MB", "big", "", "4 MiB", "-1KiB", "99999999999GiB"}) {
    INFO(text);
    auto s = ParseByteSize(text);
    REQUIRE_FALSE(s.ok());
    CHECK_THAT(s.status().message(), Catch::StartsWith("expected a size like 4MiB"));
  }
  CHECK(FormatByteSize(4u << 20) == "4MiB");
}

TEST_CASE("RFC 3339 timestamps round-trip with milliseconds in UTC", "[time]") {
  CHECK(FormatRfc3339Millis(0) == "1970-01-01T00:00:00.000Z");
  CHECK(FormatRfc3339Millis(1700000000123) == "2023-11-14T22:13:20.123Z");
  CHECK(FormatRfc3339Millis(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(FormatRfc3339Millis(951782400000) == "2000-02-29T00:00:00.000Z");
  CHECK(*ParseRfc3339("2023-11-14T22:13:20.123Z") == 1700000000123);
  CHECK(*ParseRfc3339("2023-11-14T23:13:20.123+01:00") == 1700000000123);
  CHECK(*ParseRfc3339("2023-11-14t22:13:20z") == 1700000000000);
  CHECK(*ParseRfc3339("2023-11-14 22:13:20.1234567Z") == 1700000000123);
  for (const char* text :
       {"2023-11-14", "2023-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2023-11-14T22:13:20",
        "2023-11-14T25:00:00Z", "yesterday", "2023-11-14T22:13:20.Z"}) {
    INFO(text);
    CHECK_FALSE(ParseRfc3339(text).ok());
  }
  for (int64_t ms : {int64_t{0}, int64_t{1}, int64_t{1700000000123}, int64_t{4102444800000}}) {
    CHECK(*ParseRfc3339(FormatRfc3339Millis(ms)) == ms);
  }
}

TEST_CASE("a manual clock only moves when told", "[clock]") {
  ManualClock clock;
  auto start = clock.NowMillis();
  clock.Advance(milliseconds(1500));
  CHECK(clock.NowMillis() == start + 1500);
  clock.SetTime(TimePoint(milliseconds(42)));
  CHECK(clock.NowMillis() == 42);
  CHECK(SystemClock::Default()->NowMillis() > 1'700'000'000'000);
}

TEST_CASE("timestamps outside years 0000-9999 are refused, never written as garbage", "[time]") {
  CHECK(*FormatTimestamp(kMaxRfc3339Millis) == "9999-12-31T23:59:59.999Z");
  CHECK(*FormatTimestamp(kMinRfc3339Millis) == "0000-01-01T00:00:00.000Z");
  for (int64_t ms : {kMaxRfc3339Millis + 1, kMinRfc3339Millis - 1, int64_t{253402300800000},
                     std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()}) {
    INFO(ms);
    auto text = FormatTimestamp(ms);
    REQUIRE_FALSE(text.ok());
    CHECK_THAT(text.status().message(), Catch::Contains("outside years 0000-9999"));
    // Rivulet's own instants are clamped to the range, never garbage.
    const std::string clamped = FormatRfc3339Millis(ms);
    CHECK((clamped == "9999-12-31T23:59:59.999Z" || clamped == "0000-01-01T00:00:00.000Z"));
  }
  CHECK(*ParseRfc3339("9999-12-31T23:59:59.999Z") == kMaxRfc3339Millis);
  CHECK(*ParseRfc3339("0000-01-01T00:00:00Z") == kMinRfc3339Millis);
  // An offset that moves the instant past either end.
  CHECK_THAT(ParseRfc3339("9999-12-31T23:30:00-01:00").status().message(),
             Catch::Contains("outside years 0000-9999"));
  CHECK_FALSE(ParseRfc3339("0000-01-01T00:30:00+01:00").ok());
}
