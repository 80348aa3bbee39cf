#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "core/json.h"
#include "eventstore/log_position.h"
#include "tests/support/rivulet_server.h"

using rivulet::core::Json;
using rivulet::testing::RivuletServer;
using std::chrono::milliseconds;

namespace {
const char* kJson = "application/json";

Json Body(const httplib::Result& res) {
  REQUIRE(res);
  return Json::parse(res->body);
}

std::string AppendBody(const std::string& type, const Json& data, const Json& expected = "any") {
  return Json{{"expected_version", expected}, {"events", {{{"type", type}, {"data", data}}}}}
      .dump();
}
}  // namespace

TEST_CASE("HTTP: health, append, read the stream and the global log", "[http]") {
  RivuletServer server;
  auto client = server.Client();

  auto health = client->Get("/v1/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(Json::parse(health->body) == Json{{"status", "ok"}});

  auto appended = client->Post("/v1/streams/order-42",
                               AppendBody("OrderPlaced", {{"total", 12.5}}, "no_stream"), kJson);
  REQUIRE(appended);
  CHECK(appended->status == 201);
  CHECK(Json::parse(appended->body) ==
        Json{{"stream", "order-42"}, {"first_version", 0}, {"last_version", 0}, {"position", 1}});

  Json batch = {{"expected_version", 0},
                {"events",
                 {{{"id", "0190c2a4-7b7e-7cc1-9d8e-4f3c2b1a0d9e"},
                   {"type", "OrderPaid"},
                   {"data", {{"amount", 12.5}}},
                   {"metadata", {{"causation_id", "x"}}}},
                  {{"id", "0190c2a4-7b7e-7cc1-9d8e-4f3c2b1a0d9f"},
                   {"type", "OrderShipped"},
                   {"data", Json::object()}}}}};
  httplib::Headers correlation = {{"Rivulet-Correlation-Id", "req-7"}};
  auto second = client->Post("/v1/streams/order-42", correlation, batch.dump(), kJson);
  REQUIRE(second);
  CHECK(second->status == 201);
  CHECK(Json::parse(second->body)["position"] == 3);

  // Re-sending the same ids is harmless: the original answer, nothing written.
  auto again = client->Post("/v1/streams/order-42", batch.dump(), kJson);
  REQUIRE(again);
  CHECK(again->status == 201);
  CHECK(again->get_header_value("Rivulet-Deduplicated") == "true");
  CHECK(Json::parse(again->body)["position"] == 3);
  // An event without an id is new every time, so such a re-send reuses the first id
  // elsewhere: a conflict, not a silent duplicate.
  Json partial = batch;
  partial["events"][1].erase("id");
  auto reused = client->Post("/v1/streams/order-42", partial.dump(), kJson);
  REQUIRE(reused);
  CHECK(reused->status == 409);
  CHECK(Json::parse(reused->body)["error"] == "conflict");

  Json read = Body(client->Get("/v1/streams/order-42"));
  REQUIRE(read["events"].size() == 3);
  CHECK(read["next"].is_null());
  const Json& paid = read["events"][1];
  CHECK(paid["id"] == "0190c2a4-7b7e-7cc1-9d8e-4f3c2b1a0d9e");
  CHECK(paid["type"] == "OrderPaid");
  CHECK(paid["version"] == 1);
  CHECK(paid["position"] == 2);
  CHECK(paid["data"] == Json{{"amount", 12.5}});
  CHECK(paid["metadata"] == Json{{"causation_id", "x"}, {"correlation_id", "req-7"}});
  CHECK(paid["recorded_at"].get<std::string>().size() == 24);

  Json page = Body(client->Get("/v1/streams/order-42?from=0&limit=2"));
  CHECK(page["events"].size() == 2);
  CHECK(page["next"] == 2);
  Json backward = Body(client->Get("/v1/streams/order-42?direction=backward&limit=1"));
  CHECK(backward["events"][0]["version"] == 2);
  CHECK(backward["next"] == 1);

  auto missing = client->Get("/v1/streams/order-43");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(Json::parse(missing->body)["error"] == "not_found");

  REQUIRE(client->Post("/v1/streams/invoice-1", AppendBody("InvoiceSent", Json::object()), kJson)
              ->status == 201);
  Json log = Body(client->Get("/v1/events?limit=2"));
  CHECK(log["events"].size() == 2);
  Json rest = Body(client->Get("/v1/events?after=" + log["resume_token"].get<std::string>()));
  CHECK(rest["events"].size() == 2);
  CHECK(rest["events"][1]["stream"] == "invoice-1");
  Json typed = Body(client->Get("/v1/events?types=OrderShipped,InvoiceSent"));
  CHECK(typed["events"].size() == 2);
  Json globbed = Body(client->Get("/v1/events?streams=invoice-*"));
  CHECK(globbed["events"].size() == 1);
  Json matched = Body(client->Get(
      "/v1/events?match=" + httplib::detail::encode_query_param(R"({"data.amount":{"$gt":10}})")));
  CHECK(matched["events"].size() == 1);

  auto conflict =
      client->Post("/v1/streams/order-42", AppendBody("Late", Json::object(), 1), kJson);
  REQUIRE(conflict);
  CHECK(conflict->status == 409);
  Json error = Json::parse(conflict->body);
  CHECK(error["error"] == "wrong_expected_version");
  CHECK(error["expected"] == 1);
  CHECK(error["actual"] == 2);
  CHECK(error["message"].get<std::string>().find("expected version 1") != std::string::npos);

  std::string metrics = client->Get("/metrics")->body;
  CHECK(metrics.find("rivulet_appends_total 3") != std::string::npos);
  CHECK(metrics.find("rivulet_append_latency_seconds_bucket") != std::string::npos);
  CHECK(metrics.find("rivulet_changestream_waiters") != std::string::npos);
  CHECK(metrics.find("rivulet_http_requests_total{code=\"2xx\"}") != std::string::npos);
}

TEST_CASE("HTTP: a change-stream long poll waits for the next commit and its token resumes exactly",
          "[http][changes]") {
  RivuletServer server;
  auto client = server.Client();
  REQUIRE(client->Post("/v1/streams/a", AppendBody("First", Json::object()), kJson)->status == 201);

  // Without a token the stream starts at the end of the log, like MongoDB's watch().
  std::atomic<bool> appended{false};
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(300));
    auto writer_client = server.Client();
    appended.store(
        writer_client->Post("/v1/streams/b", AppendBody("Second", Json::object()), kJson)->status ==
        201);
  });
  Json live = Body(client->Get("/v1/changes?max_await_ms=30000"));
  writer.join();
  REQUIRE(appended.load());
  REQUIRE(live["events"].size() == 1);
  CHECK(live["events"][0]["type"] == "Second");

  Json from_start = Body(client->Get("/v1/changes?start_at=1&max_await_ms=0"));
  CHECK(from_start["events"].size() == 2);
  std::string token = from_start["resume_token"];
  Json empty = Body(client->Get("/v1/changes?resume_after=" + token + "&max_await_ms=100"));
  CHECK(empty["events"].empty());
  CHECK(empty["resume_token"] == token);

  // A filtered stream still advances its token past events it skips.
  REQUIRE(client->Post("/v1/streams/c", AppendBody("Noise", Json::object()), kJson)->status == 201);
  std::string filter = httplib::detail::encode_query_param(R"({"type":"Signal"})");
  Json skipped = Body(
      client->Get("/v1/changes?resume_after=" + token + "&match=" + filter + "&max_await_ms=100"));
  CHECK(skipped["events"].empty());
  CHECK(skipped["resume_token"] != token);
  REQUIRE(client->Post("/v1/streams/c", AppendBody("Signal", Json::object()), kJson)->status ==
          201);
  Json signal =
      Body(client->Get("/v1/changes?resume_after=" + skipped["resume_token"].get<std::string>() +
                       "&match=" + filter + "&max_await_ms=5000"));
  REQUIRE(signal["events"].size() == 1);
  CHECK(signal["events"][0]["position"] == 4);
}

