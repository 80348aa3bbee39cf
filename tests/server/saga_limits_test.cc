// Sagas under a small server.max_body (the largest event the store keeps): what would
// make a saga event too large fails an attempt, an emit or a trigger once, visibly,
// instead of a write the store refuses on every try (the engine would stall or call the
// participant again and again).
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "core/json.h"
#include "tests/support/raw_http_server.h"
#include "tests/support/rivulet_server.h"

using namespace rivulet;
using namespace rivulet::testing;
using core::Json;

namespace {

Json Get(httplib::Client& client, const std::string& path, int expected = 200) {
  auto res = client.Get(path);
  REQUIRE(res);
  INFO(path << " -> " << res->status << " " << res->body);
  REQUIRE(res->status == expected);
  return Json::parse(res->body);
}

Json WaitTerminal(httplib::Client& client, const std::string& id) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    auto res = client.Get("/v1/sagas/big/" + id);
    REQUIRE(res);
    if (res->status == 200) {
      Json saga = Json::parse(res->body);
      const std::string status = saga["status"];
      if (status != "running" && status != "compensating") return saga;
    }
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void Trigger(httplib::Client& client, const std::string& id, const Json& data) {
  Json body{{"events", {{{"type", "Go"}, {"data", data}}}}};
  auto res = client.Post("/v1/streams/go-" + id, body.dump(), "application/json");
  REQUIRE(res);
  INFO(res->body);
  REQUIRE(res->status == 201);
}

}  // namespace

TEST_CASE("sagas: an answer, a request, an emit or a trigger too large for the store fail once",
          "[sagas][http][limits]") {
  std::atomic<int> big_calls{0};
  // /big answers 200 with a 40 KiB document: within the protocol's limit, over what a
  // 32 KiB store can keep in a StepSucceeded.
  RawHttpServer participant([&](const std::string& request, RawHttpServer::Connection& c) {
    if (request.rfind("POST /big", 0) == 0) {
      ++big_calls;
      c.Write(RawHttpServer::Response(200, Json{{"blob", std::string(40 * 1024, 'x')}}.dump()));
    } else {
      c.Write(RawHttpServer::Response(200, "{}"));
    }
  });
  RivuletServer server("  max_body: 32KiB", R"(
services: { svc: )" + participant.url() + R"( }
sagas:
  - name: big
    trigger: { type: Go }
    id: "${data.id}"
    retry: { max_attempts: 2, initial_interval: 10ms, jitter: none }
    compensation_retry: { max_attempts: 2, initial_interval: 10ms, jitter: none }
    steps:
      - name: first
        action: { call: svc, path: /ok }
        compensation: { call: svc, path: /undo }
      - name: second
        action: { call: svc, path: "/${trigger.data.path ?? \"ok\"}", body: { a: "${trigger.data.pad ?? \"\"}", b: "${trigger.data.pad ?? \"\"}" } }
    on_completed: { emit: { stream: "done-${saga.id}", type: Done, data: { a: "${trigger.data.emit ?? \"\"}", b: "${trigger.data.emit ?? \"\"}", c: "${trigger.data.emit ?? \"\"}" } } }
)");
  auto client = server.Client();

  SECTION("an answer too large to keep fails the attempt; the saga compensates, once") {
    Trigger(*client, "a", {{"id", "a"}, {"path", "big"}});
    Json saga = WaitTerminal(*client, "a");
    CHECK(saga["status"] == "compensated");
    CHECK_THAT(saga.dump(), Catch::Contains("the limit of an answer"));
    CHECK(big_calls.load() == 2);  // max_attempts, not forever
  }
  SECTION("a request too large to record fails the step before it is sent") {
    Trigger(*client, "b", {{"id", "b"}, {"pad", std::string(12 * 1024, 'p')}});
    Json saga = WaitTerminal(*client, "b");
    CHECK(saga["status"] == "compensated");
    CHECK_THAT(saga.dump(), Catch::Contains("a step's request is kept"));
  }
  SECTION("an emit too large is an emit error; the saga completes") {
    Trigger(*client, "c", {{"id", "c"}, {"emit", std::string(12 * 1024, 'e')}});
    Json saga = WaitTerminal(*client, "c");
    CHECK(saga["status"] == "completed");
    CHECK_THAT(saga.dump(), Catch::Contains("emit_error"));
    Get(*client, "/v1/streams/done-c", 404);
  }
  SECTION("a trigger whose SagaStarted would be too large is refused once; later ones run") {
    Trigger(*client, "d", {{"id", "d"}, {"filler", std::string(31 * 1024, 'f')}});
    Trigger(*client, "e", {{"id", "e"}});
    Json saga = WaitTerminal(*client, "e");
    CHECK(saga["status"] == "completed");
    Get(*client, "/v1/sagas/big/d", 404);
    auto metrics = client->Get("/metrics");
    REQUIRE(metrics);
    CHECK_THAT(metrics->body,
               Catch::Contains("rivulet_saga_triggers_refused_total{saga=\"big\"} 1"));
  }
}
