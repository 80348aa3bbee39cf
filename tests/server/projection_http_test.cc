#include <catch2/catch.hpp>
#include <thread>

#include "core/json.h"
#include "core/status_macros.h"
#include "eventstore/sqlite/sqlite_event_store.h"
#include "tests/support/rivulet_server.h"

using rivulet::core::Json;
using rivulet::testing::RivuletServer;

namespace {

const char* kProjections = R"(
projections:
  - name: orders
    from: { streams: ["order-*"] }
    key: "${stream}"
    on:
      OrderPlaced: { set: { status: placed, total: "${data.total}", customer: "${data.customer}" } }
      OrderPaid: { set: { status: paid } }
      OrderCancelled: { delete: true }
    indexes: [status, total]
  - name: counts
    key: "${stream}"
    on:
      "*": { inc: { count: 1 } }
)";

const char* kJson = "application/json";

std::string Append(const std::string& type, const Json& data) {
  return Json{{"events", {{{"type", type}, {"data", data}}}}}.dump();
}

Json Get(httplib::Client& client, const std::string& path, int expected_status = 200) {
  auto res = client.Get(path);
  REQUIRE(res);
  INFO(path << " -> " << res->body);
  REQUIRE(res->status == expected_status);
  return Json::parse(res->body);
}

std::string Url(const std::string& text) { return httplib::detail::encode_query_param(text); }

}  // namespace