TEST_CASE("HTTP: Server-Sent Events stream changes and resume from Last-Event-ID",
          "[http][changes][sse]") {
  RivuletServer server;
  auto client = server.Client();
  for (int i = 0; i < 3; ++i) {
    REQUIRE(client->Post("/v1/streams/sse", AppendBody("Tick", {{"i", i}}), kJson)->status == 201);
  }

  // Reads SSE messages until `count` events arrived; returns their ids and data.
  auto collect = [&](const httplib::Headers& headers, const std::string& path, size_t count) {
    std::vector<std::pair<std::string, Json>> events;
    std::string buffer;
    auto sse = server.Client();
    sse->Get(path, headers, [&](const char* data, size_t len) {
      buffer.append(data, len);
      size_t end;
      while ((end = buffer.find("\n\n")) != std::string::npos) {
        std::string message = buffer.substr(0, end);
        buffer.erase(0, end + 2);
        std::string id, payload;
        size_t start = 0;
        while (start < message.size()) {
          size_t nl = message.find('\n', start);
          std::string line =
              message.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
          if (line.rfind("id: ", 0) == 0) id = line.substr(4);
          if (line.rfind("data: ", 0) == 0) payload = line.substr(6);
          start = nl == std::string::npos ? message.size() : nl + 1;
        }
        if (!payload.empty() && events.size() < count)
          events.emplace_back(id, Json::parse(payload));
      }
      return events.size() < count;  // returning false closes the connection
    });
    return events;
  };

  httplib::Headers accept = {{"Accept", "text/event-stream"}};
  auto first = collect(accept, "/v1/changes?start_at=1", 2);
  REQUIRE(first.size() == 2);
  CHECK(first[0].second["data"]["i"] == 0);
  CHECK(first[1].second["data"]["i"] == 1);

  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(300));
    auto w = server.Client();
    w->Post("/v1/streams/sse", AppendBody("Tick", {{"i", 3}}), kJson);
  });
  httplib::Headers resume = {{"Accept", "text/event-stream"}, {"Last-Event-ID", first[1].first}};
  auto rest = collect(resume, "/v1/changes", 2);
  writer.join();
  REQUIRE(rest.size() == 2);
  CHECK(rest[0].second["data"]["i"] == 2);  // exactly after the last id seen
  CHECK(rest[1].second["data"]["i"] == 3);  // then live
  CHECK(rest[1].first == rivulet::eventstore::EncodeResumeToken({4, 0}));
}

