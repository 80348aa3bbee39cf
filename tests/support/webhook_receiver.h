#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/json.h"

namespace rivulet::testing {

// A webhook receiver on a free loopback port, for outbox deliveries: POST /hooks is
// answered with answer(payload) (204 unless set), after `delay`. It checks
// Rivulet-Signature against `secret` when one is given and, like a deduplicating
// destination, keeps the first successful delivery of each Idempotency-Key.
class WebhookReceiver {
 public:
  explicit WebhookReceiver(std::string secret = "",
                           std::chrono::milliseconds delay = std::chrono::milliseconds(0));
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  // Set before deliveries start.
  void set_answer(std::function<int(const core::Json&)> answer) { answer_ = std::move(answer); }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hooks"; }

  struct Seen {
    std::vector<core::Json> firsts;       // first 2xx delivery of each id, in arrival order
    std::map<std::string, int> requests;  // id -> requests received
    int bad_signatures = 0;
  };
  Seen seen() const;

 private:
  std::string secret_;
  std::chrono::milliseconds delay_;
  std::function<int(const core::Json&)> answer_ = [](const core::Json&) { return 204; };
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mu_;
  Seen seen_;                       // GUARDED_BY(mu_)
  std::set<std::string> answered_;  // GUARDED_BY(mu_): ids answered 2xx
};

}  // namespace rivulet::testing