TEST_CASE("HTTP projections: documents, read-your-writes, queries and rebuilds",
          "[http][projections]") {
  RivuletServer server("", kProjections);
  auto client = server.Client();
  int64_t position = 0;
  for (int i = 1; i <= 5; ++i) {
    auto res = client->Post(
        "/v1/streams/order-" + std::to_string(i),
        Append("OrderPlaced", {{"total", i * 10}, {"customer", i % 2 ? "odd" : "even"}}), kJson);
    REQUIRE(res);
    REQUIRE(res->status == 201);
    position = Json::parse(res->body)["position"];
  }
  auto paid = client->Post("/v1/streams/order-2", Append("OrderPaid", Json::object()), kJson);
  position = Json::parse(paid->body)["position"];

  Json doc =
      Get(*client, "/v1/projections/orders/order-2?min_position=" + std::to_string(position));
  CHECK(doc["status"] == "paid");
  CHECK(doc["_version"] == 2);
  CHECK(doc["_position"] == position);
  Get(*client, "/v1/projections/orders/order-9?min_position=" + std::to_string(position), 404);
  Json missing = Get(*client, "/v1/projections/nope/order-1", 404);
  CHECK(missing["error"] == "not_found");

  auto query = client->Get("/v1/projections/orders?match=" + Url(R"({"status":"placed"})") +
                           "&sort=-total&limit=2&min_position=" + std::to_string(position));
  REQUIRE(query);
  REQUIRE(query->status == 200);
  CHECK(query->get_header_value("Rivulet-Query-Plan") == "index");
  Json page = Json::parse(query->body);
  REQUIRE(page["items"].size() == 2);
  CHECK(page["items"][0]["_key"] == "order-5");
  CHECK(page["items"][1]["_key"] == "order-4");
  Json next =
      Get(*client, "/v1/projections/orders?match=" + Url(R"({"status":"placed"})") +
                       "&sort=-total&limit=2&cursor=" + page["next_cursor"].get<std::string>());
  REQUIRE(next["items"].size() == 2);
  CHECK(next["items"][0]["_key"] == "order-3");
  CHECK(next["items"][1]["_key"] == "order-1");
  CHECK(next["next_cursor"].is_null());
  auto scan = client->Get("/v1/projections/orders?match=" + Url(R"({"customer":"odd"})"));
  CHECK(scan->get_header_value("Rivulet-Query-Plan") == "scan");
  CHECK(Json::parse(scan->body)["items"].size() == 3);

  // Cancelled orders disappear; the counts projection saw every event.
  auto cancelled =
      client->Post("/v1/streams/order-3", Append("OrderCancelled", Json::object()), kJson);
  position = Json::parse(cancelled->body)["position"];
  Get(*client, "/v1/projections/orders/order-3?min_position=" + std::to_string(position), 404);
  CHECK(Get(*client, "/v1/projections/counts/order-3?min_position=" +
                         std::to_string(position))["count"] == 2);

  Json list = Get(*client, "/v1/projections");
  REQUIRE(list["projections"].size() == 2);
  CHECK(list["projections"][0]["name"] == "orders");
  CHECK(list["projections"][0]["state"] == "running");
  CHECK(list["projections"][0]["lag"] == 0);

  auto rebuild = client->Post("/v1/projections/orders/rebuild", "", kJson);
  REQUIRE(rebuild);
  CHECK(rebuild->status == 202);
  CHECK(Json::parse(rebuild->body)["state"] == "rebuilding");
  for (int i = 0; i < 500; ++i) {
    Json status = Get(*client, "/v1/projections")["projections"][0];
    if (status["generation"] == 2 && status["state"] == "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(Get(*client, "/v1/projections")["projections"][0]["generation"] == 2);
  CHECK(Get(*client, "/v1/projections/orders/order-2")["status"] == "paid");

  std::string metrics = client->Get("/metrics")->body;
  CHECK_THAT(metrics, Catch::Contains("rivulet_projection_position{projection=\"orders\"}"));
  CHECK_THAT(metrics, Catch::Contains("rivulet_projection_lag_events{projection=\"counts\"} 0"));
  CHECK_THAT(metrics, Catch::Contains(
                          "rivulet_projection_state{projection=\"orders\",state=\"running\"} 1"));
  CHECK_THAT(metrics,
             Catch::Contains("rivulet_projection_events_applied_total{projection=\"counts\"}"));
}

TEST_CASE("HTTP projections: every bad query parameter is a 400",
          "[http][projections][bad-input]") {
  RivuletServer server("", kProjections);
  auto client = server.Client();
  REQUIRE(client
              ->Post("/v1/streams/order-1",
                     Append("OrderPlaced", {{"total", 1}, {"customer", "c"}}), kJson)
              ->status == 201);
  const std::pair<std::string, std::string> cases[] = {
      {"/v1/projections/orders?match=%7Bbad", "match: invalid JSON"},
      {"/v1/projections/orders?match=" + Url(R"({"a":{"$nope":1}})"), "unknown operator $nope"},
      {"/v1/projections/orders?match=" + Url("[1]"), "a filter must be an object"},
      {"/v1/projections/orders?sort=a%20b", "sort: expected field names"},
      {"/v1/projections/orders?sort=total,total", "listed twice"},
      {"/v1/projections/orders?limit=0", "limit"},
      {"/v1/projections/orders?limit=1001", "limit"},
      {"/v1/projections/orders?limit=ten", "limit"},
      {"/v1/projections/orders?cursor=xyz", "cursor"},
      {"/v1/projections/orders?min_position=-1", "min_position"},
      {"/v1/projections/orders?min_position=soon", "min_position"},
      {"/v1/projections/orders?wait_ms=70000", "wait_ms"},
      {"/v1/projections/orders?offset=10", "unknown query parameter \"offset\""},
      {"/v1/projections/orders?limit=1&limit=2", "more than once"},
      {"/v1/projections/orders/order-1?match=%7B%7D", "unknown query parameter \"match\""},
      {"/v1/projections/orders/order-1?wait_ms=x", "wait_ms"},
      {"/v1/projections?x=1", "unknown query parameter"},
  };
  for (const auto& [path, message] : cases) {
    INFO(path);
    auto res = client->Get(path);
    REQUIRE(res);
    CHECK(res->status == 400);
    Json body = Json::parse(res->body);
    CHECK(body["error"] == "invalid_argument");
    CHECK_THAT(body["message"].get<std::string>(), Catch::Contains(message));
  }
  // A page from one query is not a cursor for another.
  Json page = Get(*client, "/v1/projections/orders?sort=-total&limit=1");
  REQUIRE(page["next_cursor"].is_null());  // one document: no next page
  auto wrong =
      client->Get("/v1/projections/orders?sort=total&cursor=" +
                  std::string("eyJrIjoieCIsInEiOiIwIiwidiI6WzFdfQ"));  // {"k":"x","q":"0","v":[1]}
  CHECK(wrong->status == 400);
  // Waiting for a position that never comes is a timeout, not a hang.
  auto late = client->Get("/v1/projections/orders/order-1?min_position=999&wait_ms=100");
  REQUIRE(late);
  CHECK(late->status == 504);
  CHECK(Json::parse(late->body)["error"] == "timeout");
  CHECK(client->Post("/v1/projections/nope/rebuild", "", kJson)->status == 404);

  // An event the projection cannot apply (no customer) fails it; waiting past it is a 503.
  auto bad = client->Post("/v1/streams/order-2", Append("OrderPlaced", {{"total", 2}}), kJson);
  int64_t position = Json::parse(bad->body)["position"];
  for (int i = 0; i < 500 && Get(*client, "/v1/projections")["projections"][0]["state"] != "failed";
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Json failed = Get(*client, "/v1/projections")["projections"][0];
  CHECK(failed["state"] == "failed");
  CHECK(failed["failed_position"] == position);
  CHECK_THAT(failed["last_error"].get<std::string>(), Catch::Contains("data.customer not found"));
  auto never =
      client->Get("/v1/projections/orders/order-2?min_position=" + std::to_string(position));
  CHECK(never->status == 503);
  CHECK_THAT(Json::parse(never->body)["message"].get<std::string>(),
             Catch::Contains("failed at position"));
  CHECK(Get(*client, "/v1/projections/counts/order-2?min_position=" +
                         std::to_string(position))["count"] == 1);
}

TEST_CASE("HTTP projections: rebuild needs the admin role", "[http][projections][auth]") {
  RivuletServer server(
      "  tokens:\n"
      "    - { name: ops, token: admin-token-0123456789, role: admin }\n"
      "    - { name: app, token: write-token-0123456789, role: write }\n",
      kProjections);
  auto client = server.Client();
  httplib::Headers writer = {{"Authorization", "Bearer write-token-0123456789"}};
  httplib::Headers admin = {{"Authorization", "Bearer admin-token-0123456789"}};
  CHECK(client->Post("/v1/projections/orders/rebuild", writer, "", kJson)->status == 403);
  CHECK(client->Post("/v1/projections/orders/rebuild", admin, "", kJson)->status == 202);
  CHECK(client->Get("/v1/projections", writer)->status == 200);
  CHECK(client->Get("/v1/projections")->status == 401);
}

TEST_CASE("HTTP projections: kill -9 mid-batch never applies an event twice or loses one",
          "[http][projections][crash]") {
  RivuletServer server("", kProjections);
  server.Stop();
  // 100,000 events in 100 streams, written directly so the server starts far behind.
  constexpr int kEvents = 100'000, kStreams = 100;
  {
    rivulet::eventstore::sqlite::SqliteStoreOptions options;
    options.path = server.dir().File("rivulet.db");
    auto store = rivulet::eventstore::sqlite::OpenSqliteEventStore(options);
    REQUIRE(store.ok());
    for (int start = 0; start < kEvents; start += 1000) {
      REQUIRE((*store)
                  ->Write([&](rivulet::eventstore::Transaction& tx) -> rivulet::Status {
                    for (int i = start; i < start + 1000; ++i) {
                      rivulet::eventstore::AppendRequest r;
                      r.stream = "s-" + std::to_string(i % kStreams);
                      rivulet::eventstore::EventData e;
                      e.type = "Tick";
                      r.events.push_back(e);
                      RETURN_IF_ERROR(tx.Append(r).status());
                    }
                    return rivulet::Status::Ok();
                  })
                  .ok());
    }
  }
  int kills_mid_build = 0;
  for (int round = 0; round < 3; ++round) {
    server.Start();
    auto client = server.Client();
    // Kill as soon as the counts projection has made some progress, before it is done.
    for (int i = 0; i < 2000; ++i) {
      Json status = Get(*client, "/v1/projections")["projections"][1];
      int64_t p = status["position"];
      if (p > 0) {
        if (p < kEvents) ++kills_mid_build;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    server.Crash();
  }
  server.Start();
  auto client = server.Client();
  int64_t total = 0;
  for (int s = 0; s < kStreams; ++s) {
    Json doc = Get(*client, "/v1/projections/counts/s-" + std::to_string(s) +
                                "?min_position=" + std::to_string(kEvents) + "&wait_ms=60000");
    CHECK(doc["count"] == kEvents / kStreams);
    total += doc["count"].get<int64_t>();
  }
  CHECK(total == kEvents);
  CHECK(kills_mid_build > 0);  // at least one kill landed while the copy was being built
}
