// rivulet-example-services: the participants of the order-fulfillment saga in one
// small HTTP server (payments, inventory, shipping, notifications, and a webhook
// receiver), with state, idempotency keys and fault injection.
//
//   rivulet-example-services [--listen 127.0.0.1:9100] [--error-rate 0.1]
//       [--latency-ms 20] [--fail-orders o-1,o-2] [--fail-paths /shipments]
//       [--hang-orders o-3] [--seed N]
//
// A repeated Idempotency-Key returns the first answer and does nothing again. Faults:
// --error-rate answers 503 (before doing anything) to that share of requests;
// --latency-ms delays every answer; --fail-orders answers 422 for those order ids (at
// the path prefixes of --fail-paths, default everywhere but refunds);
// --hang-orders does the work, then holds the answer for 60 s (the caller times out
// without knowing). Per request: headers X-Fail: <status>, X-Fail-Times: N (503 for the
// first N requests of the idempotency key), X-Latency-Ms, X-Hang: 1 (empty or 0: none).
// POST /control takes the same settings as JSON; GET /state shows every effect.
// POST /hooks receives outbox webhooks: the Rivulet-Signature must be the HMAC-SHA256 of
// the body with --webhook-secret (default example-secret); each message id is kept once.
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "core/digest.h"

using Json = nlohmann::json;

namespace {

struct Faults {
  double error_rate = 0;
  int latency_ms = 0;
  std::set<std::string> fail_orders;
  std::set<std::string> hang_orders;
  std::set<std::string> fail_paths;  // where fail_orders applies (path prefixes); empty: all
};

struct Answer {
  int status;
  std::string body;
};

class Services {
 public:
  Services(Faults faults, uint64_t seed, std::string webhook_secret)
      : faults_(std::move(faults)), rng_(seed), webhook_secret_(std::move(webhook_secret)) {}

