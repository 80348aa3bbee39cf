#include <catch2/catch.hpp>
#include <chrono>
#include <random>
#include <thread>

#include "core/json.h"
#include "tests/support/example_services.h"
#include "tests/support/rivulet_server.h"

using namespace rivulet;
using namespace rivulet::testing;
using core::Json;
using std::chrono::milliseconds;

namespace {

// The order-fulfillment saga against `services`, with short retry intervals.
std::string SagaYaml(const ExampleServices& services) {
  const std::string url = services.url();
  return "services:\n  payments: " + url + "\n  inventory: " + url + "\n  shipping: " + url +
         "\n  notifications: " + url + R"(
sagas:
  - name: fulfil
    trigger: { type: OrderPlaced, match: { data.total: { $gt: 0 } } }
    id: "${stream}"
    timeout: 2m
    retry: { max_attempts: 6, initial_interval: 20ms, backoff: 2.0, max_interval: 200ms }
    compensation_retry: { max_attempts: 20, initial_interval: 20ms, max_interval: 200ms }
    steps:
      - name: payment
        action: { call: payments, path: /payments, body: { order_id: "${saga.id}", amount: "${trigger.data.total}" } }
        timeout: 2s
        compensation: { call: payments, path: "/payments/by-order/${saga.id}/refund" }
      - name: reserve
        action: { call: inventory, path: /reservations, body: { order_id: "${saga.id}" } }
        timeout: 2s
        compensation: { call: inventory, method: DELETE, path: "/reservations/by-order/${saga.id}" }
      - name: ship
        action: { call: shipping, path: /shipments, body: { order_id: "${saga.id}" } }
        timeout: 2s
        compensation: { call: shipping, method: DELETE, path: "/shipments/by-order/${saga.id}" }
      - name: notify
        action: { call: notifications, path: /notifications, body: { order_id: "${saga.id}" } }
        timeout: 2s
    on_completed: { emit: { stream: "${saga.id}", type: OrderFulfilled } }
    on_compensated: { emit: { stream: "${saga.id}", type: OrderFulfillmentFailed, data: { reason: "${saga.error}" } } }
runtime: { saga_workers: 16 }
)";
}

Json Get(httplib::Client& client, const std::string& path, int expected = 200) {
  auto res = client.Get(path);
  REQUIRE(res);
  INFO(path << " -> " << res->status << " " << res->body);
  REQUIRE(res->status == expected);
  return Json::parse(res->body);
}

Json WaitForStatus(httplib::Client& client, const std::string& id,
                   const std::vector<std::string>& statuses) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    auto res = client.Get("/v1/sagas/fulfil/" + id);
    if (res && res->status == 200) {
      Json d = Json::parse(res->body);
      const std::string last = d["history"].back()["type"];
      bool finished = last == "SagaCompleted" || last == "SagaCompensated" ||
                      last == "SagaAborted" || last == "SagaFailed";
      for (const auto& s : statuses) {
        if (d["status"] == s && finished) return d;
      }
    }
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(20));
  }
}

}  // namespace

TEST_CASE("HTTP: sagas are started, listed, shown, aborted and refused bad input",
          "[sagas][http]") {
  ExampleServices services;
  RivuletServer server("", SagaYaml(services));
  auto client = server.Client();

  // A trigger appended through the API starts an instance.
  auto appended = client->Post("/v1/streams/order-1",
                               R"({"events": [{"type": "OrderPlaced", "data": {"total": 5}}]})",
                               "application/json");
  REQUIRE(appended);
  REQUIRE(appended->status == 201);
  Json done = WaitForStatus(*client, "order-1", {"completed"});
  CHECK(done["steps"].size() == 4);
  Json order = Get(*client, "/v1/streams/order-1");
  CHECK(order["events"].back()["type"] == "OrderFulfilled");

  // By hand, with and without an id.
  auto started =
      client->Post("/v1/sagas/fulfil", R"({"id": "hand-1", "input": {"data": {"total": 2}}})",
                   "application/json");
  REQUIRE(started);
  CHECK(started->status == 201);
  CHECK(Json::parse(started->body)["id"] == "hand-1");
  auto again = client->Post("/v1/sagas/fulfil", R"({"id": "hand-1"})", "application/json");
  REQUIRE(again);
  CHECK(again->status == 409);
  auto anonymous = client->Post("/v1/sagas/fulfil", R"({"input": {}})", "application/json");
  REQUIRE(anonymous);
  CHECK(anonymous->status == 201);
  WaitForStatus(*client, "hand-1", {"completed"});

  // Listing: filters and a cursor that visits every instance once.
  std::set<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    Json list =
        Get(*client, "/v1/sagas?name=fulfil&limit=1" + (cursor.empty() ? "" : "&cursor=" + cursor));
    for (const auto& item : list["sagas"]) CHECK(seen.insert(item["id"].get<std::string>()).second);
    if (list["next_cursor"].is_null()) break;
    cursor = list["next_cursor"];
  }
  CHECK(seen.size() == 3);
  Json completed = Get(*client, "/v1/sagas?status=completed");
  CHECK(completed["sagas"].size() >= 2);

  // Abort of a finished instance conflicts; retry of one that did not fail too.
  auto abort =
      client->Post("/v1/sagas/fulfil/hand-1/abort", R"({"reason": "late"})", "application/json");
  REQUIRE(abort);
  CHECK(abort->status == 409);
  auto retry = client->Post("/v1/sagas/fulfil/hand-1/retry", "", "application/json");
  REQUIRE(retry);
  CHECK(retry->status == 409);

  // Bad input: a 4xx that names the problem, and nothing written.
  const std::pair<std::string, int> bad_gets[] = {
      {"/v1/sagas?status=sleeping", 400}, {"/v1/sagas?limit=0", 400},
      {"/v1/sagas?cursor=%%%", 400},      {"/v1/sagas?cursor=bm9wZQ", 400},
      {"/v1/sagas?color=red", 400},       {"/v1/sagas/fulfil/nobody", 404},
      {"/v1/sagas/nosuch/x", 404},
  };
  for (const auto& [path, status] : bad_gets) {
    INFO(path);
    auto res = client->Get(path);
    REQUIRE(res);
    CHECK(res->status == status);
    CHECK(Json::parse(res->body).contains("error"));
  }
  const std::tuple<std::string, std::string, int> bad_posts[] = {
      {"/v1/sagas/nosuch", "{}", 404},
      {"/v1/sagas/fulfil", "[1]", 400},
      {"/v1/sagas/fulfil", "{\"input\": 3}", 400},
      {"/v1/sagas/fulfil", "{\"id\": 7}", 400},
      {"/v1/sagas/fulfil", "{\"id\": \"a/b\"}", 400},
      {"/v1/sagas/fulfil", "{\"colour\": 1}", 400},
      {"/v1/sagas/fulfil", "{not json", 400},
      {"/v1/sagas/fulfil/hand-1/abort", "{\"why\": 1}", 400},
      {"/v1/sagas/fulfil/nobody/abort", "", 404},
  };
  for (const auto& [path, body, status] : bad_posts) {
    INFO(path << " " << body);
    auto res = client->Post(path, body, "application/json");
    REQUIRE(res);
    CHECK(res->status == status);
  }
  CHECK(Get(*client, "/v1/sagas")["sagas"].size() == 3);
}

