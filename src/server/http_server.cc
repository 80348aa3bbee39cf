#include "server/http_server.h"

#include <sys/socket.h>

#include <algorithm>

#include "server/api_error.h"
#include "server/log_routes.h"
#include "server/stream_routes.h"

namespace rivulet::server {

namespace {
// The body an error status gets when nothing else wrote one (unknown route, a body
// over the limit, a request httplib could not parse).
Status StatusForBareError(const httplib::Request& req, int status) {
  switch (status) {
    case 404:
      return Status::NotFound("no route for " + req.method + " " + req.path.substr(0, 256));
    case 405:
      return Status::InvalidArgument("method " + req.method + " is not allowed here");
    case 413:
      return Status::ResourceExhausted("the request body is larger than server.max_body")
          .WithReason("too_large");
    case 414:
      return Status::InvalidArgument("the request URI is too long");
    default:
      return Status::InvalidArgument("malformed HTTP request");
  }
}
}  // namespace

HttpServer::HttpServer(eventstore::EventStore& store, core::MetricsRegistry& metrics,
                       const config::Config& config)
    : ctx_(store, metrics, config), auth_(config.server), router_(http_, auth_) {
  const int threads = std::max(2, config.runtime.http_threads);
  ctx_.max_event_streams = std::max(1, threads / 2);
  http_.new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<size_t>(threads));
  };
  static const char* kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};
  for (int i = 0; i < 6; ++i) {
    requests_by_class_[i] =
        &metrics.GetCounter("rivulet_http_requests_total",
                            "HTTP requests answered, by status class", {{"code", kClasses[i]}});
  }
  InstallRoutes();
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::InstallRoutes() {
  // httplib sets SO_REUSEPORT, which lets a second server bind the same port and take
  // half the traffic. SO_REUSEADDR alone still allows a quick restart.
  http_.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http_.set_payload_max_length(ctx_.config.server.max_body);
  http_.set_tcp_nodelay(true);
  http_.set_keep_alive_max_count(100'000);
  http_.set_keep_alive_timeout(5);
  http_.set_read_timeout(10);
  http_.set_write_timeout(10);

  // RFC 9112 section 6.3: a request with neither Content-Length nor Transfer-Encoding
  // has an empty body. httplib 0.11 instead waits for the read timeout and answers 400
  // (cpp-httplib issues #523, #2279), so `curl -X POST .../rebuild` would fail. This
  // hook runs before httplib reads the body and states the length the RFC implies.
  http_.set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
    if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
      const_cast<httplib::Request&>(req).set_header("Content-Length",
                                                    "0");  // the Request is not const in httplib
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  http_.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    int code = res.status;
    WriteError(res, StatusForBareError(req, code));
    res.status = code;
  });

  http_.set_exception_handler(
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

  http_.set_logger([this](const httplib::Request&, const httplib::Response& res) {
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
    port_ = http_.bind_to_any_port(server.host);
    ok = port_ > 0;
  } else {
    ok = http_.bind_to_port(server.host, server.port);
    port_ = server.port;
  }
  if (!ok) {
    return Status::Unavailable("cannot listen on " + server.host + ":" +
                               std::to_string(server.port) +
                               " (address in use, or not an address of this machine)");
  }
  return port_;
}

Status HttpServer::Serve() {
  if (port_ < 0) return Status::FailedPrecondition("Bind before Serve");
  if (!http_.listen_after_bind() && !ctx_.stopping.load()) {
    return Status::Unavailable("the HTTP listener stopped unexpectedly");
  }
  return Status::Ok();
}

void HttpServer::Stop() {
  ctx_.stopping.store(true);
  ctx_.store.WakeWaiters();
  http_.stop();
}

}  // namespace rivulet::server
