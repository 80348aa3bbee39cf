#include "server/http_server.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string_view>
#include <thread>

#include "core/status_macros.h"
#include "server/api_error.h"
#include "server/log_routes.h"
#include "server/request_body.h"
#include "server/stream_routes.h"

namespace rivulet::server {

// httplib's server with its connections handed to a ConnectionPool: httplib accepts
// and parses, the pool decides which thread reads which connection and when.
class HttpServer::Listener : public httplib::Server {
 public:
  explicit Listener(ConnectionPool& pool) : pool_(pool) {}

  bool ServeRequest(httplib::Stream& stream, bool close_connection, bool& connection_closed,
                    const std::function<void(httplib::Request&)>& headers_read) {
    return process_request(stream, close_connection, connection_closed, headers_read);
  }

  // httplib listens with a backlog of 5: a burst of new connections (a client pool
  // filling up) would see SYNs dropped and retried a second later. Listening again
  // on the bound socket only changes the backlog.
  void WidenBacklog() { ::listen(svr_sock_, SOMAXCONN); }

 private:
  // Called by httplib's accept loop (through PoolTaskQueue) for each new connection.
  bool process_and_close_socket(socket_t sock) override {
    pool_.Adopt(sock);
    return true;
  }

  ConnectionPool& pool_;
};

namespace {

// What httplib's accept loop hands each accepted socket to. It runs the hand-over
// inline (ConnectionPool::Adopt never blocks); shutting it down drains the pool.
class PoolTaskQueue : public httplib::TaskQueue {
 public:
  explicit PoolTaskQueue(ConnectionPool& pool) : pool_(pool) {}
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override { pool_.Shutdown(); }