TEST_CASE("crash: 300 sagas survive five SIGKILLs of rivulet serve, every effect once",
          "[sagas][crash]") {
  ExampleServices services({"--latency-ms", "3", "--error-rate", "0.1", "--seed", "7"});
  // Every tenth order is refused at shipping, so it compensates payment and reserve.
  Json refused = Json::array();
  for (int i = 0; i < 300; i += 10) refused.push_back("order-" + std::to_string(i));
  services.Control({{"fail_orders", refused}, {"fail_paths", {"/shipments"}}});

  RivuletServer server("", SagaYaml(services));
  {
    auto client = server.Client();
    for (int i = 0; i < 300; ++i) {
      auto res = client->Post("/v1/streams/order-" + std::to_string(i),
                              R"({"events": [{"type": "OrderPlaced", "data": {"total": 10}}]})",
                              "application/json");
      REQUIRE(res);
      REQUIRE(res->status == 201);
    }
  }
  std::mt19937 rng(42);
  for (int kill = 0; kill < 5; ++kill) {
    std::this_thread::sleep_for(milliseconds(std::uniform_int_distribution<int>(50, 400)(rng)));
    server.Crash();
    server.Start();
  }

  auto client = server.Client();
  int completed = 0, compensated = 0;
  Json state;
  for (int i = 0; i < 300; ++i) {
    const std::string id = "order-" + std::to_string(i);
    Json d = WaitForStatus(*client, id, {"completed", "compensated"});
    (d["status"] == "completed" ? completed : compensated)++;
  }
  state = services.State();
  for (int i = 0; i < 300; ++i) {
    const std::string id = "order-" + std::to_string(i);
    INFO(id);
    Json d = Get(*client, "/v1/sagas/fulfil/" + id);
    const bool refused_order = i % 10 == 0;
    if (d["status"] == "completed") {
      CHECK_FALSE(refused_order);
      for (const char* step : {"payment", "reserve", "ship", "notify"}) {
        CHECK(state["applied"]["fulfil/" + id + "/" + step + "/action"] == 1);
      }
      CHECK(state["payments"][id]["status"] == "captured");
      CHECK(state["reservations"].contains(id));
      CHECK(state["shipments"].contains(id));
    } else {
      // Nothing left behind: no captured payment, no reservation, no shipment.
      CHECK((!state["payments"].contains(id) || state["payments"][id]["status"] == "refunded"));
      CHECK_FALSE(state["reservations"].contains(id));
      CHECK_FALSE(state["shipments"].contains(id));
      for (const char* step : {"payment", "reserve"}) {
        CHECK(state["applied"].value("fulfil/" + id + "/" + std::string(step) + "/action", 0) <= 1);
      }
    }
  }
  CHECK(compensated >= 30);  // the refused orders, at least
  CHECK(completed + compensated == 300);
  // Exactly one instance per order, each with one terminal emit.
  Json list = Get(*client, "/v1/sagas?limit=1000");
  CHECK(list["sagas"].size() == 300);
  for (int i = 0; i < 300; i += 37) {
    Json events = Get(*client, "/v1/streams/order-" + std::to_string(i));
    CHECK(events["events"].size() == 2);  // OrderPlaced and one of OrderFulfilled/...Failed
  }
}
