#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/component_state.h"
#include "core/json.h"
#include "core/metrics.h"
#include "server/router.h"
#include "server/server_context.h"

namespace rivulet::server {

// Readiness of this node (SPEC section 5, GET /v1/ready, no token): 503 while the
// process starts or has lost its store (so a load balancer stops sending it requests),
// 200 otherwise, even when a source, projection or destination is not well (that is
// not a reason to take every node out). The body lists each component with its state
// (ok, degraded, stopped, failed), why, and its dead letters; `status` is "ready", or
// "degraded" when any component is not ok. A component that is ok but holds dead
// letters counts as degraded.
//
// Also keeps the gauges rivulet_component_up{kind,name} (1 while ok or degraded) and
// rivulet_dead_letters{component="<kind>/<name>"} for alerting.
//
// Thread-safe after Register. Must outlive the server; removes its collector when
// destroyed.
class Readiness {
 public:
  using Reporter = std::function<std::vector<core::ComponentState>()>;

  explicit Readiness(ServerContext& ctx) : ctx_(ctx) {}
  ~Readiness();
  Readiness(const Readiness&) = delete;
  Readiness& operator=(const Readiness&) = delete;

  // Before Register.
  void Add(Reporter reporter) { reporters_.push_back(std::move(reporter)); }
  // Adds the route and the gauges (one per component reported now).
  void Register(Router& router);
  // Until this is called, /v1/ready answers 503 "starting".
  void SetStarted() { started_.store(true); }

  // The body, and the HTTP status to answer with.
  core::Json Report(int* http_status);

 private:
  std::vector<core::ComponentState> Collect();
  void UpdateGauges();

  ServerContext& ctx_;
  std::vector<Reporter> reporters_;
  std::atomic<bool> started_{false};
  std::map<std::pair<std::string, std::string>, core::Gauge*> up_;
  std::map<std::pair<std::string, std::string>, core::Gauge*> dead_letters_;
  uint64_t collector_ = 0;
};

}  // namespace rivulet::server
