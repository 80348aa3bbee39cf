#include "sagas/saga_machine.h"

#include <vector>

#include "tests/sagas/saga_fixture.h"

using namespace rivulet;
using namespace rivulet::testing;
using core::Json;
using sagas::Phase;
using sagas::SagaMachine;

namespace {

// Applies events to a machine and keeps the stream, so tests can restore from it.
struct Instance {
  std::shared_ptr<const sagas::SagaDefinition> def;
  SagaMachine machine;
  std::vector<std::pair<std::string, Json>> stream;

  explicit Instance(const char* json = kThreeSteps) : def(Saga(json)), machine(def) {
    Apply("SagaStarted", {{"trigger", {{"data", {{"id", "o-1"}}}}}, {"deadline", 1000}});
  }
  void Apply(const std::string& type, Json data) {
    INFO(type << " " << data.dump() << " in " << sagas::PhaseName(machine.phase()));
    Status applied = machine.Apply(type, data);
    INFO(applied);
    REQUIRE(applied.ok());
    stream.emplace_back(type, std::move(data));
  }
  std::string Step() const {
    int i = machine.current_step();
    return i < 0 ? "" : def->steps[static_cast<size_t>(i)].name;
  }
  int Attempts(const char* kind) const {
    const auto& s = machine.steps()[static_cast<size_t>(machine.current_step())];
    return std::string(kind) == "action" ? s.attempts : s.compensation_attempts;
  }
  void Succeed() {
    Apply("StepStarted", {{"step", Step()}, {"attempt", Attempts("action") + 1}});
    Apply("StepSucceeded", {{"step", Step()}, {"status", 200}, {"response", {{"id", "x"}}}});
  }
  void Fail(bool retryable, bool unknown = false) {
    Apply("StepStarted", {{"step", Step()}, {"attempt", Attempts("action") + 1}});
    Apply("StepFailed", {{"step", Step()},
                         {"error", "boom"},
                         {"retryable", retryable},
                         {"outcome", unknown ? "unknown" : "known"}});
  }
  // Runs every compensation to success; returns the steps compensated, in order.
  std::vector<std::string> CompensateAll() {
    std::vector<std::string> order;
    while (machine.phase() == Phase::kCompensating) {
      order.push_back(Step());
      Apply("CompensationStarted", {{"step", Step()}, {"attempt", Attempts("compensation") + 1}});
      Apply("CompensationSucceeded", {{"step", Step()}, {"status", 200}});
    }
    return order;
  }
};

}  // namespace

TEST_CASE("steps run in order to completion, then the terminal event is recorded once",
          "[sagas][machine]") {
  Instance i;
  CHECK(i.machine.phase() == Phase::kRunningStep);
  CHECK(i.Step() == "payment");
  CHECK(i.machine.trigger()["data"]["id"] == "o-1");
  i.Succeed();
  CHECK(i.Step() == "reserve");
  CHECK(i.machine.steps()[0].response["id"] == "x");
  i.Succeed();
  i.Succeed();
  CHECK(i.machine.phase() == Phase::kCompleted);
  CHECK(sagas::StatusName(i.machine.phase()) == "completed");
  CHECK_FALSE(i.machine.finished());
  i.Apply("SagaCompleted", Json::object());
  CHECK(i.machine.finished());
  CHECK_FALSE(i.machine.Apply("SagaCompleted", Json::object()).ok());
  CHECK_FALSE(i.machine.Apply("SagaCompensated", Json::object()).ok());
}

TEST_CASE("a permanent failure at each step compensates exactly the earlier steps, in reverse",
          "[sagas][machine]") {
  const std::vector<std::vector<std::string>> expected = {{}, {"payment"}, {"reserve", "payment"}};
  for (size_t failing = 0; failing < 3; ++failing) {
    INFO("failing step " << failing);
    Instance i;
    for (size_t k = 0; k < failing; ++k) i.Succeed();
    i.Fail(/*retryable=*/false);
    CHECK(i.machine.error() == "boom");
    CHECK(i.CompensateAll() == expected[failing]);
    CHECK(i.machine.phase() == Phase::kCompensated);
    i.Apply("SagaCompensated", {{"error", "boom"}});
  }
}

