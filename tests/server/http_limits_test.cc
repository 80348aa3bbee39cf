// What clients may hold of the server: connections, threads, body bytes, answer bytes
// (docs/operations.md, "Limits"). Real sockets against real servers; no timing
// assertions beyond generous "answers at all" timeouts.

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <thread>

#include "config/config.h"
#include "core/json.h"
#include "core/metrics.h"
#include "eventstore/log_position.h"
#include "server/http_server.h"
#include "tests/support/rivulet_server.h"
#include "tests/support/test_store.h"

using rivulet::core::Json;
using rivulet::eventstore::EncodeResumeToken;
using rivulet::testing::RivuletServer;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

const char* kJson = "application/json";

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct RawResponse {
  int status = 0;
  std::string head;
  std::string body;
  bool after_continue = false;  // a 100 Continue came first
};

// One client connection driven by hand: what httplib's client cannot send (chunked
// uploads that never end, Expect: 100-continue, oversized headers) and what it hides
// (whether the server closed the connection).
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~RawConnection() {
    if (fd_ >= 0) close(fd_);
  }
  RawConnection(RawConnection&& other) noexcept : fd_(other.fd_), buffer_(other.buffer_) {
    other.fd_ = -1;
  }
  RawConnection(const RawConnection&) = delete;

  bool ok() const { return fd_ >= 0; }

  // False once the server stopped taking bytes (closed or reset).
  bool Send(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  bool Readable() const {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
  }
  bool WaitReadable(milliseconds timeout = seconds(10)) const {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, static_cast<int>(timeout.count())) > 0;
  }

  // One response with a Content-Length body, or nullopt at a timeout or the end of the
  // connection.
  std::optional<RawResponse> Read(milliseconds timeout = seconds(10)) {
    auto deadline = Clock::now() + timeout;
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return std::nullopt;
    }
    RawResponse r;
    r.head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    if (r.head.rfind("HTTP/1.1 ", 0) == 0) r.status = std::atoi(r.head.c_str() + 9);
    if (r.status == 100) {  // an interim answer; the real one follows
      auto final_answer = Read(timeout);
      if (final_answer) final_answer->after_continue = true;
      return final_answer;
    }
    size_t length = 0;
    auto at = r.head.find("Content-Length: ");
    if (at != std::string::npos) length = std::stoul(r.head.substr(at + 16));
    while (buffer_.size() < length) {
      if (!Fill(deadline)) return std::nullopt;
    }
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }

  // Whether the server ends the connection within `timeout` (EOF or reset).
  bool ClosedByServer(milliseconds timeout = seconds(10)) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 100};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return true;
    }
    return false;
  }

 private:
  bool Fill(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buf[65536];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
};

std::string Get(const std::string& path, const std::string& extra_headers = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: test\r\n" + extra_headers + "\r\n";
}

std::string Chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  return size + data + "\r\n";
}

std::string AppendBody(const std::string& type, size_t pad = 0) {
  return Json{{"events", {{{"type", type}, {"data", {{"pad", std::string(pad, 'x')}}}}}}}.dump();
}

// Resident memory of a process in KiB, from /proc/<pid>/status.
int64_t ResidentKiB(pid_t pid) {
  std::string status = rivulet::testing::ReadFile("/proc/" + std::to_string(pid) + "/status");
  auto at = status.find("VmRSS:");
  return at == std::string::npos ? -1 : std::stoll(status.substr(at + 6));
}

// Waits up to 10 s for a gauge of /metrics to reach `value`.
bool WaitForMetric(httplib::Client& client, const std::string& line) {
  for (int i = 0; i < 200; ++i) {
    auto res = client.Get("/metrics");
    if (res && res->body.find(line) != std::string::npos) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return false;
}

// Joins its threads when it goes out of scope, also when a REQUIRE ends the test early;
// declared before the server whose requests they make, so the server stops first.
struct Joiner {
  std::vector<std::thread> threads;
  ~Joiner() {
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
  }
};

// An in-process server with its own store, for limits a test shrinks.
struct InProcessServer {
  explicit InProcessServer(const rivulet::server::HttpLimits& limits,
                           uint64_t max_body = 4 * 1024 * 1024) {
    store = rivulet::testing::OpenTestStore("sqlite", dir);
    config.server.port = 0;
    config.server.max_body = max_body;
    http = std::make_unique<rivulet::server::HttpServer>(*store, metrics, config, limits);
    auto bound = http->Bind();
    REQUIRE(bound.ok());
    port = *bound;
    serving = std::thread([this] { static_cast<void>(http->Serve()); });
  }
  ~InProcessServer() {
    http->Stop();
    if (serving.joinable()) serving.join();
  }
  std::unique_ptr<httplib::Client> Client(seconds read_timeout = seconds(10)) const {
    auto client = std::make_unique<httplib::Client>("127.0.0.1", port);
    client->set_keep_alive(true);
    client->set_read_timeout(read_timeout);
    return client;
  }

  rivulet::testing::TempDir dir;
  std::unique_ptr<rivulet::eventstore::EventStore> store;
  rivulet::core::MetricsRegistry metrics;
  rivulet::config::Config config;
  std::unique_ptr<rivulet::server::HttpServer> http;
  int port = 0;
  std::thread serving;
};

}  // namespace

