#pragma once

#include <string>

namespace rivulet::core {

// How one running part of the process is doing, for readiness (GET /v1/ready) and the
// rivulet_component_up gauge:
//   kOk        working normally;
//   kDegraded  working, but something needs a look: a dependency is down and being
//              retried, or inputs were parked as dead letters;
//   kStopped   not working, on purpose or by its policy: halted at a bad input under
//              `on_error: stop`, or not started;
//   kFailed    cannot work until a person fixes something (an invalidated replication
//              slot, a failed projection copy).
enum class ComponentHealth { kOk, kDegraded, kStopped, kFailed };

const char* ComponentHealthName(ComponentHealth health);

struct ComponentState {
  std::string kind;  // "store", "source", "projection", "saga_engine", "destination"
  std::string name;
  ComponentHealth health = ComponentHealth::kOk;
  std::string detail;  // why, in one sentence; empty when ok
};

}  // namespace rivulet::core
