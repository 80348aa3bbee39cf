#include <atomic>
#include <catch2/catch.hpp>
#include <mutex>
#include <thread>

#include "core/json.h"
#include "core/uuid.h"
#include "tests/support/rivulet_server.h"

using rivulet::core::Json;
using rivulet::testing::RivuletServer;

TEST_CASE("HTTP: kill -9 of rivulet serve loses no acknowledged append",
          "[http][crash][durability]") {
  RivuletServer server;
  struct Ack {
    std::string stream;
    Json result;
    std::vector<std::string> ids;
  };
  std::mutex mu;
  std::vector<Ack> acked;
  std::atomic<bool> stop{false};
  std::atomic<int> in_flight_failures{0};

  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      auto client = server.Client();
      for (int k = 0; !stop.load(); ++k) {
        std::string stream = "http-crash-" + std::to_string((c + k) % 5);
        Json events = Json::array();
        std::vector<std::string> ids;
        for (int i = 0; i <= k % 3; ++i) {
          ids.push_back(rivulet::core::Uuid::NewV4().ToString());
          events.push_back(
              {{"id", ids.back()}, {"type", "Crash"}, {"data", {{"client", c}, {"k", k}}}});
        }
        auto res = client->Post("/v1/streams/" + stream, Json{{"events", events}}.dump(),
                                "application/json");
        if (!res) {
          in_flight_failures.fetch_add(1);  // the connection died with the server: unknown outcome
          return;
        }
        if (res->status != 201) continue;
        std::lock_guard<std::mutex> lock(mu);
        acked.push_back({stream, Json::parse(res->body), ids});
      }
    });
  }
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::lock_guard<std::mutex> lock(mu);
    if (acked.size() >= 300) break;
  }
  server.Crash();
  stop.store(true);
  for (auto& t : clients) t.join();

  server.Start();
  auto client = server.Client();
  std::lock_guard<std::mutex> lock(mu);
  for (const Ack& ack : acked) {
    int64_t first = ack.result["first_version"];
    auto res = client->Get("/v1/streams/" + ack.stream + "?from=" + std::to_string(first) +
                           "&limit=" + std::to_string(ack.ids.size()));
    REQUIRE(res);
    REQUIRE(res->status == 200);
    Json events = Json::parse(res->body)["events"];
    REQUIRE(events.size() == ack.ids.size());
    for (size_t i = 0; i < ack.ids.size(); ++i) REQUIRE(events[i]["id"] == ack.ids[i]);
    REQUIRE(events.back()["position"] == ack.result["position"]);
  }
  // The restarted server keeps going from where the log ends.
  auto after = client->Post("/v1/streams/after-crash", R"({"events":[{"type":"T","data":{}}]})",
                            "application/json");
  REQUIRE(after);
  CHECK(after->status == 201);
}
