#include "core/component_state.h"

namespace rivulet::core {

const char* ComponentHealthName(ComponentHealth health) {
  switch (health) {
    case ComponentHealth::kOk:
      return "ok";
    case ComponentHealth::kDegraded:
      return "degraded";
    case ComponentHealth::kStopped:
      return "stopped";
    case ComponentHealth::kFailed:
      return "failed";
  }
  return "failed";
}

}  // namespace rivulet::core