TEST_CASE("retryable failures wait for their retry time, then succeed", "[sagas][machine]") {
  Instance i;
  i.Fail(/*retryable=*/true);
  CHECK(i.machine.phase() == Phase::kWaitingToRetry);
  CHECK(sagas::StatusName(i.machine.phase()) == "running");
  i.Apply("RetryScheduled", {{"step", "payment"}, {"attempt", 2}, {"due", 5000}});
  CHECK(i.machine.due() == 5000);
  i.Fail(/*retryable=*/true);
  i.Apply("RetryScheduled", {{"step", "payment"}, {"attempt", 3}, {"due", 9000}});
  i.Succeed();  // the third and last attempt
  CHECK(i.machine.phase() == Phase::kRunningStep);
  CHECK(i.Step() == "reserve");
  CHECK(i.machine.steps()[0].attempts == 3);
  CHECK_FALSE(i.machine.due());
}

TEST_CASE("exhausted retries compensate, an unknown outcome included", "[sagas][machine]") {
  Instance i;
  i.Succeed();
  i.Fail(true, /*unknown=*/true);  // reserve timed out: it may have happened
  i.Apply("RetryScheduled", {{"step", "reserve"}, {"attempt", 2}, {"due", 1}});
  i.Fail(true);
  i.Apply("RetryScheduled", {{"step", "reserve"}, {"attempt", 3}, {"due", 2}});
  i.Fail(true);  // third attempt: max_attempts is 3
  CHECK(i.machine.phase() == Phase::kCompensating);
  CHECK(i.CompensateAll() == std::vector<std::string>{"reserve", "payment"});
}

TEST_CASE("a saga timeout while a call is in flight compensates that call too",
          "[sagas][machine]") {
  Instance i;
  i.Succeed();
  i.Apply("StepStarted", {{"step", "reserve"}, {"attempt", 1}});
  i.Apply("SagaTimedOut", Json::object());
  CHECK(i.machine.error() == "the saga timed out");
  CHECK(i.CompensateAll() == std::vector<std::string>{"reserve", "payment"});
  CHECK(i.machine.phase() == Phase::kCompensated);
}

TEST_CASE("a timeout before anything happened ends compensated at once", "[sagas][machine]") {
  Instance i;
  i.Apply("SagaTimedOut", Json::object());
  CHECK(i.machine.phase() == Phase::kCompensated);
}

TEST_CASE("an exhausted compensation leaves the instance failed until retry", "[sagas][machine]") {
  Instance i;
  i.Succeed();
  i.Fail(false);
  CHECK(i.Step() == "payment");
  i.Apply("CompensationStarted", {{"step", "payment"}, {"attempt", 1}});
  i.Apply("CompensationFailed", {{"step", "payment"}, {"error", "503"}, {"retryable", true}});
  CHECK(i.machine.phase() == Phase::kWaitingToRetryCompensation);
  i.Apply("CompensationRetryScheduled", {{"step", "payment"}, {"attempt", 2}, {"due", 7}});
  i.Apply("CompensationStarted", {{"step", "payment"}, {"attempt", 2}});
  i.Apply("CompensationFailed", {{"step", "payment"}, {"error", "503 again"}, {"retryable", true}});
  CHECK(i.machine.phase() == Phase::kFailed);
  CHECK(i.machine.error() == "503 again");
  i.Apply("SagaFailed", {{"error", "503 again"}});
  CHECK_FALSE(sagas::IsTerminal(i.machine.phase()));  // waits for a person

  i.Apply("RetryRequested", Json::object());
  CHECK(i.machine.phase() == Phase::kCompensating);
  CHECK_FALSE(i.machine.finished());
  CHECK(i.CompensateAll() == std::vector<std::string>{"payment"});
  CHECK(i.machine.phase() == Phase::kCompensated);
}

TEST_CASE("a compensation answered with a permanent error fails at once", "[sagas][machine]") {
  Instance i;
  i.Succeed();
  i.Fail(false);
  i.Apply("CompensationStarted", {{"step", "payment"}, {"attempt", 1}});
  i.Apply("CompensationFailed", {{"step", "payment"}, {"error", "404"}, {"retryable", false}});
  CHECK(i.machine.phase() == Phase::kFailed);
}

