#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#include "config/config.h"
#include "core/json.h"
#include "core/metrics.h"
#include "server/http_server.h"
#include "tests/support/faulty_vfs.h"
#include "tests/support/rivulet_server.h"
#include "tests/support/test_store.h"

using rivulet::core::Json;
using rivulet::testing::RivuletServer;

namespace {

struct BadRequest {
  const char* what;
  const char* method;
  std::string path;
  std::string body;
  std::string content_type;
  int status;
  const char* error;
  const char* message;  // a part of the message
};

// Sends raw bytes and returns the whole response.
std::string RawExchange(int port, const std::string& bytes) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  std::string response;
  char buf[4096];
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ssize_t n;
  // Until the headers and the JSON body (which ends with a newline) are in.
  while (response.find("}\n") == std::string::npos && (n = recv(fd, buf, sizeof(buf), 0)) > 0) {
    response.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return response;
}

}  // namespace

TEST_CASE("HTTP: every malformed request gets its JSON error and writes nothing",
          "[http][bad-input]") {
  RivuletServer server("  max_body: 64KiB\n");
  auto client = server.Client();
  const std::string good = R"({"events":[{"type":"T","data":{}}]})";
  REQUIRE(client->Post("/v1/streams/seed", good, "application/json")->status == 201);

  const std::string json = "application/json";
  std::string deep =
      R"({"events":[{"type":"T","data":)" + std::string(100, '[') + std::string(100, ']') + "}]}";
  const std::vector<BadRequest> cases = {
      {"empty body", "POST", "/v1/streams/s", "", json, 400, "invalid_argument", "body is empty"},
      {"not JSON", "POST", "/v1/streams/s", "{events:", json, 400, "invalid_argument",
       "invalid JSON"},
      {"array body", "POST", "/v1/streams/s", "[]", json, 400, "invalid_argument",
       "body: expected an object"},
      {"unknown field", "POST", "/v1/streams/s", R"({"events":[],"expected":1})", json, 400,
       "invalid_argument", "unknown field \"expected\""},
      {"no events", "POST", "/v1/streams/s", R"({"expected_version":"any"})", json, 400,
       "invalid_argument", "events: required"},
      {"events not a list", "POST", "/v1/streams/s", R"({"events":{}})", json, 400,
       "invalid_argument", "expected an array"},
      {"empty events", "POST", "/v1/streams/s", R"({"events":[]})", json, 400, "invalid_argument",
       "at least one event"},
      {"event not an object", "POST", "/v1/streams/s", R"({"events":[1]})", json, 400,
       "invalid_argument", "events[0]"},
      {"missing type", "POST", "/v1/streams/s", R"({"events":[{"data":{}}]})", json, 400,
       "invalid_argument", "events[0].type: required"},
      {"type not a string", "POST", "/v1/streams/s", R"({"events":[{"type":1,"data":{}}]})", json,
       400, "invalid_argument", "events[0].type"},
      {"empty type", "POST", "/v1/streams/s", R"({"events":[{"type":"","data":{}}]})", json, 400,
       "invalid_argument", "event type is empty"},
      {"missing data", "POST", "/v1/streams/s", R"({"events":[{"type":"T"}]})", json, 400,
       "invalid_argument", "events[0].data: required"},
      {"data not an object", "POST", "/v1/streams/s", R"({"events":[{"type":"T","data":"x"}]})",
       json, 400, "invalid_argument", "events[0].data: expected an object, got string"},
      {"metadata not an object", "POST", "/v1/streams/s",
       R"({"events":[{"type":"T","data":{},"metadata":[]}]})", json, 400, "invalid_argument",
       "events[0].metadata"},
      {"unknown event field", "POST", "/v1/streams/s",
       R"({"events":[{"type":"T","data":{},"when":1}]})", json, 400, "invalid_argument",
       "unknown field \"when\""},
      {"bad id", "POST", "/v1/streams/s", R"({"events":[{"id":"123","type":"T","data":{}}]})", json,
       400, "invalid_argument", "expected a UUID"},
      {"id not a string", "POST", "/v1/streams/s", R"({"events":[{"id":5,"type":"T","data":{}}]})",
       json, 400, "invalid_argument", "events[0].id"},
      {"duplicate ids", "POST", "/v1/streams/s",
       R"({"events":[{"id":"0190c2a4-7b7e-7cc1-9d8e-4f3c2b1a0d9e","type":"T","data":{}},)"
       R"({"id":"0190c2a4-7b7e-7cc1-9d8e-4f3c2b1a0d9e","type":"T","data":{}}]})",
       json, 400, "invalid_argument", "appears twice"},
      {"bad expected_version", "POST", "/v1/streams/s",
       R"({"expected_version":"sometimes","events":[{"type":"T","data":{}}]})", json, 400,
       "invalid_argument", "expected_version must be"},
      {"negative expected_version", "POST", "/v1/streams/s",
       R"({"expected_version":-1,"events":[{"type":"T","data":{}}]})", json, 400,
       "invalid_argument", "expected_version must be"},
      {"fractional expected_version", "POST", "/v1/streams/s",
       R"({"expected_version":1.5,"events":[{"type":"T","data":{}}]})", json, 400,
       "invalid_argument", "expected_version"},
      {"too deep", "POST", "/v1/streams/s", deep, json, 400, "invalid_argument", "nested deeper"},
      {"invalid UTF-8 in JSON", "POST", "/v1/streams/s",
       "{\"events\":[{\"type\":\"\xff\",\"data\":{}}]}", json, 400, "invalid_argument",
       "invalid JSON"},
      {"wrong content type", "POST", "/v1/streams/s", good, "text/plain", 400, "invalid_argument",
       "Content-Type"},
      {"query on append", "POST", "/v1/streams/s?x=1", good, json, 400, "invalid_argument",
       "unknown query parameter"},
      {"reserved stream", "POST", "/v1/streams/$saga-x-1", good, json, 400, "invalid_argument",
       "reserved"},
      {"slash in stream", "POST", "/v1/streams/a%2Fb", good, json, 400, "invalid_argument",
       "contains '/'"},
      {"control in stream", "POST", "/v1/streams/a%01b", good, json, 400, "invalid_argument",
       "control character"},
      {"invalid UTF-8 stream", "POST", "/v1/streams/a%FFb", good, json, 400, "invalid_argument",
       "not valid UTF-8"},
      {"long stream", "POST", "/v1/streams/" + std::string(257, 'x'), good, json, 400,
       "invalid_argument", "limit is 256"},
      {"too large", "POST", "/v1/streams/s", std::string(70 * 1024, ' ') + good, json, 413,
       "too_large", "max_body"},
      {"limit zero", "GET", "/v1/streams/seed?limit=0", "", "", 400, "invalid_argument",
       "limit: expected an integer"},
      {"limit text", "GET", "/v1/streams/seed?limit=abc", "", "", 400, "invalid_argument",
       "got \"abc\""},
      {"limit too big", "GET", "/v1/streams/seed?limit=1001", "", "", 400, "invalid_argument",
       "between 1 and 1000"},
      {"from negative", "GET", "/v1/streams/seed?from=-1", "", "", 400, "invalid_argument", "from"},
      {"direction", "GET", "/v1/streams/seed?direction=sideways", "", "", 400, "invalid_argument",
       "forward or backward"},
      {"repeated param", "GET", "/v1/streams/seed?limit=1&limit=2", "", "", 400, "invalid_argument",
       "more than once"},
      {"unknown param", "GET", "/v1/streams/seed?lmit=1", "", "", 400, "invalid_argument",
       "unknown query parameter \"lmit\""},
      {"bad percent", "GET", "/v1/events?after=%zz", "", "", 400, "invalid_argument",
       "percent escape"},
      {"missing stream", "GET", "/v1/streams/nope", "", "", 404, "not_found", "does not exist"},
      {"bad token", "GET", "/v1/events?after=garbage", "", "", 400, "invalid_argument",
       "resume token"},
      {"events limit", "GET", "/v1/events?limit=0", "", "", 400, "invalid_argument", "limit"},
      {"empty type list", "GET", "/v1/events?types=A,,B", "", "", 400, "invalid_argument",
       "empty entry"},
      {"match not JSON", "GET", "/v1/events?match=%7Bbad", "", "", 400, "invalid_argument",
       "match: invalid JSON"},
      {"match bad operator", "GET", "/v1/events?match=%7B%22a%22%3A%7B%22%24foo%22%3A1%7D%7D", "",
       "", 400, "invalid_argument", "unknown operator $foo"},
      {"token and start_at", "GET", "/v1/changes?resume_after=MQ&start_at=1", "", "", 400,
       "invalid_argument", "either resume_after or start_at"},
      {"start_at zero", "GET", "/v1/changes?start_at=0", "", "", 400, "invalid_argument",
       "start_at"},
      {"batch_size", "GET", "/v1/changes?batch_size=0", "", "", 400, "invalid_argument",
       "batch_size"},
      {"max_await_ms", "GET", "/v1/changes?max_await_ms=600001", "", "", 400, "invalid_argument",
       "max_await_ms"},
      {"unknown route", "GET", "/v1/nope", "", "", 404, "not_found", "no route for GET /v1/nope"},
      {"unknown method", "DELETE", "/v1/streams/seed", "", "", 404, "not_found", "no route"},
  };
  for (const BadRequest& c : cases) {
    INFO(c.what << ": " << c.method << " " << c.path.substr(0, 80));
    httplib::Result res = std::string(c.method) == "POST"
                              ? client->Post(c.path, c.body, c.content_type)
                          : std::string(c.method) == "GET" ? client->Get(c.path)
                                                           : client->Delete(c.path);
    REQUIRE(res);
    CHECK(res->status == c.status);
    CHECK(res->get_header_value("Content-Type") == "application/json");
    Json body = Json::parse(res->body, nullptr, false);
    REQUIRE(body.is_object());
    CHECK(body["error"] == c.error);
    CHECK_THAT(body["message"].get<std::string>(), Catch::Contains(c.message));
  }

  // Garbage on the wire: a 400, and the server keeps serving.
  std::string raw = RawExchange(server.port(), "THIS IS NOT HTTP\r\n\r\n");
  CHECK_THAT(raw, Catch::StartsWith("HTTP/1.1 400"));
  CHECK_THAT(raw, Catch::Contains("\"error\":\"invalid_argument\""));
  CHECK(client->Get("/v1/health")->status == 200);

  // Nothing was written by any of them.
  Json log = Json::parse(client->Get("/v1/events")->body);
  REQUIRE(log["events"].size() == 1);
  CHECK(log["events"][0]["stream"] == "seed");
}