  void Route(httplib::Server& server) {
    server.Post("/payments", [this](const auto& req, auto& res) {
      Handle(req, res, [&](const Json& body) -> Answer {
        std::string order = body.value("order_id", "");
        if (order.empty()) return {400, R"({"error":"order_id is required"})"};
        std::string id = "pay-" + order;
        state_["payments"][order] = {
            {"payment_id", id}, {"amount", body.value("amount", Json())}, {"status", "captured"}};
        return {201, Json{{"payment_id", id}, {"order_id", order}, {"status", "captured"}}.dump()};
      });
    });
    auto refund = [this](const std::string& order, const auto& req, auto& res) {
      Handle(req, res, [&](const Json&) -> Answer {
        auto& p = state_["payments"];
        if (!p.contains(order)) return {200, Json{{"order_id", order}, {"status", "none"}}.dump()};
        p[order]["status"] = "refunded";
        return {200, Json{{"order_id", order}, {"status", "refunded"}}.dump()};
      });
    };
    server.Post(R"(/payments/pay-([^/]+)/refund)",
                [refund](const auto& req, auto& res) { refund(req.matches[1].str(), req, res); });
    server.Post(R"(/payments/by-order/([^/]+)/refund)",
                [refund](const auto& req, auto& res) { refund(req.matches[1].str(), req, res); });
    server.Post("/reservations", [this](const auto& req, auto& res) {
      Handle(req, res, [&](const Json& body) -> Answer {
        std::string order = body.value("order_id", "");
        if (order.empty()) return {400, R"({"error":"order_id is required"})"};
        state_["reservations"][order] = {{"items", body.value("items", Json())}};
        return {201, Json{{"reservation_id", "res-" + order}, {"order_id", order}}.dump()};
      });
    });
    server.Delete(R"(/reservations/by-order/([^/]+))", [this](const auto& req, auto& res) {
      std::string order = req.matches[1].str();
      Handle(req, res, [&](const Json&) -> Answer {
        state_["reservations"].erase(order);
        return {200, Json{{"order_id", order}, {"status", "released"}}.dump()};
      });
    });
    server.Post("/shipments", [this](const auto& req, auto& res) {
      Handle(req, res, [&](const Json& body) -> Answer {
        std::string order = body.value("order_id", "");
        if (order.empty()) return {400, R"({"error":"order_id is required"})"};
        state_["shipments"][order] = {{"status", "booked"}};
        return {201, Json{{"shipment_id", "ship-" + order}, {"order_id", order}}.dump()};
      });
    });
    server.Delete(R"(/shipments/by-order/([^/]+))", [this](const auto& req, auto& res) {
      std::string order = req.matches[1].str();
      Handle(req, res, [&](const Json&) -> Answer {
        state_["shipments"].erase(order);
        return {200, Json{{"order_id", order}, {"status", "cancelled"}}.dump()};
      });
    });
    server.Post("/notifications", [this](const auto& req, auto& res) {
      Handle(req, res, [&](const Json& body) -> Answer {
        state_["notifications"].push_back(body);
        return {202, R"({"status":"queued"})"};
      });
    });
    // The webhook receiver of the outbox example: checks the signature, keeps each
    // message once (by Idempotency-Key).
    server.Post("/hooks", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string expected =
          "sha256=" + rivulet::core::HmacSha256Hex(webhook_secret_, req.body);
      std::lock_guard<std::mutex> lock(mu_);
      if (req.get_header_value("Rivulet-Signature") != expected) {
        state_["webhook_bad_signatures"] = state_["webhook_bad_signatures"].get<int>() + 1;
        res.status = 401;
        res.set_content(R"({"error":"bad signature"})", "application/json");
        return;
      }
      const std::string key = req.get_header_value("Idempotency-Key");
      if (++webhook_ids_[key] == 1) {
        Json event = Json::parse(req.body, nullptr, false);
        state_["webhooks"].push_back(
            {{"id", key}, {"type", req.get_header_value("Rivulet-Event-Type")}, {"event", event}});
      }
      res.status = 204;
    });
    server.Get("/state", [this](const auto&, auto& res) {
      std::lock_guard<std::mutex> lock(mu_);
      Json out = state_;
      out["applied"] = applied_;
      out["requests"] = requests_;
      res.set_content(out.dump(), "application/json");
    });
    server.Post("/control", [this](const auto& req, auto& res) {
      Json body = Json::parse(req.body, nullptr, false);
      if (!body.is_object()) {
        res.status = 400;
        res.set_content(R"({"error":"expected a JSON object"})", "application/json");
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      try {
        ApplyControl(body);
      } catch (const std::exception& e) {
        res.status = 400;
        res.set_content(Json{{"error", e.what()}}.dump(), "application/json");
        return;
      }
      res.set_content(R"({"status":"ok"})", "application/json");
    });
  }

  void ApplyControl(const Json& body) {
    if (body.contains("error_rate")) faults_.error_rate = body["error_rate"].get<double>();
    if (body.contains("latency_ms")) faults_.latency_ms = body["latency_ms"].get<int>();
    if (body.contains("fail_orders"))
      faults_.fail_orders = body["fail_orders"].get<std::set<std::string>>();
    if (body.contains("hang_orders"))
      faults_.hang_orders = body["hang_orders"].get<std::set<std::string>>();
    if (body.contains("fail_paths"))
      faults_.fail_paths = body["fail_paths"].get<std::set<std::string>>();
  }

