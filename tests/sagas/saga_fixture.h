#pragma once

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "sagas/saga_definition.h"

namespace rivulet::testing {

// Compiles a saga definition given as JSON, failing the test on errors.
inline std::shared_ptr<const sagas::SagaDefinition> Saga(const std::string& json) {
  auto def = sagas::CompileSaga(core::Json::parse(json));
  INFO(def.status());
  REQUIRE(def.ok());
  return std::make_shared<const sagas::SagaDefinition>(std::move(def).value());
}

// payment (compensated by refund) -> reserve (compensated) -> notify (no compensation).
inline const char* kThreeSteps = R"({"name": "order", "trigger": {"type": "OrderPlaced"},
  "id": "${data.id}", "retry": {"max_attempts": 3, "initial_interval": "1s", "jitter": "none"},
  "compensation_retry": {"max_attempts": 2, "initial_interval": "1s"},
  "steps": [
    {"name": "payment", "action": {"call": "payments", "path": "/payments"},
     "compensation": {"call": "payments", "path": "/payments/${steps.payment.response.id ?? saga.id}/refund"}},
    {"name": "reserve", "action": {"call": "inventory", "path": "/reservations"},
     "compensation": {"call": "inventory", "method": "DELETE", "path": "/reservations/${saga.id}"}},
    {"name": "notify", "action": {"call": "notifications", "path": "/notify"}}]})";

}  // namespace rivulet::testing
