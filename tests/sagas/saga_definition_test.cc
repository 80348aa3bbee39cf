#include "sagas/saga_definition.h"

#include "tests/sagas/saga_fixture.h"

using namespace rivulet;
using namespace rivulet::testing;
using core::Json;

TEST_CASE("a saga definition compiles with its defaults and a stable hash", "[sagas][definition]") {
  auto def = Saga(kThreeSteps);
  CHECK(def->name == "order");
  CHECK(def->trigger_type == "OrderPlaced");
  CHECK(def->timeout == std::chrono::minutes(5));
  CHECK(def->retry.max_attempts == 3);
  CHECK(def->compensation_retry.max_attempts == 2);
  CHECK(def->compensation_retry.max_interval == std::chrono::minutes(1));  // the default kept
  REQUIRE(def->steps.size() == 3);
  CHECK(def->steps[1].compensation->method == "DELETE");
  CHECK_FALSE(def->steps[2].compensation);
  CHECK(def->StepIndex("reserve") == 1);
  CHECK(def->StepIndex("nope") == -1);
  CHECK(def->hash.size() == 64);
  CHECK(Saga(kThreeSteps)->hash == def->hash);
  CHECK(Saga(def->definition.dump())->hash == def->hash);  // frozen and compiled again
}

TEST_CASE("services are checked when declared, and skipped for frozen definitions",
          "[sagas][definition]") {
  Json json = Json::parse(kThreeSteps);
  std::set<std::string> services = {"payments", "inventory"};
  auto checked = sagas::CompileSaga(json, &services);
  REQUIRE_FALSE(checked.ok());
  CHECK_THAT(checked.status().message(),
             Catch::Contains("saga.steps[2].action.call: no service named notifications"));
  CHECK(sagas::CompileSaga(json).ok());
}

TEST_CASE("bad saga definitions name the key path and the reason", "[sagas][definition]") {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"name": "s", "steps": []})", "saga.steps: a saga needs at least one step"},
      {R"({"name": "s"})", "saga.steps: required"},
      {R"({"name": "s", "steps": [{"name": "a"}]})", "a step has exactly one of action and await"},
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "path": "/a"},
          "await": {"type": "T"}}]})",
       "a step has exactly one of action and await"},
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "path": "x"}}]})",
       "saga.steps[0].action.path: a path starts with '/'"},
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "path": "/${steps.b.response.x}"}},
          {"name": "b", "action": {"call": "p", "path": "/b"}}]})",
       "template reads steps.b, which the action of step a cannot see (only earlier steps"},
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "path": "/${steps.a.response.x}"}}]})",
       "which the action of step a cannot see"},
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "path": "/a"},
          "compensation": {"call": "p", "path": "/${steps.a.response.x}"}}]})",
       ""},  // a compensation may read its own step
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "path": "/${steps.a.body}"}}]})",
       "cannot see"},
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "path": "/a"}},
          {"name": "b", "action": {"call": "p", "path": "/${steps.a.body}"}}]})",
       "steps.a has response and status, not \"body\""},
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "path": "/${env.SECRET}"}}]})",
       "templates never see env"},
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "path": "/${data.x}"}}]})",
       "but a saga only sees trigger, saga, steps and services"},
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "path": "/${saga.secret}"}}]})",
       "saga has name, id and error, not \"secret\""},
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "path": "/a"}},
          {"name": "a", "action": {"call": "p", "path": "/b"}}]})",
       "saga.steps[1].name: duplicate step name a"},
      {R"({"name": "s", "steps": [{"name": "a", "await": {"type": "T"},
          "compensation": {"call": "p", "path": "/a"}}]})",
       "an await step has nothing to compensate"},
      {R"({"name": "s", "steps": [{"name": "a", "await": {"type": "T", "match": {"data.id": "${trigger.x}"}}},
          {"name": "b", "await": {"type": "T", "match": {"data.id": "${steps.c.response}"}}}]})",
       "the await of step b cannot see (no such step)"},
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "path": "/a"}, "timeout": "fast"}]})",
       "saga.steps[0].timeout: expected a duration like 30s, got \"fast\""},
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "path": "/a"}, "timeout": "0s"}]})",
       "saga.steps[0].timeout: must be more than 0ms"},
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "method": "FETCH", "path": "/a"}}]})",
       "saga.steps[0].action.method: expected one of GET, POST, PUT, PATCH, DELETE"},
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "path": "/a",
          "headers": {"Bad Header": "x"}}}]})",
       "not a valid header name"},
      {R"({"name": "s", "trigger": {"type": "A"}, "steps": [{"name": "a", "action": {"call": "p", "path": "/a"}}]})",
       "saga.id: required when the saga has a trigger"},
      {R"({"name": "s", "trigger": {"type": "A"}, "id": "${trigger.id}", "steps": [{"name": "a",
          "action": {"call": "p", "path": "/a"}}]})",
       "a saga id (over its trigger event) only sees"},
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "path": "/a"}}],
          "on_completed": {"emit": {"type": "Done"}}})",
       "saga.on_completed.emit.stream: required"},
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "path": "/a"}}],
          "on_completed": {"emit": {"stream": "x", "type": "Done", "data": {"r": "${steps.z.response}"}}}})",
       "(no such step)"},
      {R"({"name": "s!", "steps": [{"name": "a", "action": {"call": "p", "path": "/a"}}]})",
       "saga.name: expected a name of 1-64 letters"},
      {R"({"name": "s", "steps": [{"name": "a", "action": {"call": "p", "path": "/a"}}], "extra": 1})",
       "saga.extra: unknown key \"extra\""},
  };
  for (const auto& [json, expected] : cases) {
    INFO(json);
    auto def = sagas::CompileSaga(Json::parse(json));
    if (std::string(expected).empty()) {
      CHECK(def.ok());
      continue;
    }
    REQUIRE_FALSE(def.ok());
    CHECK_THAT(def.status().message(), Catch::Contains(expected));
  }
}
