#include "sagas/step_call.h"

#include <httplib.h>

#include <unordered_map>

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

CallOutcome StepCaller::Call(const CallRequest& request, std::chrono::milliseconds timeout) {
  auto [origin, path] = core::SplitOriginAndPath(request.url);
  httplib::Client& client = ClientFor(origin);
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(timeout - seconds);
  client.set_connection_timeout(seconds.count(), micros.count());
  client.set_read_timeout(seconds.count(), micros.count());
  client.set_write_timeout(seconds.count(), micros.count());

  httplib::Headers headers;
  for (const auto& [k, v] : request.headers) headers.emplace(k, v);
  const std::string body = request.body ? core::DumpJson(*request.body) : "";
  const char* type = "application/json";
  auto send = [&]() -> httplib::Result {
    if (request.method == "GET") return client.Get(path, headers);
    if (request.method == "POST") return client.Post(path, headers, body, type);
    if (request.method == "PUT") return client.Put(path, headers, body, type);
    if (request.method == "PATCH") return client.Patch(path, headers, body, type);
    return client.Delete(path, headers, body, type);
  };
  httplib::Result result = send();

  CallOutcome out;
  if (!result) {
    const httplib::Error error = result.error();
    out.retryable = true;
    // Nothing reached the service when the connection could not be made.
    out.outcome_unknown =
        error != httplib::Error::Connection && error != httplib::Error::ConnectionTimeout &&
        error != httplib::Error::BindIPAddress && error != httplib::Error::SSLConnection;
    out.error = request.method + " " + request.url + ": " + httplib::to_string(error) +
                (out.outcome_unknown ? " (the request may have been processed)" : "");
    client.stop();  // a broken connection is not reused
    return out;
  }
  out.status = result->status;
  auto parsed = core::Json::parse(result->body, nullptr, false);
  if (!parsed.is_discarded()) out.response = std::move(parsed);
  if (result->status >= 200 && result->status < 300) {
    out.succeeded = true;
    return out;
  }
  out.retryable = Retryable(result->status);
  std::string snippet = result->body.substr(0, 200);
  out.error = request.method + " " + request.url + " answered " + std::to_string(result->status) +
              (snippet.empty() ? "" : ": " + snippet);
  return out;
}

}  // namespace rivulet::sagas
