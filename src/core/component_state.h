#pragma once

#include <string>

namespace rivulet::core {

// How one running part of the process is doing, for readiness (GET /v1/ready) and the
// rivulet_component_up gauge:
//   kOk        working normally;
//   kDegraded  working, but something needs a look: a dependency is down and being
//              retried, or inputs were parked as dead letters;
//   kStopped   not working, by its policy or on purpose: halted at a bad input under
//              `on_error: stop` (a source, a projection copy that failed at an event),
//              or not started;
//   kFailed    cannot work until a person fixes something (an invalidated replication
//              slot, wal_level not logical, a store that refuses writes).
enum class ComponentHealth { kOk, kDegraded, kStopped, kFailed };

const char* ComponentHealthName(ComponentHealth health);

struct ComponentState {
  std::string kind;  // "store", "source", "projection", "saga_engine", "destination"
  std::string name;
  ComponentHealth health = ComponentHealth::kOk;
  std::string detail;  // why, in one sentence; empty when ok
};

}  // namespace rivulet::core
