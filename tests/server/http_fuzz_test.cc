// Mutated requests against a real server: every answer is 201 or a JSON 4xx error, the
// server stays up, and the log holds exactly the events of the 201 answers.

#include <catch2/catch.hpp>

#include <random>

#include "core/json.h"
#include "tests/support/rivulet_server.h"

using rivulet::core::Json;
using rivulet::testing::RivuletServer;

TEST_CASE("HTTP fuzz: mutated appends either commit or change nothing", "[http][fuzz][bad-input]") {
  RivuletServer server("  max_body: 64KiB\n");
  auto client = server.Client();
  std::mt19937_64 rng(6);
  const std::string seed =
      R"({"expected_version":"any","events":[{"id":"0190c2a4-7b7e-7cc1-9d8e-4f3c2b1a0d9e","type":"OrderPlaced",)"
      R"("data":{"total":12.5,"items":[{"sku":"a"}]},"metadata":{"correlation_id":"c"}},{"type":"T","data":{}}]})";
  static const char kInteresting[] = "{}[]:,\"\\0123456789-.eE tfn\x01\xff";
  int64_t committed = 0;
  int answers_4xx = 0;
  for (int i = 0; i < 400; ++i) {
    std::string body = seed;
    for (int e = 0; e < 1 + static_cast<int>(rng() % 3); ++e) {
      size_t pos = rng() % body.size();
      char c = kInteresting[rng() % (sizeof(kInteresting) - 1)];
      switch (rng() % 3) {
        case 0: body[pos] = c; break;
        case 1: body.insert(body.begin() + static_cast<std::ptrdiff_t>(pos), c); break;
        default: body.erase(pos, 1 + rng() % 4);
      }
    }
    std::string stream = "fuzz-" + std::to_string(i % 7);
    if (rng() % 10 == 0) stream += "%" + std::to_string(rng() % 100);  // sometimes a bad escape or name
    auto res = client->Post("/v1/streams/" + stream, body, "application/json");
    REQUIRE(res);  // the server answered
    INFO("body: " << body);
    if (res->status == 201) {
      Json result = Json::parse(res->body);
      if (res->get_header_value("Rivulet-Deduplicated") != "true") {
        committed += result["last_version"].get<int64_t>() - result["first_version"].get<int64_t>() + 1;
      }
      continue;
    }
    ++answers_4xx;
    CHECK((res->status == 400 || res->status == 404 || res->status == 409 || res->status == 413));
    Json error = Json::parse(res->body, nullptr, false);
    REQUIRE(error.is_object());
    CHECK(error.contains("error"));
    CHECK(error.contains("message"));
  }
  CHECK(answers_4xx > 100);
  CHECK(client->Get("/v1/health")->status == 200);
  Json log = Json::parse(client->Get("/v1/events?limit=10000")->body);
  CHECK(static_cast<int64_t>(log["events"].size()) == committed);
}