TEST_CASE(
    "HTTP: 200 idle keep-alive connections and 50 long polls hold up neither health nor "
    "an append",
    "[http][limits]") {
  RivuletServer server;  // the default configuration
  std::vector<RawConnection> idle;
  for (int i = 0; i < 200; ++i) {
    idle.emplace_back(server.port());
    REQUIRE(idle.back().Send(Get("/v1/health")));
    auto res = idle.back().Read(seconds(5));
    REQUIRE(res);
    REQUIRE(res->status == 200);
  }
  std::vector<RawConnection> polls;
  for (int i = 0; i < 50; ++i) {
    polls.emplace_back(server.port());
    REQUIRE(polls.back().Send(Get("/v1/changes?max_await_ms=60000")));
  }
  auto client = server.Client();
  REQUIRE(WaitForMetric(*client, "rivulet_http_requests_in_progress 51"));  // and this one

  httplib::Client fresh("127.0.0.1", server.port());
  fresh.set_read_timeout(seconds(5));
  auto started = Clock::now();
  auto health = fresh.Get("/v1/health");
  double health_ms = MillisSince(started);
  REQUIRE(health);
  CHECK(health->status == 200);
  started = Clock::now();
  auto appended = fresh.Post("/v1/streams/busy", AppendBody("T"), kJson);
  double append_ms = MillisSince(started);
  REQUIRE(appended);
  CHECK(appended->status == 201);
  std::printf(
      "with 200 idle keep-alive connections and 50 long polls: health %.1f ms, append "
      "%.1f ms\n",
      health_ms, append_ms);

  // The append ended every long poll; the idle connections still serve.
  for (auto& poll : polls) {
    auto res = poll.Read(seconds(10));
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(Json::parse(res->body)["events"].size() == 1);
  }
  REQUIRE(idle.front().Send(Get("/v1/health")));
  auto again = idle.front().Read(seconds(5));
  REQUIRE(again);
  CHECK(again->status == 200);
}