TEST_CASE("HTTP: a handler that throws answers 500 and the server keeps serving", "[http]") {
  rivulet::testing::TempDir dir;
  auto store = rivulet::testing::OpenTestStore("sqlite", dir);
  rivulet::core::MetricsRegistry metrics;
  rivulet::config::Config config;
  config.server.port = 0;
  rivulet::server::HttpServer http(*store, metrics, config);
  http.router().Get("/v1/boom", [](const httplib::Request&, httplib::Response&) {
    throw std::runtime_error("kaboom");
  });
  auto port = http.Bind();
  REQUIRE(port.ok());
  std::thread serving([&] { static_cast<void>(http.Serve()); });

  httplib::Client client("127.0.0.1", *port);
  auto boom = client.Get("/v1/boom");
  REQUIRE(boom);
  CHECK(boom->status == 500);
  Json body = Json::parse(boom->body);
  CHECK(body["error"] == "internal");
  CHECK_THAT(body["message"].get<std::string>(), Catch::Contains("kaboom"));
  for (int i = 0; i < 3; ++i) CHECK(client.Get("/v1/boom")->status == 500);
  CHECK(client.Get("/v1/health")->status == 200);
  http.Stop();
  serving.join();
}

TEST_CASE("HTTP: a store that refuses writes answers 503 on health and appends", "[http][fault]") {
  rivulet::testing::TempDir dir;
  rivulet::core::MetricsRegistry metrics;
  rivulet::testing::TestStoreOptions options;
  options.vfs = rivulet::testing::FaultyVfs::Name();
  options.metrics = &metrics;
  auto store = rivulet::testing::OpenTestStore("sqlite", dir, options);
  rivulet::config::Config config;
  config.server.port = 0;
  rivulet::server::HttpServer http(*store, metrics, config);
  auto port = http.Bind();
  REQUIRE(port.ok());
  std::thread serving([&] { static_cast<void>(http.Serve()); });
  httplib::Client client("127.0.0.1", *port);
  const std::string good = R"({"events":[{"type":"T","data":{}}]})";

  CHECK(client.Get("/v1/health")->status == 200);
  rivulet::testing::FaultyVfs::FailSyncs(true);
  auto failed = client.Post("/v1/streams/s", good, "application/json");
  rivulet::testing::FaultyVfs::FailSyncs(false);
  REQUIRE(failed);
  CHECK(failed->status == 503);
  CHECK(Json::parse(failed->body)["error"] == "unavailable");
  auto refused = client.Post("/v1/streams/s", good, "application/json");
  REQUIRE(refused);
  CHECK(refused->status == 503);
  CHECK_THAT(Json::parse(refused->body)["message"].get<std::string>(),
             Catch::Contains("refuses writes"));
  auto health = client.Get("/v1/health");
  REQUIRE(health);
  CHECK(health->status == 503);
  CHECK(Json::parse(health->body)["status"] == "unavailable");
  CHECK_THAT(client.Get("/metrics")->body, Catch::Contains("rivulet_store_read_only 1"));
  http.Stop();
  serving.join();
}
