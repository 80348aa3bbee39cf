#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/metrics.h"
#include "sagas/saga_engine.h"
#include "tests/support/example_services.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_store.h"

namespace rivulet::testing {

// payment -> reserve -> ship against the example services. The trigger (or the input of
// a hand start) chooses faults per step: fail_<step> (an HTTP status), flaky_<step> (503
// for the first N requests of the key), hang_reserve (1: the work is done, the answer
// never comes), flaky_refund.
inline const char* kFulfillment = R"({"name": "order", "timeout": "5m",
  "retry": {"max_attempts": 3, "initial_interval": "1s", "jitter": "none"},
  "compensation_retry": {"max_attempts": 2, "initial_interval": "1s", "jitter": "none"},
  "steps": [
    {"name": "payment",
     "action": {"call": "payments", "path": "/payments",
                "body": {"order_id": "${saga.id}", "amount": "${trigger.amount ?? 10}"},
                "headers": {"X-Fail": "${trigger.fail_payment ?? 0}",
                            "X-Fail-Times": "${trigger.flaky_payment ?? 0}"}},
     "compensation": {"call": "payments", "path": "/payments/by-order/${saga.id}/refund",
                      "headers": {"X-Fail-Times": "${trigger.flaky_refund ?? 0}"}}},
    {"name": "reserve", "timeout": "500ms",
     "action": {"call": "inventory", "path": "/reservations", "body": {"order_id": "${saga.id}"},
                "headers": {"X-Fail": "${trigger.fail_reserve ?? 0}",
                            "X-Hang": "${trigger.hang_reserve ?? 0}"}},
     "compensation": {"call": "inventory", "method": "DELETE",
                      "path": "/reservations/by-order/${saga.id}"}},
    {"name": "ship",
     "action": {"call": "shipping", "path": "/shipments", "body": {"order_id": "${saga.id}"},
                "headers": {"X-Fail": "${trigger.fail_ship ?? 0}"}},
     "compensation": {"call": "shipping", "method": "DELETE",
                      "path": "/shipments/by-order/${saga.id}"}}],
  "on_completed": {"emit": {"stream": "order-${saga.id}", "type": "OrderFulfilled",
                            "data": {"payment": "${steps.payment.response.payment_id}"}}},
  "on_compensated": {"emit": {"stream": "order-${saga.id}", "type": "OrderFulfillmentFailed",
                              "data": {"reason": "${saga.error}"}}}})";

// A store, the example services, a manual clock and an engine over them.
class SagaRig {
 public:
  explicit SagaRig(const std::vector<std::string>& service_args = {})
      : store_(OpenTestStore("sqlite", dir_)), services_(service_args) {}
  ~SagaRig() { StopEngine(); }

  eventstore::EventStore& store() { return *store_; }
  // The registry the next StartEngine gives the engine (none by default).
  void set_metrics(core::MetricsRegistry* metrics) { metrics_ = metrics; }
  ExampleServices& services() { return services_; }
  core::ManualClock& clock() { return clock_; }
  sagas::SagaEngine& engine() { return *engine_; }

  void StartEngine(const std::vector<std::string>& definitions, int workers = 8,
                   const std::map<std::string, std::string>& extra_services = {}) {
    std::vector<sagas::SagaDefinition> defs;
    for (const auto& json : definitions) {
      auto def = sagas::CompileSaga(core::Json::parse(json));
      INFO(def.status());
      REQUIRE(def.ok());
      defs.push_back(std::move(def).value());
    }
    sagas::SagaEngineOptions options;
    for (const char* name : {"payments", "inventory", "shipping", "notifications"})
      options.services[name] = services_.url();
    for (const auto& [name, url] : extra_services) options.services[name] = url;
    options.workers = workers;
    options.clock = &clock_;
    options.metrics = metrics_;
    options.idle_wait = std::chrono::milliseconds(10);
    engine_ = std::make_unique<sagas::SagaEngine>(*store_, std::move(defs), options);
    Status started = engine_->Start();
    INFO(started);
    REQUIRE(started.ok());
  }
  void StopEngine() {
    if (engine_) engine_->Stop();
    engine_.reset();
  }

  sagas::InstanceRow StartByHand(const std::string& id, const core::Json& input) {
    auto row = sagas::StartSaga(*store_, *engine_->Find("order"), id, input, clock_);
    INFO(row.status());
    REQUIRE(row.ok());
    engine_->Wake();
    return *row;
  }

  core::Json Describe(const std::string& id, const std::string& saga = "order") {
    auto d = sagas::DescribeInstance(*store_, saga, id);
    INFO(d.status());
    REQUIRE(d.ok());
    return *d;
  }

  // Waits until the instance's status is one of `statuses`, moving the manual clock
  // `step` every few milliseconds (so retries and timeouts come due).
  core::Json WaitForStatus(const std::string& id, const std::vector<std::string>& statuses,
                           std::chrono::milliseconds step = std::chrono::milliseconds(500),
                           const std::string& saga = "order") {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (true) {
      auto d = sagas::DescribeInstance(*store_, saga, id);
      if (d.ok()) {
        for (const auto& s : statuses) {
          if ((*d)["status"] == s && Finished(*d)) return *d;
        }
      }
      INFO("instance " << id << ": " << (d.ok() ? d->dump() : d.status().ToString()));
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      clock_.Advance(step);
      if (engine_) engine_->Wake();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // The types in the instance's history, in order.
  static std::vector<std::string> Types(const core::Json& described) {
    std::vector<std::string> out;
    for (const auto& h : described["history"]) out.push_back(h["type"].get<std::string>());
    return out;
  }
  // The steps compensated, in the order their compensations succeeded.
  static std::vector<std::string> Compensated(const core::Json& described) {
    std::vector<std::string> out;
    for (const auto& h : described["history"]) {
      if (h["type"] == "CompensationSucceeded") out.push_back(h["data"]["step"].get<std::string>());
    }
    return out;
  }

 private:
  static bool Finished(const core::Json& d) {
    // Terminal statuses have their terminal event; "failed" has SagaFailed.
    const auto& history = d["history"];
    if (history.empty()) return false;
    const std::string last = history.back()["type"];
    return last == "SagaCompleted" || last == "SagaCompensated" || last == "SagaAborted" ||
           last == "SagaFailed";
  }

  TempDir dir_;
  std::unique_ptr<eventstore::EventStore> store_;
  ExampleServices services_;
  core::ManualClock clock_;
  core::MetricsRegistry* metrics_ = nullptr;
  std::unique_ptr<sagas::SagaEngine> engine_;
};

}  // namespace rivulet::testing