TEST_CASE(
    "HTTP: long polls past their cap answer at once with their token, and event streams past "
    "theirs get 503",
    "[http][limits]") {
  rivulet::server::HttpLimits limits;
  limits.max_long_polls = 2;
  limits.max_event_streams = 1;
  std::atomic<int> delivered{0};
  std::atomic<bool> streamed{false};
  Joiner clients;
  InProcessServer server(limits);
  auto seed = server.store->Append(rivulet::testing::MakeAppend("seed", 1));
  REQUIRE(seed.ok());

  for (int i = 0; i < 2; ++i) {
    clients.threads.emplace_back([&] {
      auto client = server.Client(seconds(60));
      auto res = client->Get("/v1/changes?max_await_ms=30000");
      if (res && res->status == 200 && Json::parse(res->body)["events"].size() == 1) ++delivered;
    });
  }
  for (int i = 0; i < 200 && server.http->context().long_polls.load() < 2; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  REQUIRE(server.http->context().long_polls.load() == 2);

  // The third answers at once (well within the client's 5 s), empty, with the token of
  // the end of the log.
  auto client = server.Client(seconds(5));
  auto third = client->Get("/v1/changes?max_await_ms=30000");
  REQUIRE(third);
  CHECK(third->status == 200);
  Json batch = Json::parse(third->body);
  CHECK(batch["events"].empty());
  CHECK(batch["resume_token"] == EncodeResumeToken({1, 0}));
  CHECK_THAT(client->Get("/metrics")->body,
             Catch::Contains("rivulet_http_long_polls_shortened_total 1"));

  clients.threads.emplace_back([&] {
    auto stream = server.Client(seconds(60));
    stream->Get("/v1/changes", {{"Accept", "text/event-stream"}},
                [&](const char* data, size_t len) {
                  std::string text(data, len);
                  if (text.find("data: ") != std::string::npos) streamed = true;
                  return !streamed;
                });
  });
  for (int i = 0; i < 200 && server.http->context().event_streams.load() < 1; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  REQUIRE(server.http->context().event_streams.load() == 1);
  auto refused = client->Get("/v1/changes", {{"Accept", "text/event-stream"}});
  REQUIRE(refused);
  CHECK(refused->status == 503);
  CHECK_THAT(Json::parse(refused->body)["message"].get<std::string>(),
             Catch::Contains("too many event streams"));

  // A new event reaches the waiting long polls and the stream.
  REQUIRE(client->Post("/v1/streams/s", AppendBody("T"), kJson)->status == 201);
  for (auto& t : clients.threads) t.join();
  CHECK(delivered.load() == 2);
  CHECK(streamed.load());
}

TEST_CASE(
    "HTTP: at the connection limit the longest-idle connection makes room, and with none "
    "idle a new one gets 503",
    "[http][limits]") {
  rivulet::server::HttpLimits limits;
  limits.max_connections = 3;
  InProcessServer server(limits);
  REQUIRE(server.http->connection_limits().max_connections == 3);

  std::vector<RawConnection> open;
  for (int i = 0; i < 3; ++i) {
    open.emplace_back(server.port);
    REQUIRE(open.back().Send(Get("/v1/health")));
    REQUIRE(open.back().Read());
  }
  // Idle once their threads let go of them (a thread waits 2 ms for a next request).
  for (int i = 0; i < 200; ++i) {
    if (server.metrics.RenderPrometheus().find("rivulet_http_requests_in_progress 0") !=
        std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  RawConnection fourth(server.port);
  REQUIRE(fourth.Send(Get("/v1/health")));
  auto served = fourth.Read();
  REQUIRE(served);
  CHECK(served->status == 200);
  // One of the three idle ones was closed to make room (the longest idle: which one that
  // is depends on when each worker put its connection back).
  std::vector<RawConnection*> live = {&fourth};
  int closed = 0;
  for (auto& c : open) {
    if (c.ClosedByServer(milliseconds(closed == 0 ? 3000 : 300))) {
      ++closed;
    } else {
      live.push_back(&c);
    }
  }
  CHECK(closed == 1);
  REQUIRE(live.size() == 3);

  // Three connections in long polls, none idle: a fourth is refused.
  for (RawConnection* c : live) REQUIRE(c->Send(Get("/v1/changes?max_await_ms=30000")));
  for (int i = 0; i < 200 && server.http->context().long_polls.load() < 3; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  REQUIRE(server.http->context().long_polls.load() == 3);
  RawConnection refused(server.port);
  auto answer = refused.Read();
  REQUIRE(answer);
  CHECK(answer->status == 503);
  CHECK(Json::parse(answer->body)["error"] == "unavailable");
  CHECK(refused.ClosedByServer());
  std::string metrics = server.metrics.RenderPrometheus();
  CHECK_THAT(metrics, Catch::Contains("rivulet_http_connections_evicted_total 1"));
  CHECK_THAT(metrics, Catch::Contains("rivulet_http_connections_refused_total 1"));
}

TEST_CASE("HTTP: every body is held to server.max_body, chunked ones too, and headers to 64 KiB",
          "[http][limits][bad-input]") {
  RivuletServer server("  max_body: 64KiB\n");
  const std::string post_chunked =
      "POST /v1/streams/s HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";

  SECTION(
      "a chunked body within the limit is appended; one just over it gets 413 and the "
      "connection goes on") {
    RawConnection c(server.port());
    REQUIRE(c.Send(post_chunked + Chunk(AppendBody("Small")) + "0\r\n\r\n"));
    auto ok = c.Read();
    REQUIRE(ok);
    CHECK(ok->status == 201);
    REQUIRE(c.Send(post_chunked + Chunk(AppendBody("Big", 40'000)) +
                   Chunk(std::string(30'000, ' ')) + "0\r\n\r\n"));
    auto big = c.Read();
    REQUIRE(big);
    CHECK(big->status == 413);
    CHECK(Json::parse(big->body)["error"] == "too_large");
    REQUIRE(c.Send(Get("/v1/streams/s")));
    auto read = c.Read();
    REQUIRE(read);
    CHECK(Json::parse(read->body)["events"].size() == 1);
  }

  SECTION(
      "a chunked upload that never ends gets 413 long before its end, and the connection "
      "closes") {
    RawConnection c(server.port());
    REQUIRE(c.Send(post_chunked));
    const std::string chunk = Chunk(std::string(64 * 1024, ' '));
    size_t sent = 0;
    while (sent < 64 * 1024 * 1024 && !c.Readable() && c.Send(chunk)) sent += 64 * 1024;
    auto answer = c.Read();
    REQUIRE(answer);
    CHECK(answer->status == 413);
    CHECK(Json::parse(answer->body)["error"] == "too_large");
    CHECK_THAT(answer->head, Catch::Contains("Connection: close"));
    CHECK(sent < 32 * 1024 * 1024);
    CHECK(c.ClosedByServer());
  }

  SECTION("compressed bodies and unknown transfer codings are refused before reading") {
    RawConnection c(server.port());
    REQUIRE(
        c.Send("POST /v1/streams/s HTTP/1.1\r\nHost: test\r\nContent-Type: "
               "application/json\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n\r\n"
               "0123456789"));
    auto gzip = c.Read();
    REQUIRE(gzip);
    CHECK(gzip->status == 400);
    CHECK_THAT(Json::parse(gzip->body)["message"].get<std::string>(),
               Catch::Contains("Content-Encoding"));
    RawConnection d(server.port());
    REQUIRE(
        d.Send("POST /v1/streams/s HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip, "
               "chunked\r\n\r\n"));
    auto coding = d.Read();
    REQUIRE(coding);
    CHECK(coding->status == 400);
  }

  SECTION("request headers past 64 KiB get 400") {
    RawConnection c(server.port());
    std::string headers;
    for (int i = 0; i < 20; ++i) {
      headers += "X-Filler-" + std::to_string(i) + ": " + std::string(7000, 'a') + "\r\n";
    }
    c.Send(Get("/v1/health", headers));
    auto answer = c.Read();
    REQUIRE(answer);
    CHECK(answer->status == 400);
    CHECK_THAT(Json::parse(answer->body)["message"].get<std::string>(),
               Catch::Contains("longer than 65536 bytes"));
  }

  auto client = server.Client();
  CHECK(client->Get("/v1/health")->status == 200);
}

TEST_CASE("HTTP: requests without a token are refused before their body is read",
          "[http][limits][auth]") {
  RivuletServer server(
      "  tokens:\n"
      "    - { name: app, token: write-token-0123456789, role: write }\n");
  auto client = server.Client();
  httplib::Headers with_token = {{"Authorization", "Bearer write-token-0123456789"}};
  // Warm up, so that what the server allocates on its first requests is in the baseline.
  for (int i = 0; i < 20; ++i) {
    REQUIRE(client->Post("/v1/streams/w", with_token, AppendBody("T", 1000), kJson)->status == 201);
  }
  const int64_t before = ResidentKiB(server.process().pid());
  REQUIRE(before > 0);

  // 50 MiB chunked without a token: the 401 comes while the client is still sending.
  RawConnection chunked(server.port());
  REQUIRE(
      chunked.Send("POST /v1/streams/x HTTP/1.1\r\nHost: test\r\nContent-Type: "
                   "application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk = Chunk(std::string(256 * 1024, 'x'));
  size_t sent = 0;
  auto started = Clock::now();
  while (sent < 50 * 1024 * 1024 && !chunked.Readable() && chunked.Send(chunk)) sent += 256 * 1024;
  auto refused = chunked.Read();
  REQUIRE(refused);
  CHECK(refused->status == 401);
  CHECK(Json::parse(refused->body)["error"] == "unauthenticated");
  std::printf("unauthenticated chunked upload refused after %.1f ms and %zu bytes sent\n",
              MillisSince(started), sent);

  // A 400 MiB Content-Length without a token is refused without waiting for the body.
  RawConnection declared(server.port());
  REQUIRE(
      declared.Send("POST /v1/streams/x HTTP/1.1\r\nHost: test\r\nContent-Type: "
                    "application/json\r\nContent-Length: 419430400\r\n\r\n" +
                    std::string(1024 * 1024, 'x')));
  auto declared_answer = declared.Read();
  REQUIRE(declared_answer);
  CHECK(declared_answer->status == 401);

  // A client that asks first gets the refusal instead of 100 Continue.
  RawConnection asks(server.port());
  REQUIRE(
      asks.Send("POST /v1/streams/x HTTP/1.1\r\nHost: test\r\nContent-Type: "
                "application/json\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n"));
  auto asked = asks.Read();
  REQUIRE(asked);
  CHECK(asked->status == 401);
  CHECK_FALSE(asked->after_continue);
  CHECK_THAT(asked->head, Catch::Contains("Connection: close"));
  // With a token the same question gets 100 Continue, then the answer to the body.
  const std::string body = AppendBody("Asked");
  RawConnection allowed(server.port());
  REQUIRE(
      allowed.Send("POST /v1/streams/asked HTTP/1.1\r\nHost: test\r\nContent-Type: "
                   "application/json\r\nAuthorization: Bearer write-token-0123456789\r\n"
                   "Content-Length: " +
                   std::to_string(body.size()) + "\r\nExpect: 100-continue\r\n\r\n"));
  REQUIRE(allowed.WaitReadable());
  REQUIRE(allowed.Send(body));
  auto continued = allowed.Read();
  REQUIRE(continued);
  CHECK(continued->after_continue);
  CHECK(continued->status == 201);

  const int64_t after = ResidentKiB(server.process().pid());
  std::printf("rivulet serve resident memory: %lld KiB before, %lld KiB after\n",
              static_cast<long long>(before), static_cast<long long>(after));
  CHECK(after - before < 32 * 1024);
  CHECK(client->Get("/v1/health")->status == 200);
  CHECK(client->Get("/v1/streams/x", with_token)->status == 404);  // nothing was written
}

TEST_CASE("HTTP: answers stop at the byte budget and say where to continue", "[http][limits]") {
  rivulet::server::HttpLimits limits;
  limits.max_answer_bytes = 25'000;
  InProcessServer server(limits);
  auto client = server.Client();
  for (int i = 0; i < 5; ++i) {
    REQUIRE(client->Post("/v1/streams/big", AppendBody("Blob", 10'000), kJson)->status == 201);
  }

  Json first = Json::parse(client->Get("/v1/events?limit=1000")->body);
  REQUIRE(first["events"].size() == 2);
  std::string token = first["resume_token"];
  CHECK(token == EncodeResumeToken({2, 0}));
  Json rest = Json::parse(client->Get("/v1/events?limit=1000&after=" + token)->body);
  REQUIRE(rest["events"].size() == 2);
  CHECK(rest["events"][0]["position"] == 3);

  Json page = Json::parse(client->Get("/v1/streams/big?limit=1000")->body);
  CHECK(page["events"].size() == 2);
  CHECK(page["next"] == 2);

  Json changes =
      Json::parse(client->Get("/v1/changes?start_at=1&batch_size=1000&max_await_ms=0")->body);
  CHECK(changes["events"].size() == 2);
  CHECK(changes["resume_token"] == EncodeResumeToken({2, 0}));
}

TEST_CASE(
    "HTTP: resume tokens past the end of the log are refused, also right after another "
    "process's commit",
    "[http][limits][changes]") {
  RivuletServer server;
  auto client = server.Client();
  REQUIRE(client->Post("/v1/streams/s", AppendBody("T"), kJson)->status == 201);
  const std::string beyond = EncodeResumeToken({5, 0});

  struct Case {
    std::string path;
    httplib::Headers headers;
    std::string names;
  };
  const std::vector<Case> cases = {
      {"/v1/changes?max_await_ms=0&resume_after=" + beyond, {}, "resume_after"},
      {"/v1/events?after=" + beyond, {}, "after"},
      {"/v1/changes?max_await_ms=0&start_at=3", {}, "start_at"},
      {"/v1/changes",
       {{"Accept", "text/event-stream"}, {"Last-Event-ID", beyond}},
       "Last-Event-ID"},
  };
  for (const Case& c : cases) {
    INFO(c.path);
    auto res = client->Get(c.path, c.headers);
    REQUIRE(res);
    CHECK(res->status == 400);
    Json body = Json::parse(res->body);
    CHECK(body["error"] == "invalid_argument");
    CHECK_THAT(body["message"].get<std::string>(), Catch::Contains(c.names + ": points past"));
  }
  // The next position to be written is a fine place to start.
  CHECK(client->Get("/v1/changes?max_await_ms=0&start_at=2")->status == 200);

  // Another process appends; this server may not have noticed yet, the store has.
  auto cli = rivulet::testing::RunCommand(
      {rivulet::testing::RivuletBinary(), "append", "s", "T", "-c", server.config_path()});
  REQUIRE(cli.exit_code == 0);
  const std::string next = EncodeResumeToken({2, 0});
  auto events = client->Get("/v1/events?after=" + next);
  REQUIRE(events);
  CHECK(events->status == 200);
  auto changes = client->Get("/v1/changes?max_await_ms=0&resume_after=" + next);
  REQUIRE(changes);
  CHECK(changes->status == 200);
}

TEST_CASE("HTTP: a batch of thousands of bad changes gets a bounded 400", "[http][limits]") {
  RivuletServer server("", "sources:\n  - { name: api, type: http }\n");
  auto client = server.Client();
  Json changes = Json::array();
  for (int i = 0; i < 5000; ++i) changes.push_back(i);
  auto res = client->Post("/v1/sources/api/changes", changes.dump(), kJson);
  REQUIRE(res);
  CHECK(res->status == 400);
  CHECK(res->body.size() < 64 * 1024);
  Json body = Json::parse(res->body);
  CHECK(body["error"] == "invalid_argument");
  CHECK_THAT(body["message"].get<std::string>(), Catch::Contains("5000 of 5000"));
  CHECK(body["errors"].size() == 100);
  CHECK(body["errors"][0]["index"] == 0);
  CHECK(body["errors_total"] == 5000);
}

namespace {

// A request that appends to stream `stream`: smuggled inside another request's body, it
// must never run.
std::string HiddenAppend(const std::string& stream) {
  const std::string body = AppendBody("Hidden");
  return "POST /v1/streams/" + stream +
         " HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string WithLength(const std::string& head, const std::string& body) {
  return head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

TEST_CASE(
    "HTTP: a request answered before its headers or body were read closes the connection, so "
    "a request hidden in its body never runs",
    "[http][limits][bad-input]") {
  rivulet::server::HttpLimits limits;
  InProcessServer server(limits, 64 * 1024);
  // Each case hides an append to its own stream.
  int next_case = 0;
  auto hidden = [&next_case] { return HiddenAppend("hidden-" + std::to_string(next_case++)); };
  const std::string post =
      "POST /v1/streams/s HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n";

  struct Case {
    std::string name;
    std::string request;
    int status;
  };
  const std::vector<Case> cases = {
      {"a chunk size that is not hex", post + "Transfer-Encoding: chunked\r\n\r\nzz\r\n" + hidden(),
       400},
      {"a request line httplib cannot parse",
       WithLength("POST /v1/streams/s HTTP/1.1 extra\r\nHost: test\r\n", hidden()), 400},
      {"a request target over 8 KiB",
       WithLength("POST /v1/streams/" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: test\r\n",
                  hidden()),
       414},
      {"a header line over 8 KiB",
       WithLength(post + "X-Long: " + std::string(9000, 'a') + "\r\n", hidden()), 400},
      {"a Range header httplib cannot parse", WithLength(post + "Range: bytes=zz\r\n", hidden()),
       416},
      {"both Content-Length and Transfer-Encoding",
       post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden(), 400},
      {"a DELETE with a chunked body",
       "DELETE /v1/streams/s HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" +
           Chunk(hidden()) + "0\r\n\r\n",
       404},
      {"a GET with a body", WithLength("GET /v1/health HTTP/1.1\r\nHost: test\r\n", hidden()), 200},
      {"a Content-Length over server.max_body", post + "Content-Length: 100000\r\n\r\n" + hidden(),
       413},
      {"a refused Expect: 100-continue",
       post + "Content-Length: 100000\r\nExpect: 100-continue\r\n\r\n" + hidden(), 413},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    INFO(c.name);
    RawConnection conn(server.port);
    REQUIRE(conn.Send(c.request));
    auto first = conn.Read();
    REQUIRE(first);
    CHECK(first->status == c.status);
    if (c.status != 200 && c.status != 404) {
      CHECK(Json::parse(first->body)["error"].is_string());
    }
    CHECK_THAT(first->head, Catch::Contains("Connection: close"));
    // Nothing more is answered on this connection, and the server ends it.
    auto second = conn.Read(seconds(2));
    CHECK_FALSE(second);
    CHECK(conn.ClosedByServer());
    auto hidden_stream = server.Client()->Get("/v1/streams/hidden-" + std::to_string(i));
    REQUIRE(hidden_stream);
    CHECK(hidden_stream->status == 404);
  }
}

TEST_CASE(
    "HTTP: requests in progress when the server stops answer with Connection: close, and a "
    "stalled one holds the stop only until its deadline",
    "[http][limits][stop]") {
  rivulet::server::HttpLimits limits;
  limits.read_timeout = seconds(120);
  limits.stop_timeout = seconds(1);
  InProcessServer server(limits);
  RawConnection poll(server.port);
  REQUIRE(poll.Send(Get("/v1/changes?max_await_ms=60000")));
  // A body that never comes: its request waits for the read timeout (two minutes).
  RawConnection stalled(server.port);
  REQUIRE(
      stalled.Send("POST /v1/streams/s HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                   "Content-Length: 1000\r\n\r\n{\"events\":"));
  for (int i = 0; i < 200 && server.http->context().long_polls.load() < 1; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  REQUIRE(server.http->context().long_polls.load() == 1);
  for (int i = 0; i < 200; ++i) {
    if (server.metrics.RenderPrometheus().find("rivulet_http_requests_in_progress 2") !=
        std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }

  auto started = Clock::now();
  server.http->Stop();
  auto answer = poll.Read();
  REQUIRE(answer);
  CHECK(answer->status == 200);
  CHECK_THAT(answer->head, Catch::Contains("Connection: close"));
  CHECK(poll.ClosedByServer());
  server.serving.join();
  double stop_ms = MillisSince(started);
  std::printf("stop with a stalled upload took %.0f ms (deadline 1 s, read timeout 120 s)\n",
              stop_ms);
  CHECK(stop_ms < 60'000);  // far below the read timeout
  CHECK(stalled.ClosedByServer());
}

TEST_CASE("HTTP: a server that cannot create its epoll set says so instead of serving",
          "[http][limits][bad-input]") {
  // `rivulet serve` runs under a seccomp filter that fails epoll_create1 with EMFILE, as
  // the kernel does when no file descriptor is left (exhausting them for real would
  // also starve the sanitizers' own checks).
  rivulet::testing::TempDir dir;
  rivulet::testing::WriteFile(
      dir.File("rivulet.yaml"),
      "store:\n  path: " + dir.File("rivulet.db") + "\nserver:\n  listen: 127.0.0.1:0\n");
  const std::string binary = rivulet::testing::RivuletBinary();
  const std::string config = dir.File("rivulet.yaml");
  const std::string err_path = dir.File("serve.stderr");
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_epoll_create1, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EMFILE & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])), filter};
  const char* argv[] = {binary.c_str(), "serve", "-c", config.c_str(), nullptr};
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // only async-signal-safe calls until exec
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int null = open("/dev/null", O_WRONLY);
    if (err < 0 || null < 0 || dup2(err, 2) < 0 || dup2(null, 1) < 0) _exit(120);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(121);
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) _exit(122);
    execv(argv[0], const_cast<char* const*>(argv));
    _exit(123);
  }
  int status = 0;
  bool exited = false;
  for (int i = 0; i < 300 && !exited; ++i) {  // 30 s
    exited = waitpid(pid, &status, WNOHANG) == pid;
    if (!exited) std::this_thread::sleep_for(milliseconds(100));
  }
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  const std::string stderr_text = rivulet::testing::ReadFile(err_path);
  INFO(stderr_text);
  REQUIRE(exited);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) != 0);
  CHECK(WEXITSTATUS(status) < 120);
  CHECK_THAT(stderr_text, Catch::Contains("cannot create an epoll set"));
}

TEST_CASE("HTTP: a low open-files limit lowers the connection limit and never raises it",
          "[http][limits]") {
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
  struct Restore {
    rlimit limit;
    ~Restore() { setrlimit(RLIMIT_NOFILE, &limit); }
  } restore{saved};
  const int lowest = dup(0);
  REQUIRE(lowest >= 0);
  close(lowest);
  REQUIRE(lowest < 150);
  rlimit low{300, 300};
  REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);

  rivulet::testing::TempDir dir;
  auto store = rivulet::testing::OpenTestStore("sqlite", dir);
  rivulet::core::MetricsRegistry metrics;
  rivulet::config::Config config;
  rivulet::server::HttpLimits limits;
  limits.max_connections = 3;
  rivulet::server::HttpServer few(*store, metrics, config, limits);
  CHECK(few.connection_limits().max_connections == 3);
  limits.max_connections = 4096;
  rivulet::server::HttpServer many(*store, metrics, config, limits);
  CHECK(many.connection_limits().max_connections >= 1);
  CHECK(many.connection_limits().max_connections <= 150);
}

TEST_CASE("HTTP: at the connection limit a refused connection that is still draining makes room",
          "[http][limits]") {
  rivulet::server::HttpLimits limits;
  limits.max_connections = 2;
  InProcessServer server(limits, 64 * 1024);
  std::vector<RawConnection> refused;
  for (int i = 0; i < 2; ++i) {
    refused.emplace_back(server.port);
    REQUIRE(refused.back().Send(
        "POST /v1/streams/s HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n" +
        std::string(1000, 'x')));
    auto answer = refused.back().Read();
    REQUIRE(answer);
    CHECK(answer->status == 413);
  }
  for (int i = 0; i < 200; ++i) {
    if (server.metrics.RenderPrometheus().find("rivulet_http_requests_in_progress 0") !=
        std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  // Both wait (up to 2 s) for their clients to stop sending; a new connection is served.
  RawConnection third(server.port);
  REQUIRE(third.Send(Get("/v1/health")));
  auto served = third.Read();
  REQUIRE(served);
  CHECK(served->status == 200);
  CHECK_THAT(server.metrics.RenderPrometheus(),
             Catch::Contains("rivulet_http_connections_refused_total 0"));
}

TEST_CASE("HTTP: when no thread can be started a request gets 503 and the server keeps serving",
          "[http][limits][threads]") {
  // RLIMIT_NPROC binds only processes that are not root: the server runs as nobody, first
  // to count the threads it runs when idle, then with that many as its limit.
  rivulet::testing::TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0777) == 0);
  rivulet::testing::WriteFile(
      dir.File("rivulet.yaml"),
      "store:\n  path: " + dir.File("rivulet.db") +
          "\nserver:\n  listen: 127.0.0.1:0\nruntime:\n  http_threads: 1\n");
  // nobody may not reach the build directory (a clone under /root): it runs a copy.
  const std::string binary = dir.File("rivulet");
  std::filesystem::copy_file(rivulet::testing::RivuletBinary(), binary);
  REQUIRE(chmod(binary.c_str(), 0755) == 0);
  auto start = [&](const std::vector<std::string>& limit, int& port) {
    std::vector<std::string> argv = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};
    argv.insert(argv.end(), limit.begin(), limit.end());
    for (std::string arg :
         {binary, std::string("serve"), std::string("-c"), dir.File("rivulet.yaml")}) {
      argv.push_back(arg);
    }
    auto serve = std::make_unique<rivulet::testing::Subprocess>(argv, dir.File("serve.stderr"));
    auto line = serve->ReadLine(seconds(60));
    INFO(rivulet::testing::ReadFile(dir.File("serve.stderr")));
    REQUIRE(line);
    std::string listen = Json::parse(*line).value("listening", "");
    port = std::stoi(listen.substr(listen.rfind(':') + 1));
    httplib::Client client("127.0.0.1", port);  // one connection per request
    bool healthy = false;
    for (int i = 0; i < 600 && !healthy; ++i) {
      auto res = client.Get("/v1/health");
      healthy = res && res->status == 200;
      if (!healthy) std::this_thread::sleep_for(milliseconds(50));
    }
    REQUIRE(healthy);
    return serve;
  };

  int port = 0;
  auto counting = start({}, port);
  std::string status =
      rivulet::testing::ReadFile("/proc/" + std::to_string(counting->pid()) + "/status");
  const std::string threads =
      std::to_string(std::stoul(status.substr(status.find("Threads:") + 8)));
  counting->Signal(SIGTERM);
  REQUIRE(counting->Wait(seconds(30)) == 0);
  counting.reset();

  auto serve = start({"prlimit", "--nproc=" + threads + ":" + threads}, port);
  // Long polls take the request thread and whatever threads the limit leaves (the
  // idle count may include a thread that came and went); once none can be started, a
  // request gets 503 at once instead of waiting for a long poll to end.
  std::vector<RawConnection> held;
  std::optional<RawResponse> unavailable;
  for (int i = 0; i < 10 && !unavailable; ++i) {
    RawConnection c(port);
    REQUIRE(c.Send(Get("/v1/changes?max_await_ms=10000")));
    auto answer = c.Read(seconds(2));
    if (!answer) {
      held.push_back(std::move(c));
      continue;
    }
    CHECK(answer->status == 503);
    unavailable = answer;
    CHECK(c.ClosedByServer());
  }
  REQUIRE(unavailable);
  CHECK(Json::parse(unavailable->body)["error"] == "unavailable");
  CHECK_THAT(unavailable->head, Catch::Contains("Connection: close"));
  CHECK_FALSE(held.empty());
  for (RawConnection& c : held) {
    auto polled = c.Read(seconds(30));
    REQUIRE(polled);
    CHECK(polled->status == 200);
  }
  REQUIRE(serve->running());

  // The thread serves what comes next.
  RawConnection later(port);
  REQUIRE(later.Send(Get("/v1/health")));
  auto answer = later.Read();
  REQUIRE(answer);
  CHECK(answer->status == 200);
  REQUIRE(later.Send(Get("/metrics")));
  auto metrics = later.Read();
  REQUIRE(metrics);
  CHECK_THAT(metrics->body, Catch::Contains("rivulet_http_requests_without_thread_total "));
  CHECK_THAT(metrics->body, !Catch::Contains("rivulet_http_requests_without_thread_total 0"));
  serve->Signal(SIGTERM);
  CHECK(serve->Wait(seconds(30)) == 0);
}
