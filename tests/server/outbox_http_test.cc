#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "core/json.h"
#include "tests/support/rivulet_server.h"
#include "tests/support/webhook_receiver.h"

using namespace rivulet;
using namespace rivulet::testing;
using core::Json;
using std::chrono::milliseconds;

namespace {

std::string OutboxYaml(int port) {
  return R"(outbox:
  destinations:
    - { name: hooks, type: http, url: "http://127.0.0.1:)" +
         std::to_string(port) + R"(/hooks", secret: hook-secret }
  publish:
    - { match: { type: OrderShipped }, to: [hooks] }
  retry: { max_attempts: 50, initial_interval: 50ms, max_interval: 500ms }
)";
}

}  // namespace

TEST_CASE("outbox: kill -9 of the relay mid-batch re-delivers with the same ids, once each",
          "[outbox][crash]") {
  // Slow enough (2 ms a request) to be killed mid-batch.
  WebhookReceiver hook("hook-secret", milliseconds(2));
  RivuletServer server("", OutboxYaml(hook.port()));
  {
    auto client = server.Client();
    for (int i = 0; i < 400; ++i) {
      auto res = client->Post(
          "/v1/streams/order-" + std::to_string(i % 20),
          R"({"events": [{"type": "OrderShipped", "data": {"n": )" + std::to_string(i) + "}}]}",
          "application/json");
      REQUIRE(res);
      REQUIRE(res->status == 201);
    }
  }
  std::mt19937 rng(3);
  for (int kill = 0; kill < 3; ++kill) {
    std::this_thread::sleep_for(milliseconds(std::uniform_int_distribution<int>(20, 150)(rng)));
    server.Crash();
    server.Start();
  }
  auto client = server.Client();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    auto res = client->Get("/v1/outbox?status=pending&limit=1");
    REQUIRE(res);
    REQUIRE(res->status == 200);
    if (Json::parse(res->body)["messages"].empty()) break;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(50));
  }
  const WebhookReceiver::Seen seen = hook.seen();
  CHECK(seen.bad_signatures == 0);
  CHECK(seen.firsts.size() == 400);  // every message, once after deduplication
  std::map<std::string, int> last;
  for (const Json& event : seen.firsts) {  // and in order per stream
    const std::string key = event["stream"];
    if (last.count(key)) CHECK(event["data"]["n"].get<int>() > last[key]);
    last[key] = event["data"]["n"];
  }
  Json delivered = Json::parse(client->Get("/v1/outbox?status=delivered&limit=1000")->body);
  CHECK(delivered["messages"].size() == 400);
}

TEST_CASE("outbox: listing pages and bad parameters over HTTP", "[outbox][http]") {
  RivuletServer server("", R"(outbox:
  destinations:
    - { name: nowhere, type: http, url: "http://127.0.0.1:1/x" }
  publish:
    - { match: { type: A }, to: [nowhere] }
  retry: { max_attempts: 1, initial_interval: 10ms }
)");
  auto client = server.Client();
  for (int i = 0; i < 3; ++i) {
    REQUIRE(client
                ->Post("/v1/streams/s-" + std::to_string(i),
                       R"({"events": [{"type": "A", "data": {}}]})", "application/json")
                ->status == 201);
  }
  // Connection refused, one attempt allowed: all three end dead, with the error.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  Json dead;
  while (true) {
    dead = Json::parse(client->Get("/v1/outbox?status=dead&destination=nowhere")->body);
    if (dead["messages"].size() == 3) break;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(20));
  }
  CHECK(dead["messages"][0]["last_error"].get<std::string>().find("Connection") !=
        std::string::npos);
  std::set<std::string> ids;
  std::string cursor;
  for (int page = 0; page < 5; ++page) {
    Json list = Json::parse(
        client->Get("/v1/outbox?limit=1" + (cursor.empty() ? "" : "&cursor=" + cursor))->body);
    for (const auto& m : list["messages"]) CHECK(ids.insert(m["id"].get<std::string>()).second);
    if (list["next_cursor"].is_null()) break;
    cursor = list["next_cursor"];
  }
  CHECK(ids.size() == 3);

  auto retried =
      client->Post("/v1/outbox/" + dead["messages"][0]["id"].get<std::string>() + "/retry", "",
                   "application/json");
  REQUIRE(retried);
  CHECK(retried->status == 200);
  CHECK(Json::parse(retried->body)["status"] == "pending");
  for (const std::string path : {"/v1/outbox?status=lost", "/v1/outbox?limit=0",
                                 "/v1/outbox?cursor=x", "/v1/outbox?colour=1"}) {
    INFO(path);
    auto res = client->Get(path);
    REQUIRE(res);
    CHECK(res->status == 400);
  }
  auto missing = client->Post("/v1/outbox/nope/retry", "", "application/json");
  REQUIRE(missing);
  CHECK(missing->status == 404);
}
