#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "config/config.h"
#include "core/metrics.h"
#include "core/result.h"
#include "eventstore/event_store.h"
#include "server/auth.h"
#include "server/connection_pool.h"
#include "server/router.h"
#include "server/server_context.h"

namespace rivulet::server {

// What the server lets its clients hold at once (docs/operations.md, "Limits"). The
// defaults serve hundreds of pooled keep-alive connections and long polls without
// tuning; tests shrink them.
struct HttpLimits {
  size_t max_connections = 4096;  // lowered to what RLIMIT_NOFILE allows
  size_t max_threads = 1024;
  std::chrono::milliseconds keep_alive_idle{60'000};
  std::chrono::milliseconds read_timeout{10'000};
  std::chrono::milliseconds write_timeout{10'000};
  // How long Stop lets requests in progress finish before their connections are shut
  // down.
  std::chrono::milliseconds stop_timeout{10'000};
  int64_t max_long_polls = 256;
  int64_t max_event_streams = 128;
  size_t max_answer_bytes = 16 * 1024 * 1024;
  size_t max_header_bytes = 64 * 1024;
};

// The HTTP API of SPEC section 5 on cpp-httplib: JSON errors for every failure
// (including unknown routes, oversized bodies and handlers that throw), bearer tokens
// with roles checked before a body is read, connections that hold a thread only while
// a request is in progress (ConnectionPool), and graceful shutdown.
//
// Lifecycle: Bind, then Serve on one thread; Stop from any other thread makes Serve
// return once in-flight requests have finished (long polls and event streams end
// within about a second; past `stop_timeout` the connections of requests still in
// progress are shut down). Answers written after Stop say Connection: close. The
// store, registry and config must outlive the server.
class HttpServer {
 public:
  HttpServer(eventstore::EventStore& store, core::MetricsRegistry& metrics,
             const config::Config& config, const HttpLimits& limits = HttpLimits());
  ~HttpServer();

  // Binds server.listen; returns the port (useful when the config says port 0).
  Result<int> Bind();
  // Serves until Stop; an error when the system refuses the epoll set or threads.
  Status Serve();
  // Thread-safe; idempotent; also before or while Serve starts (it then returns soon).
  void Stop();

  // Where modules (projections, sagas, outbox) add their routes, before Bind. Every
  // route gets the server's authentication, body limit and JSON error handling.
  Router& router() { return router_; }
  ServerContext& context() { return ctx_; }
  // The connection limits in effect (max_connections after RLIMIT_NOFILE).
  const ConnectionLimits& connection_limits() const { return pool_.limits(); }

 private:
  class Listener;

  void InstallRoutes();
  // Whether a request may go on, judged from its request line and headers before any
  // body byte is read: its token and role, and its declared body size and encodings.
  Status Admit(const httplib::Request& req) const;
  // Answers a refused request; if it has a body, the connection closes after the
  // answer without reading it.
  void Refuse(const httplib::Request& req, httplib::Response& res, const Status& why) const;

  ServerContext ctx_;
  Authenticator auth_;
  ConnectionPool pool_;
  std::unique_ptr<Listener> http_;
  Router router_;
  core::Counter* requests_by_class_[6] = {};  // 1xx..5xx, and anything else
  int port_ = -1;
  // Serve has begun / has returned: Stop waits between the two until the listener runs,
  // since httplib's stop does nothing before then.
  std::atomic<bool> serve_entered_{false};
  std::atomic<bool> serve_returned_{false};
};

}  // namespace rivulet::server