 private:
  ConnectionPool& pool_;
};

// File descriptors kept for everything but client connections (the store's
// connections, sources, outbox destinations, logs).
constexpr rlim_t kReservedFiles = 256;

// Raises the soft open-files limit toward what `connections` need (never past the
// hard limit) and returns how many connections fit in it: never more than asked for,
// at most half of a limit under 512, and at least one.
size_t FitToOpenFileLimit(size_t connections) {
  connections = std::max<size_t>(1, std::min<size_t>(connections, 1u << 24));
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return connections;
  const rlim_t wanted = static_cast<rlim_t>(connections) + kReservedFiles;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    rlimit raised = limit;
    raised.rlim_cur =
        limit.rlim_max == RLIM_INFINITY ? wanted : std::min<rlim_t>(wanted, limit.rlim_max);
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur == RLIM_INFINITY) return connections;
  const rlim_t fit =
      limit.rlim_cur < 2 * kReservedFiles ? limit.rlim_cur / 2 : limit.rlim_cur - kReservedFiles;
  return std::max<size_t>(1, std::min<size_t>(connections, static_cast<size_t>(fit)));
}

ConnectionLimits MakeConnectionLimits(const config::Config& config, const HttpLimits& limits) {
  ConnectionLimits c;
  c.max_connections = FitToOpenFileLimit(limits.max_connections);
  c.min_threads = static_cast<size_t>(std::max(1, config.runtime.http_threads));
  c.max_threads = std::max(limits.max_threads, c.min_threads);
  c.idle_timeout = limits.keep_alive_idle;
  c.read_timeout = limits.read_timeout;
  c.write_timeout = limits.write_timeout;
  c.stop_timeout = limits.stop_timeout;
  c.max_header_bytes = limits.max_header_bytes;
  // Raw bytes on the wire, chunk framing included; the decoded body is held to
  // server.max_body exactly once read (Router).
  const uint64_t max_body = config.server.max_body;
  c.max_body_bytes = static_cast<size_t>(max_body + max_body / 8 + 64 * 1024);
  return c;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool HasBody(const httplib::Request& req) {
  return req.has_header("Transfer-Encoding") ||
         (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0");
}

// httplib reads a body for these methods only; another method's body would be read as
// the connection's next request.
bool BodyIsRead(const httplib::Request& req) {
  return req.method == "POST" || req.method == "PUT" || req.method == "PATCH" ||
         req.method == "DELETE";
}

// The connection closes after this request's answer (which says so), without reading
// the request's body.
void CloseWithoutReadingBody() { ConnectionPool::CloseAfterResponse(); }

// The body an error status gets when nothing else wrote one (unknown route, a body
// over the limit, a request httplib could not parse).
Status StatusForBareError(const httplib::Request& req, int status, const config::Config& config,
                          const ConnectionLimits& limits) {
  switch (status) {
    case 404:
      return Status::NotFound("no route for " + req.method + " " + req.path.substr(0, 256));
    case 405:
      return Status::InvalidArgument("method " + req.method + " is not allowed here");
    case 413:
      return BodyTooLarge(config.server.max_body);
    case 414:
      return Status::InvalidArgument("the request URI is too long");
    default:
      if (ConnectionPool::HeaderLimitHit()) {
        return Status::InvalidArgument("the request line and headers are longer than " +
                                       std::to_string(limits.max_header_bytes) + " bytes");
      }
      return Status::InvalidArgument("malformed HTTP request");
  }
}

}  // namespace

HttpServer::HttpServer(eventstore::EventStore& store, core::MetricsRegistry& metrics,
                       const config::Config& config, const HttpLimits& limits)
    : ctx_(store, metrics, config),
      auth_(config.server),
      pool_(
          MakeConnectionLimits(config, limits),
          [this](httplib::Stream& stream, bool close_connection, bool& connection_closed,
                 const std::function<void(httplib::Request&)>& headers_read) {
            return http_->ServeRequest(stream, close_connection, connection_closed, headers_read);
          },
          metrics),
      http_(std::make_unique<Listener>(pool_)),
      router_(*http_, config.server.max_body) {
  ctx_.max_long_polls = limits.max_long_polls;
  ctx_.max_event_streams = limits.max_event_streams;
  ctx_.max_answer_bytes = limits.max_answer_bytes;
  http_->new_task_queue = [this] { return new PoolTaskQueue(pool_); };
  static const char* kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};
  for (int i = 0; i < 6; ++i) {
    requests_by_class_[i] =
        &metrics.GetCounter("rivulet_http_requests_total",
                            "HTTP requests answered, by status class", {{"code", kClasses[i]}});
  }
  InstallRoutes();
}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Admit(const httplib::Request& req) const {
  RETURN_IF_ERROR(auth_.Check(req));
  // RFC 9112 section 6.1: a request with both framings is how requests are smuggled
  // past a proxy that reads the other one.
  if (req.has_header("Transfer-Encoding") && req.has_header("Content-Length")) {
    return Status::InvalidArgument(
        "a request may not have both Transfer-Encoding and Content-Length");
  }
  if (req.get_header_value_count("Transfer-Encoding") > 1) {
    return Status::InvalidArgument("a request may have one Transfer-Encoding header");
  }
  if (req.has_header("Transfer-Encoding") &&
      !EqualsIgnoreCase(req.get_header_value("Transfer-Encoding"), "chunked")) {
    return Status::InvalidArgument("Transfer-Encoding \"" +
                                   req.get_header_value("Transfer-Encoding").substr(0, 64) +
                                   "\" is not supported; send chunked or a Content-Length");
  }
  if (req.has_header("Content-Encoding") &&
      !EqualsIgnoreCase(req.get_header_value("Content-Encoding"), "identity")) {
    return Status::InvalidArgument("Content-Encoding \"" +
                                   req.get_header_value("Content-Encoding").substr(0, 64) +
                                   "\" is not supported; send the body uncompressed");
  }
  const size_t lengths = req.get_header_value_count("Content-Length");
  for (size_t i = 0; i < lengths; ++i) {
    const std::string value = req.get_header_value("Content-Length", i);
    bool digits = !value.empty() && value.size() <= 18 &&
                  std::all_of(value.begin(), value.end(),
                              [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (!digits || (i > 0 && value != req.get_header_value("Content-Length"))) {
      return Status::InvalidArgument("Content-Length \"" + value.substr(0, 32) +
                                     "\" is not one non-negative integer");
    }
    if (std::stoull(value) > ctx_.config.server.max_body) {
      return BodyTooLarge(ctx_.config.server.max_body);
    }
  }
  return Status::Ok();
}

void HttpServer::Refuse(const httplib::Request& req, httplib::Response& res,
                        const Status& why) const {
  if (HasBody(req)) CloseWithoutReadingBody();
  if (why.code() == StatusCode::kUnauthenticated) res.set_header("WWW-Authenticate", "Bearer");
  WriteError(res, why);
}

void HttpServer::InstallRoutes() {
  // httplib sets SO_REUSEPORT, which lets a second server bind the same port and take
  // half the traffic. SO_REUSEADDR alone still allows a quick restart.
  http_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  const ConnectionLimits& limits = pool_.limits();
  // A backstop: Admit refuses a Content-Length over the limit before httplib sees it.
  http_->set_payload_max_length(ctx_.config.server.max_body);
  http_->set_tcp_nodelay(true);
  // Only what the Keep-Alive answer header says (`timeout=<idle>, max=100000`): the
  // pool closes a connection idle for idle_timeout and sets no cap on the requests of
  // one connection, so the advertised max is never cut short.
  http_->set_keep_alive_max_count(100'000);
  http_->set_keep_alive_timeout(
      std::chrono::duration_cast<std::chrono::seconds>(limits.idle_timeout).count());
  http_->set_read_timeout(limits.read_timeout);
  http_->set_write_timeout(limits.write_timeout);

  // A client that waits for 100 Continue learns before sending its body that it is
  // refused.
  http_->set_expect_100_continue_handler(
      [this](const httplib::Request& req, httplib::Response& res) {
        Status admitted = Admit(req);
        if (admitted.ok()) return 100;
        Refuse(req, res, admitted);
        return res.status;
      });

  // Runs once the request line and headers are read, before the body.
  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // RFC 9112 section 6.3: a request with neither Content-Length nor Transfer-Encoding
    // has an empty body. httplib 0.11 instead waits for the read timeout and answers
    // 400 (cpp-httplib issues #523, #2279), so `curl -X POST .../rebuild` would fail.
    if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
      const_cast<httplib::Request&>(req).set_header("Content-Length", "0");  // not const in httplib
    }
    // Refused before a body byte is read: an unauthenticated 400 MiB upload costs
    // nothing but the bytes the kernel already took.
    Status admitted = Admit(req);
    if (!admitted.ok()) {
      Refuse(req, res, admitted);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (HasBody(req) && !BodyIsRead(req)) CloseWithoutReadingBody();
    // httplib 0.11 skips the body of a DELETE without a Content-Length, a chunked one
    // included, which would then be read as the next request. With the header it reads
    // the chunked body (chunked framing wins over Content-Length in httplib).
    if (req.method == "DELETE" && req.has_header("Transfer-Encoding")) {
      const_cast<httplib::Request&>(req).set_header("Content-Length", "0");
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // Runs once an answer's headers are set: a connection that closes after this answer
  // says so (a refusal before the body, a request not read to its end, a stop).
  http_->set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    if (!ConnectionPool::ClosesAfterResponse()) return;
    res.headers.erase("Keep-Alive");
    res.headers.erase("Connection");
    res.set_header("Connection", "close");
  });

  http_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    // httplib answers 400 when reading a body fails; past the raw byte budget of
    // ConnectionPool that is a body over the limit.
    int code = ConnectionPool::BodyLimitHit() ? 413 : res.status;
    WriteError(res, StatusForBareError(req, code, ctx_.config, pool_.limits()));
    res.status = code;
  });

  http_->set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        WriteError(res, Status::Internal("the handler for " + req.method + " " +
                                         req.path.substr(0, 256) + " failed: " + what));
      });

  http_->set_logger([this](const httplib::Request&, const httplib::Response& res) {
    int cls = res.status / 100;
    requests_by_class_[(cls >= 1 && cls <= 5) ? cls - 1 : 5]->Inc();
  });

  router_.Get("/v1/health", [this](const httplib::Request&, httplib::Response& res) {
    Status health = ctx_.store.Health();
    if (health.ok()) return WriteJson(res, 200, R"({"status":"ok"})");
    core::Json body{
        {"status", "unavailable"}, {"error", "unavailable"}, {"message", health.message()}};
    WriteJson(res, 503, core::DumpJson(body));
  });

  router_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content(ctx_.metrics.RenderPrometheus(), "text/plain; version=0.0.4; charset=utf-8");
  });

  RegisterStreamRoutes(router_, ctx_);
  RegisterLogRoutes(router_, ctx_);
}

