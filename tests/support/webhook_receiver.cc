#include "tests/support/webhook_receiver.h"

#include "core/digest.h"

namespace rivulet::testing {

WebhookReceiver::WebhookReceiver(std::string secret, std::chrono::milliseconds delay)
    : secret_(std::move(secret)), delay_(delay) {
  // Keep-alive connections hold a thread each: more threads than a relay's connections;
  // and keep them open (httplib closes them after 5 requests by default).
  server_.new_task_queue = [] { return new httplib::ThreadPool(32); };
  server_.set_keep_alive_max_count(100'000);
  server_.set_tcp_nodelay(true);
  server_.Post("/hooks", [this](const httplib::Request& req, httplib::Response& res) {
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
    core::Json payload = core::Json::parse(req.body, nullptr, false);
    const int status = answer_(payload);
    const std::string id = req.get_header_value("Idempotency-Key");
    std::lock_guard<std::mutex> lock(mu_);
    ++seen_.requests[id];
    if (!secret_.empty() && req.get_header_value("Rivulet-Signature") !=
                                "sha256=" + core::HmacSha256Hex(secret_, req.body)) {
      ++seen_.bad_signatures;
    }
    if (status >= 200 && status < 300 && answered_.insert(id).second)
      seen_.firsts.push_back(std::move(payload));
    res.status = status;
  });
  port_ = server_.bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
}

WebhookReceiver::~WebhookReceiver() {
  server_.stop();
  thread_.join();
}

WebhookReceiver::Seen WebhookReceiver::seen() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_;
}

}  // namespace rivulet::testing
