#include "sagas/step_call.h"

#include <httplib.h>

#include <algorithm>
#include <unordered_map>

#include "core/http_exchange.h"
#include "core/http_rules.h"
#include "core/url.h"

namespace rivulet::sagas {

namespace {

httplib::Client& ClientFor(const std::string& origin) {
  thread_local std::unordered_map<std::string, std::unique_ptr<httplib::Client>> clients;
  auto& client = clients[origin];
  if (!client) {
    client = std::make_unique<httplib::Client>(origin);
    client->set_keep_alive(true);
    client->set_tcp_nodelay(true);
  }
  return *client;
}

bool Retryable(int status) { return status == 408 || status == 429 || status >= 500; }

}  // namespace

core::Json CallRequest::ToJson() const {
  core::Json j{{"method", method}, {"url", url}, {"headers", headers}};
  if (body) j["body"] = *body;
  return j;
}

StepCaller::StepCaller(size_t max_answer_bytes)
    : max_answer_bytes_(std::min(max_answer_bytes, core::kMaxAnswerBytes)) {}

CallOutcome StepCaller::Call(const CallRequest& request, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string what = request.method + " " + request.url;
  CallOutcome out;

  // Nothing goes out with a header that could end the header block early.
  httplib::Request req;
  for (const auto& [k, v] : request.headers) {
    Status header = core::CheckHeaderField(k, v);
    if (!header.ok()) {
      out.error = what + ": " + header.message();
      return out;  // permanent, and nothing was sent
    }
    req.headers.emplace(k, v);
  }
  req.method = request.method;
  if (request.method != "GET") {
    if (!req.has_header("Content-Type")) req.headers.emplace("Content-Type", "application/json");
    if (request.body) req.body = core::DumpJson(*request.body);
  }

  auto [origin, path] = core::SplitOriginAndPath(request.url);
  req.path = path;
  httplib::Client& client = ClientFor(origin);
  // Each connect, read and write waits at most the timeout; the watchdog below bounds
  // the exchange as a whole.
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(timeout - seconds);
  client.set_connection_timeout(seconds.count(), micros.count());
  client.set_read_timeout(seconds.count(), micros.count());
  client.set_write_timeout(seconds.count(), micros.count());

  core::BoundedExchange exchange =
      core::SendBounded(client, req, watchdog_, deadline, max_answer_bytes_, max_answer_bytes_);
  const httplib::Error error = exchange.error;
  const int answered = exchange.status;
  const httplib::Response& res = exchange.response;

  if (!exchange.sent) {
    // Nothing reached the service when the connection could not be made.
    const bool connected =
        error != httplib::Error::Connection && error != httplib::Error::ConnectionTimeout &&
        error != httplib::Error::BindIPAddress && error != httplib::Error::SSLConnection;
    if (exchange.too_large) {
      out.status = answered;
      const bool ok = answered >= 200 && answered < 300;
      out.retryable = ok || Retryable(answered);
      out.outcome_unknown = ok;
      out.error = what + " answered " + std::to_string(answered) + " with a body over " +
                  std::to_string(max_answer_bytes_) + " bytes, the limit of an answer" +
                  (ok ? " (the request was processed; its answer was not kept)" : "");
      return out;
    }
    out.retryable = true;
    out.outcome_unknown = connected;
    if (exchange.timed_out) {
      out.error = what + ": no complete answer within the timeout of " +
                  std::to_string(timeout.count()) + "ms";
    } else {
      out.error = what + ": " + httplib::to_string(error);
    }
    if (out.outcome_unknown) out.error += " (the request may have been processed)";
    return out;
  }

  out.status = res.status;
  if (res.status >= 200 && res.status < 300) {
    // The JSON body becomes the response (null when it is empty or not JSON); an answer
    // too deep to keep fails like a lost answer instead of being stored unreadable.
    auto parsed =
        core::ParseJson(exchange.body, core::JsonLimits{core::kMaxJsonDepth, max_answer_bytes_});
    if (parsed.ok()) {
      out.response = std::move(parsed).value();
    } else if (parsed.status().reason() == "too_deep" || parsed.status().reason() == "too_large") {
      out.retryable = true;
      out.outcome_unknown = true;
      out.error = what + " answered " + std::to_string(res.status) + ": " +
                  parsed.status().message() +
                  " (the request was processed; its answer was not kept)";
      return out;
    }
    out.succeeded = true;
    return out;
  }
  out.retryable = Retryable(res.status);
  std::string snippet = exchange.body.substr(0, 200);
  out.error =
      what + " answered " + std::to_string(res.status) + (snippet.empty() ? "" : ": " + snippet);
  return out;
}

}  // namespace rivulet::sagas
