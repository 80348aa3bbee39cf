#pragma once

#include <httplib.h>

#include <memory>

#include "config/config.h"
#include "core/metrics.h"
#include "core/result.h"
#include "eventstore/event_store.h"
#include "server/auth.h"
#include "server/router.h"
#include "server/server_context.h"

namespace rivulet::server {

// The HTTP API of SPEC section 5 on cpp-httplib: JSON errors for every failure
// (including unknown routes, oversized bodies and handlers that throw), bearer tokens
// with roles, a bounded thread pool, and graceful shutdown.
//
// Lifecycle: Bind, then Serve on one thread; Stop from any other thread makes Serve
// return once in-flight requests have finished (long polls and event streams end
// within about a second). The store, registry and config must outlive the server.
class HttpServer {
 public:
  HttpServer(eventstore::EventStore& store, core::MetricsRegistry& metrics,
             const config::Config& config);
  ~HttpServer();

  // Binds server.listen; returns the port (useful when the config says port 0).
  Result<int> Bind();
  // Serves until Stop.
  Status Serve();
  // Thread-safe; idempotent.
  void Stop();

  // Where modules (projections, sagas, outbox) add their routes, before Bind. Every
  // route gets the server's authentication, body limit and JSON error handling.
  Router& router() { return router_; }
  ServerContext& context() { return ctx_; }

 private:
  void InstallRoutes();

  ServerContext ctx_;
  Authenticator auth_;
  httplib::Server http_;
  Router router_;
  core::Counter* requests_by_class_[6] = {};  // 1xx..5xx, and anything else
  int port_ = -1;
};

}  // namespace rivulet::server