 private:
  // Runs `work` once per idempotency key (under the lock), with the faults applied.
  template <class Work>
  void Handle(const httplib::Request& req, httplib::Response& res, Work work) {
    Json body = req.body.empty() ? Json::object() : Json::parse(req.body, nullptr, false);
    const std::string key = req.get_header_value("Idempotency-Key");
    std::string order = body.is_object() ? body.value("order_id", "") : "";
    if (order.empty() && req.matches.size() > 1) order = req.matches[1].str();
    int latency = 0;
    bool hang = req.get_header_value("X-Hang") == "1";
    Answer answer{500, ""};
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++requests_[key.empty() ? req.method + " " + req.path : key];
      latency = faults_.latency_ms;
      if (req.has_header("X-Latency-Ms"))
        latency = std::atoi(req.get_header_value("X-Latency-Ms").c_str());
      hang = hang || faults_.hang_orders.count(order) > 0;
      std::uniform_real_distribution<double> coin(0, 1);
      if (!key.empty() && answers_.count(key)) {
        answer = answers_[key];
      } else if (!body.is_object()) {
        answer = {400, R"({"error":"expected a JSON object"})"};
      } else if (const int fail = std::atoi(req.get_header_value("X-Fail").c_str()); fail > 0) {
        answer = {fail, R"({"error":"injected"})"};
      } else if (const int times = std::atoi(req.get_header_value("X-Fail-Times").c_str());
                 times > 0 && requests_[key] <= times) {
        answer = {503, R"({"error":"injected, for the first requests of this key"})"};
      } else if (faults_.fail_orders.count(order) && req.method == "POST" &&
                 req.path.find("refund") == std::string::npos && FailsAt(req.path)) {
        answer = {422, Json{{"error", "order " + order + " is refused"}}.dump()};
      } else if (coin(rng_) < faults_.error_rate) {
        answer = {503, R"({"error":"injected unavailability"})"};
      } else {
        answer = work(body);
        if (!key.empty()) {
          answers_[key] = answer;
          ++applied_[key];
        }
      }
    }
    if (hang) std::this_thread::sleep_for(std::chrono::seconds(60));
    if (latency > 0) std::this_thread::sleep_for(std::chrono::milliseconds(latency));
    res.status = answer.status;
    res.set_content(answer.body, "application/json");
  }

  bool FailsAt(const std::string& path) const {
    if (faults_.fail_paths.empty()) return true;
    for (const auto& prefix : faults_.fail_paths) {
      if (path.rfind(prefix, 0) == 0) return true;
    }
    return false;
  }

  std::mutex mu_;
  Faults faults_;
  std::mt19937_64 rng_;
  Json state_ = {{"payments", Json::object()},  {"reservations", Json::object()},
                 {"shipments", Json::object()}, {"notifications", Json::array()},
                 {"webhooks", Json::array()},   {"webhook_bad_signatures", 0}};
  std::map<std::string, Answer> answers_;
  std::map<std::string, int> applied_;   // idempotency key -> times the work ran
  std::map<std::string, int> requests_;  // idempotency key -> requests received
  std::string webhook_secret_;
  std::map<std::string, int> webhook_ids_;  // message id -> deliveries received
};

httplib::Server* g_server = nullptr;

std::set<std::string> SplitList(const std::string& s) {
  std::set<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.insert(item);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:9100";
  Faults faults;
  uint64_t seed = std::random_device{}();
  std::string webhook_secret = "example-secret";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "rivulet-example-services: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--listen")
      listen = value();
    else if (arg == "--error-rate")
      faults.error_rate = std::atof(value().c_str());
    else if (arg == "--latency-ms")
      faults.latency_ms = std::atoi(value().c_str());
    else if (arg == "--fail-orders")
      faults.fail_orders = SplitList(value());
    else if (arg == "--hang-orders")
      faults.hang_orders = SplitList(value());
    else if (arg == "--seed")
      seed = std::strtoull(value().c_str(), nullptr, 10);
    else {
      std::fprintf(stderr, "rivulet-example-services: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "rivulet-example-services: --listen HOST:PORT\n");
    return 2;
  }
  const std::string host = listen.substr(0, colon);
  const int port = std::atoi(listen.substr(colon + 1).c_str());

  Services services(faults, seed, webhook_secret);
  httplib::Server server;
  server.new_task_queue = [] { return new httplib::ThreadPool(64); };
  server.set_tcp_nodelay(true);  // answers are small: never wait for Nagle
  // httplib closes keep-alive connections after 5 requests by default; its listen backlog
  // of 5 then drops simultaneous reconnects (retried after 1 s).
  server.set_keep_alive_max_count(100'000);
  services.Route(server);
  g_server = &server;
  std::signal(SIGTERM, [](int) { g_server->stop(); });
  std::signal(SIGINT, [](int) { g_server->stop(); });
  int bound = port;
  if (port == 0) {
    bound = server.bind_to_any_port(host);
  } else if (!server.bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound <= 0) {
    std::fprintf(stderr, "rivulet-example-services: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  std::printf("listening on %s:%d\n", host.c_str(), bound);
  std::fflush(stdout);
  server.listen_after_bind();
  return 0;
}