TEST_CASE("abort compensates what was done and ends aborted", "[sagas][machine]") {
  Instance i;
  i.Succeed();
  i.Apply("AbortRequested", {{"reason", "customer cancelled"}});
  CHECK(i.machine.aborted());
  CHECK(i.machine.error() == "aborted: customer cancelled");
  CHECK(i.CompensateAll() == std::vector<std::string>{"payment"});
  CHECK(i.machine.phase() == Phase::kAborted);
  i.Apply("SagaAborted", Json::object());
  CHECK_FALSE(i.machine.Apply("AbortRequested", Json::object()).ok());

  Instance fresh;
  fresh.Apply("AbortRequested", Json::object());
  CHECK(fresh.machine.phase() == Phase::kAborted);
}

TEST_CASE("await steps wait for their event or compensate when the wait times out",
          "[sagas][machine]") {
  const char* json = R"({"name": "s", "steps": [
    {"name": "pay", "action": {"call": "p", "path": "/pay"}, "compensation": {"call": "p", "path": "/refund"}},
    {"name": "shipped", "await": {"type": "Shipped", "match": {"data.order": "${saga.id}"}}},
    {"name": "thank", "action": {"call": "p", "path": "/thanks"}}]})";
  Instance ok(json);
  ok.Succeed();
  CHECK(ok.machine.phase() == Phase::kAwaitingEvent);
  ok.Apply("AwaitStarted",
           {{"step", "shipped"}, {"match", {{"data.order", "o-1"}}}, {"deadline", 99}});
  CHECK(ok.machine.await_deadline() == 99);
  CHECK_FALSE(ok.machine.Apply("AwaitStarted", {{"step", "shipped"}}).ok());
  ok.Apply("StepSucceeded", {{"step", "shipped"}, {"event", {{"position", 42}}}});
  CHECK(ok.machine.phase() == Phase::kRunningStep);
  CHECK(ok.Step() == "thank");

  Instance late(json);
  late.Succeed();
  late.Apply("AwaitStarted", {{"step", "shipped"}, {"deadline", 99}});
  late.Apply("StepFailed", {{"step", "shipped"}, {"error", "no Shipped event within 10m"}});
  CHECK(late.CompensateAll() == std::vector<std::string>{"pay"});
}

TEST_CASE("events that do not fit the instance are refused and change nothing",
          "[sagas][machine]") {
  Instance i;
  i.Succeed();
  const std::pair<const char*, Json> bad[] = {
      {"StepStarted", {{"step", "payment"}, {"attempt", 1}}},  // not the current step
      {"StepStarted", {{"step", "reserve"}, {"attempt", 2}}},  // attempt 1 is next
      {"StepStarted", {{"step", "ghost"}, {"attempt", 1}}},
      {"StepSucceeded", {{"step", "reserve"}}},  // nothing in flight
      {"CompensationStarted", {{"step", "payment"}, {"attempt", 1}}},
      {"RetryScheduled", {{"step", "reserve"}, {"attempt", 2}, {"due", 1}}},
      {"RetryRequested", Json::object()},
      {"SagaStarted", {{"deadline", 5}}},
      {"SagaCompleted", Json::object()},
      {"Surprise", Json::object()},
      {"StepStarted", Json::array()},
  };
  for (const auto& [type, data] : bad) {
    INFO(type << " " << data.dump());
    CHECK_FALSE(i.machine.Apply(type, data).ok());
    CHECK(i.machine.phase() == Phase::kRunningStep);
    CHECK(i.Step() == "reserve");
    CHECK(i.machine.steps()[1].attempts == 0);
  }
  i.Apply("StepStarted", {{"step", "reserve"}, {"attempt", 1}});
  CHECK_FALSE(i.machine.Apply("StepStarted", {{"step", "reserve"}, {"attempt", 2}}).ok());
}

TEST_CASE("restoring replays the stream through a fresh machine to the same state",
          "[sagas][machine]") {
  Instance i;
  i.Succeed();
  i.Fail(true, true);
  i.Apply("RetryScheduled", {{"step", "reserve"}, {"attempt", 2}, {"due", 77}});

  SagaMachine restored(i.def);
  for (const auto& [type, data] : i.stream) REQUIRE(restored.Apply(type, data).ok());
  CHECK(restored.phase() == i.machine.phase());
  CHECK(restored.current_step() == i.machine.current_step());
  CHECK(restored.due() == 77);
  CHECK(restored.steps()[1].outcome_unknown);
  CHECK(restored.events_applied() == static_cast<int64_t>(i.stream.size()));
}