Result<int> HttpServer::Bind() {
  const auto& server = ctx_.config.server;
  bool ok;
  if (server.port == 0) {
    port_ = http_->bind_to_any_port(server.host);
    ok = port_ > 0;
  } else {
    ok = http_->bind_to_port(server.host, server.port);
    port_ = server.port;
  }
  if (ok) http_->WidenBacklog();
  if (!ok) {
    return Status::Unavailable("cannot listen on " + server.host + ":" +
                               std::to_string(server.port) +
                               " (address in use, or not an address of this machine)");
  }
  return port_;
}

Status HttpServer::Serve() {
  if (port_ < 0) return Status::FailedPrecondition("Bind before Serve");
  serve_entered_.store(true);
  struct Returned {
    std::atomic<bool>& flag;
    ~Returned() { flag.store(true); }
  } returned{serve_returned_};
  if (ctx_.stopping.load()) return Status::Ok();  // stopped before it began
  RETURN_IF_ERROR(pool_.Start());
  if (!http_->listen_after_bind() && !ctx_.stopping.load()) {
    return Status::Unavailable("the HTTP listener stopped unexpectedly");
  }
  return Status::Ok();
}

void HttpServer::Stop() {
  pool_.BeginShutdown();  // before long polls wake: their answers say Connection: close
  ctx_.stopping.store(true);
  ctx_.store.WakeWaiters();
  // A SIGTERM can come right after the listening line, while Serve still starts the
  // pool: httplib's stop is lost until its listener runs, so wait for that (or for
  // Serve to return). Serve sees `stopping` when it had not begun.
  if (serve_entered_.load()) {
    while (!http_->is_running() && !serve_returned_.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  http_->stop();
}

}  // namespace rivulet::server