TEST_CASE("HTTP: bearer tokens with read < write < admin", "[http][auth]") {
  RivuletServer server(
      "  tokens:\n"
      "    - { name: ops, token: admin-token-0123456789, role: admin }\n"
      "    - { name: app, token: write-token-0123456789, role: write }\n"
      "    - { name: dash, token: read-token-01234567890, role: read }\n");
  auto client = server.Client();
  auto with = [](const std::string& token) {
    return httplib::Headers{{"Authorization", "Bearer " + token}};
  };

  CHECK(client->Get("/v1/health")->status == 200);  // never needs a token
  auto anonymous = client->Get("/v1/streams/x");
  REQUIRE(anonymous);
  CHECK(anonymous->status == 401);
  CHECK(Json::parse(anonymous->body)["error"] == "unauthenticated");
  CHECK(anonymous->get_header_value("WWW-Authenticate") == "Bearer");
  CHECK(client->Get("/metrics")->status == 401);
  CHECK(client->Get("/v1/events", with("wrong-token-0123456789"))->status == 401);
  CHECK(client->Get("/v1/events", {{"Authorization", "Basic abc"}})->status == 401);
  CHECK(client->Get("/v1/events", {{"Authorization", "Bearer"}})->status == 401);
  CHECK(client->Get("/v1/events", {{"Authorization", "Bearerread-token-01234567890"}})->status ==
        401);
  // RFC 7235: the scheme is case-insensitive.
  CHECK(client->Get("/v1/events", {{"Authorization", "bearer read-token-01234567890"}})->status ==
        200);
  CHECK(client->Get("/v1/events", {{"Authorization", "BEARER  read-token-01234567890"}})->status ==
        200);
  // A refused POST never gets its body read, and the connection is closed after the
  // answer so the unread body cannot pass for the next request.
  auto anonymous_post = client->Post("/v1/streams/x", AppendBody("T", Json::object()), kJson);
  REQUIRE(anonymous_post);
  CHECK(anonymous_post->status == 401);
  CHECK(anonymous_post->get_header_value("Connection") == "close");

  auto denied = client->Post("/v1/streams/x", with("read-token-01234567890"),
                             AppendBody("T", Json::object()), kJson);
  REQUIRE(denied);
  CHECK(denied->status == 403);
  CHECK(Json::parse(denied->body)["error"] == "permission_denied");
  CHECK(client
            ->Post("/v1/streams/x", with("write-token-0123456789"), AppendBody("T", Json::object()),
                   kJson)
            ->status == 201);
  CHECK(client
            ->Post("/v1/streams/x", with("admin-token-0123456789"), AppendBody("T", Json::object()),
                   kJson)
            ->status == 201);
  CHECK(client->Get("/v1/streams/x", with("read-token-01234567890"))->status == 200);
  CHECK(client->Get("/metrics", with("read-token-01234567890"))->status == 200);
  // The refused append wrote nothing.
  CHECK(Body(client->Get("/v1/streams/x", with("read-token-01234567890")))["events"].size() == 2);
}

TEST_CASE("HTTP: SIGTERM drains in-flight requests and exits cleanly", "[http][shutdown]") {
  RivuletServer server;
  std::atomic<int> poll_status{0};
  std::thread long_poll([&] {
    auto client = server.Client();
    auto res = client->Get("/v1/changes?max_await_ms=60000");
    poll_status.store(res ? res->status : -1);
  });
  std::this_thread::sleep_for(milliseconds(500));  // let the long poll start waiting
  auto started = std::chrono::steady_clock::now();
  int code = server.Stop();
  long_poll.join();
  CHECK(code == 0);
  CHECK(poll_status.load() == 200);  // answered, not cut off
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(30));
  CHECK(server.stderr_text().find("stopped") != std::string::npos);
}
