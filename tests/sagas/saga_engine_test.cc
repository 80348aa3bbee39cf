#include "tests/sagas/saga_engine_fixture.h"
#include "tests/support/log_capture.h"

using namespace rivulet;
using namespace rivulet::testing;
using core::Json;
using std::chrono::milliseconds;
using Strings = std::vector<std::string>;

namespace {
Json EventsOf(eventstore::EventStore& store, const std::string& stream) {
  eventstore::StreamReadOptions read;
  read.stream = stream;
  auto slice = store.ReadStream(read);
  Json out = Json::array();
  if (!slice.ok()) return out;
  for (const auto& e : slice->events) out.push_back(e.ToJson());
  return out;
}
}  // namespace

TEST_CASE("a saga calls its steps in order, completes, and emits with its last event",
          "[sagas][engine]") {
  SagaRig rig;
  rig.StartEngine({kFulfillment});
  rig.StartByHand("o-1", {{"amount", 42}});
  Json done = rig.WaitForStatus("o-1", {"completed"});
  CHECK(SagaRig::Types(done) == Strings{"SagaStarted", "StepStarted", "StepSucceeded",
                                        "StepStarted", "StepSucceeded", "StepStarted",
                                        "StepSucceeded", "SagaCompleted"});
  CHECK(done["steps"][0]["response"]["payment_id"] == "pay-o-1");
  CHECK(done["steps"][0]["status"] == 201);

  Json state = rig.services().State();
  CHECK(state["payments"]["o-1"]["status"] == "captured");
  CHECK(state["payments"]["o-1"]["amount"] == 42);
  CHECK(state["reservations"].contains("o-1"));
  CHECK(state["applied"]["order/o-1/payment/action"] == 1);

  // The emit commits with SagaCompleted, on the order's stream.
  Json order = EventsOf(rig.store(), "order-o-1");
  REQUIRE(order.size() == 1);
  CHECK(order[0]["type"] == "OrderFulfilled");
  CHECK(order[0]["data"]["payment"] == "pay-o-1");
  CHECK(order[0]["metadata"]["causation_id"] == "$saga-order-o-1");

  // The request carried the headers of SPEC section 5.
  Json started = done["history"][1]["data"]["request"];
  CHECK(started["headers"]["Idempotency-Key"] == "order/o-1/payment/action");
  CHECK(started["headers"]["Rivulet-Attempt"] == "1");
  CHECK(started["headers"]["Rivulet-Correlation-Id"] == "order/o-1");
}

TEST_CASE("a failure at each step compensates exactly the earlier steps, in reverse",
          "[sagas][engine]") {
  SagaRig rig;
  rig.StartEngine({kFulfillment});
  rig.StartByHand("p", {{"fail_payment", 422}});
  rig.StartByHand("r", {{"fail_reserve", 422}});
  rig.StartByHand("s", {{"fail_ship", 422}});
  CHECK(SagaRig::Compensated(rig.WaitForStatus("p", {"compensated"})).empty());
  CHECK(SagaRig::Compensated(rig.WaitForStatus("r", {"compensated"})) == Strings{"payment"});
  Json s = rig.WaitForStatus("s", {"compensated"});
  CHECK(SagaRig::Compensated(s) == Strings{"reserve", "payment"});
  CHECK(s["error"].get<std::string>().find("422") != std::string::npos);

  Json state = rig.services().State();
  CHECK_FALSE(state["payments"].contains("p"));
  CHECK(state["payments"]["r"]["status"] == "refunded");
  CHECK(state["payments"]["s"]["status"] == "refunded");
  CHECK_FALSE(state["reservations"].contains("s"));
  CHECK_FALSE(state["shipments"].contains("s"));
  Json failed = EventsOf(rig.store(), "order-s");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0]["type"] == "OrderFulfillmentFailed");
}

TEST_CASE("retryable failures are retried with the same idempotency key, then succeed",
          "[sagas][engine]") {
  SagaRig rig;
  rig.StartEngine({kFulfillment});
  rig.StartByHand("o-2", {{"flaky_payment", 2}});  // 503, 503, then 201
  Json done = rig.WaitForStatus("o-2", {"completed"});
  CHECK(done["steps"][0]["attempts"] == 3);
  Strings types = SagaRig::Types(done);
  CHECK(std::count(types.begin(), types.end(), "RetryScheduled") == 2);
  Json state = rig.services().State();
  CHECK(state["requests"]["order/o-2/payment/action"] == 3);
  CHECK(state["applied"]["order/o-2/payment/action"] == 1);
  // The retry waited for its time on the (manual) clock: 1s, then 2s.
  Json history = done["history"];
  CHECK(history[3]["type"] == "RetryScheduled");
}

TEST_CASE("a 4xx answer fails the step at once", "[sagas][engine]") {
  SagaRig rig;
  rig.StartEngine({kFulfillment});
  rig.StartByHand("o-3", {{"fail_reserve", 409}});
  Json d = rig.WaitForStatus("o-3", {"compensated"});
  CHECK(d["steps"][1]["attempts"] == 1);
  CHECK(rig.services().State()["requests"]["order/o-3/reserve/action"] == 1);
}

TEST_CASE("a hung step times out and its unknown outcome is compensated", "[sagas][engine]") {
  SagaRig rig;
  rig.StartEngine({kFulfillment});
  rig.StartByHand("o-4", {{"hang_reserve", 1}});
  Json d = rig.WaitForStatus("o-4", {"compensated"}, milliseconds(200));
  CHECK(d["steps"][1]["outcome_unknown"] == true);
  CHECK(SagaRig::Compensated(d) == Strings{"reserve", "payment"});
  Json state = rig.services().State();
  CHECK(state["applied"]["order/o-4/reserve/action"] == 1);  // it did happen
  CHECK_FALSE(state["reservations"].contains("o-4"));        // and was undone
}

TEST_CASE("compensation exhausted leaves the instance failed until retry", "[sagas][engine]") {
  SagaRig rig;
  rig.StartEngine({kFulfillment});
  // The refund fails twice (compensation_retry allows 2 attempts), then would succeed.
  rig.StartByHand("o-5", {{"fail_reserve", 422}, {"flaky_refund", 2}});
  Json failed = rig.WaitForStatus("o-5", {"failed"});
  CHECK(failed["step"] == "payment");
  CHECK(rig.services().State()["payments"]["o-5"]["status"] == "captured");

  auto retried = sagas::RetrySaga(rig.store(), "order", "o-5", rig.clock());
  INFO(retried.status());
  REQUIRE(retried.ok());
  CHECK(retried->status == "compensating");
  Json d = rig.WaitForStatus("o-5", {"compensated"});
  CHECK(rig.services().State()["payments"]["o-5"]["status"] == "refunded");
  CHECK(SagaRig::Types(d).back() == "SagaCompensated");
}

TEST_CASE("abort compensates a running instance and ends aborted", "[sagas][engine]") {
  SagaRig rig;
  rig.StartEngine({R"({"name": "order", "steps": [
    {"name": "payment", "action": {"call": "payments", "path": "/payments", "body": {"order_id": "${saga.id}"}},
     "compensation": {"call": "payments", "path": "/payments/by-order/${saga.id}/refund"}},
    {"name": "shipped", "await": {"type": "Shipped", "match": {"data.order": "${saga.id}"}}}]})"});
  rig.StartByHand("o-6", Json::object());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (rig.Describe("o-6")["phase"] != "awaiting_event") {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(10));
  }
  auto aborted = sagas::AbortSaga(rig.store(), "order", "o-6", "customer cancelled", rig.clock());
  REQUIRE(aborted.ok());
  Json d = rig.WaitForStatus("o-6", {"aborted"});
  CHECK(d["error"] == "aborted: customer cancelled");
  CHECK(SagaRig::Compensated(d) == Strings{"payment"});
  CHECK(rig.services().State()["payments"]["o-6"]["status"] == "refunded");
  // Nothing more to abort.
  CHECK(sagas::AbortSaga(rig.store(), "order", "o-6", "", rig.clock()).status().reason() ==
        "conflict");
}

TEST_CASE("duplicate triggers make one instance", "[sagas][engine]") {
  SagaRig rig;
  std::string def = kFulfillment;
  def.insert(1, R"("trigger": {"type": "OrderPlaced", "match": {"data.total": {"$gt": 0}}},
                   "id": "${data.order_id}", )");
  rig.StartEngine({def});
  for (int i = 0; i < 3; ++i) {
    eventstore::AppendRequest a;
    a.stream = "order-o-7";
    eventstore::EventData e;
    e.type = "OrderPlaced";
    e.data = {{"order_id", "o-7"}, {"total", 5}};
    a.events.push_back(e);
    REQUIRE(rig.store().Append(a).ok());
  }
  eventstore::AppendRequest zero;  // does not match the trigger
  zero.stream = "order-o-8";
  zero.events.push_back({"", "OrderPlaced", {{"order_id", "o-8"}, {"total", 0}}, Json::object()});
  REQUIRE(rig.store().Append(zero).ok());
  rig.engine().Wake();
  Json d = rig.WaitForStatus("o-7", {"completed"});
  CHECK(d["trigger"]["data"]["order_id"] == "o-7");
  CHECK(rig.services().State()["requests"]["order/o-7/payment/action"] == 1);
  auto rows = sagas::SagaTables::List(rig.store(), "order", "", {"", ""}, 100);
  REQUIRE(rows.ok());
  CHECK(rows->size() == 1);
  CHECK(
      sagas::StartSaga(rig.store(), *rig.engine().Find("order"), "o-7", Json::object(), rig.clock())
          .status()
          .reason() == "conflict");
}

TEST_CASE("an await step continues on its event, and compensates when the wait times out",
          "[sagas][engine]") {
  SagaRig rig;
  const char* def = R"({"name": "order", "steps": [
    {"name": "payment", "action": {"call": "payments", "path": "/payments", "body": {"order_id": "${saga.id}"}},
     "compensation": {"call": "payments", "path": "/payments/by-order/${saga.id}/refund"}},
    {"name": "shipped", "timeout": "2m", "await": {"type": "ShipmentBooked", "match": {"data.order_id": "${saga.id}"}}},
    {"name": "notify", "action": {"call": "notifications", "path": "/notifications", "body": {"order_id": "${saga.id}", "shipment": "${steps.shipped.response.data.shipment}"}}}]})";
  rig.StartEngine({def});
  rig.StartByHand("a-1", Json::object());
  rig.StartByHand("a-2", Json::object());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (rig.Describe("a-1")["phase"] != "awaiting_event" ||
         rig.Describe("a-2")["phase"] != "awaiting_event") {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(10));
  }
  eventstore::AppendRequest other;  // another order's shipment does not count
  other.stream = "shipment-x";
  other.events.push_back({"", "ShipmentBooked", {{"order_id", "zzz"}}, Json::object()});
  REQUIRE(rig.store().Append(other).ok());
  eventstore::AppendRequest booked;
  booked.stream = "shipment-1";
  booked.events.push_back(
      {"", "ShipmentBooked", {{"order_id", "a-1"}, {"shipment", "S1"}}, Json::object()});
  auto position = rig.store().Append(booked);
  REQUIRE(position.ok());
  Json done = rig.WaitForStatus("a-1", {"completed"}, milliseconds(1));
  Json awaited;
  for (const auto& h : done["history"]) {
    if (h["type"] == "StepSucceeded" && h["data"]["step"] == "shipped") awaited = h["data"];
  }
  CHECK(awaited["event"]["position"] == position->position);
  CHECK(awaited["response"]["data"]["shipment"] == "S1");
  CHECK(rig.services().State()["notifications"][0]["shipment"] == "S1");

  // a-2 never gets its event: after 2 minutes it compensates.
  Json late = rig.WaitForStatus("a-2", {"compensated"}, milliseconds(30'000));
  CHECK(SagaRig::Compensated(late) == Strings{"payment"});
  CHECK(late["error"].get<std::string>().find("no ShipmentBooked event within 2m") !=
        std::string::npos);
}

TEST_CASE("the saga deadline compensates what was done", "[sagas][engine]") {
  SagaRig rig;
  rig.StartEngine({R"({"name": "order", "timeout": "1m", "steps": [
    {"name": "payment", "action": {"call": "payments", "path": "/payments", "body": {"order_id": "${saga.id}"}},
     "compensation": {"call": "payments", "path": "/payments/by-order/${saga.id}/refund"}},
    {"name": "shipped", "await": {"type": "ShipmentBooked"}}]})"});
  rig.StartByHand("d-1", Json::object());
  Json d = rig.WaitForStatus("d-1", {"compensated"}, milliseconds(5'000));
  CHECK(d["error"] == "the saga timed out after 1m");
  CHECK(SagaRig::Compensated(d) == Strings{"payment"});
}

TEST_CASE("a running instance keeps its definition when the config changes, and resumes",
          "[sagas][engine]") {
  SagaRig rig;
  const char* v1 = R"({"name": "order", "steps": [
    {"name": "payment", "action": {"call": "payments", "path": "/payments", "body": {"order_id": "${saga.id}"}}},
    {"name": "shipped", "await": {"type": "ShipmentBooked", "match": {"data.order_id": "${saga.id}"}}},
    {"name": "notify", "action": {"call": "notifications", "path": "/notifications", "body": {"v": 1}}}]})";
  const char* v2 = R"({"name": "order", "steps": [
    {"name": "other", "action": {"call": "notifications", "path": "/notifications", "body": {"v": 2}}}]})";
  rig.StartEngine({v1});
  rig.StartByHand("c-1", Json::object());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (rig.Describe("c-1")["phase"] != "awaiting_event") {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(10));
  }
  const std::string hash = rig.Describe("c-1")["definition_hash"];
  rig.StopEngine();
  rig.StartEngine({v2});
  eventstore::AppendRequest booked;
  booked.stream = "shipment-c";
  booked.events.push_back({"", "ShipmentBooked", {{"order_id", "c-1"}}, Json::object()});
  REQUIRE(rig.store().Append(booked).ok());
  rig.engine().Wake();
  Json d = rig.WaitForStatus("c-1", {"completed"}, milliseconds(1));
  CHECK(d["definition_hash"] == hash);
  CHECK(d["steps"].size() == 3);
  Json notes = rig.services().State()["notifications"];
  REQUIRE(notes.size() == 1);
  CHECK(notes[0]["v"] == 1);
}

TEST_CASE("an engine restarted during a call retries it with the same idempotency key",
          "[sagas][engine]") {
  SagaRig rig;
  rig.StartEngine({kFulfillment});
  // The reserve call hangs (it took effect); the engine stops while waiting for it.
  rig.StartByHand("k-1", {{"hang_reserve", 1}});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (rig.services().State()["applied"].value("order/k-1/reserve/action", 0) == 0) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(10));
  }
  rig.StopEngine();  // waits for the worker: the 500ms timeout answers first
  Json mid = rig.Describe("k-1");
  INFO(mid.dump());
  rig.StartEngine({kFulfillment});
  Json d = rig.WaitForStatus("k-1", {"compensated", "completed"}, milliseconds(200));
  Json state = rig.services().State();
  // However often reserve was sent, its key never changed and its work ran once.
  CHECK(state["applied"]["order/k-1/reserve/action"] == 1);
  CHECK(state["requests"]["order/k-1/reserve/action"] >= 1);
  for (const auto& h : d["history"]) {
    if (h["type"] == "StepStarted" && h["data"]["step"] == "reserve")
      CHECK(h["data"]["request"]["headers"]["Idempotency-Key"] == "order/k-1/reserve/action");
  }
}

TEST_CASE("a service that refuses connections is retried, and nothing unknown is compensated",
          "[sagas][engine]") {
  SagaRig rig;
  // Port 1 on loopback: the connection is refused, so the request never left.
  rig.StartEngine({R"({"name": "order", "retry": {"max_attempts": 2, "initial_interval": "1s"},
    "steps": [
    {"name": "payment", "action": {"call": "payments", "path": "/payments", "body": {"order_id": "${saga.id}"}},
     "compensation": {"call": "payments", "path": "/payments/by-order/${saga.id}/refund"}},
    {"name": "down", "action": {"call": "nowhere", "path": "/x"},
     "compensation": {"call": "nowhere", "path": "/undo"}}]})"},
                  8, {{"nowhere", "http://127.0.0.1:1"}});
  rig.StartByHand("down-1", Json::object());
  Json d = rig.WaitForStatus("down-1", {"compensated"});
  CHECK(d["steps"][1]["attempts"] == 2);
  CHECK(d["steps"][1]["outcome_unknown"] == false);
  CHECK(SagaRig::Compensated(d) == Strings{"payment"});  // not the step that never ran
}

namespace {
// How many of the log's records (captured) contain `text` in their message.
int Count(const LogCapture& log, const std::string& text) {
  return static_cast<int>(log.Matching("", text).size());
}
}  // namespace

TEST_CASE("a trigger that can start no instance is refused once and visibly, and later ones run",
          "[sagas][engine][triggers]") {
  // The registries outlive the rig, whose engine they serve.
  core::MetricsRegistry metrics, after_restart;
  LogCapture captured;  // outlives the rig's engine
  SagaRig rig;
  rig.set_metrics(&metrics);
  std::string def = kFulfillment;
  def.insert(1, R"("trigger": {"type": "OrderPlaced"}, "id": "${data.order_id}", )");
  rig.StartEngine({def});
  auto trigger = [&](const Json& data) {
    eventstore::AppendRequest a;
    a.stream = "orders";
    a.events.push_back({"", "OrderPlaced", data, Json::object()});
    auto appended = rig.store().Append(a);
    REQUIRE(appended.ok());
    return appended->position;
  };
  // Ids that cannot form "$saga-order-<id>" (a '/', CR/LF, more than 256 bytes), and
  // an event without one; then a good trigger, which must not wait behind them.
  const std::vector<int64_t> bad = {
      trigger({{"order_id", "a/b"}}), trigger({{"order_id", "x\r\ny"}}),
      trigger({{"order_id", std::string(300, 'z')}}), trigger({{"other", 1}})};
  trigger({{"order_id", "o-9"}});
  rig.engine().Wake();
  rig.WaitForStatus("o-9", {"completed"});
  // The trigger checkpoint is past them (it used to stay before them, so that every
  // pass, and every restart, tried them again).
  auto checkpoint = sagas::SagaTables::StoredCheckpoint(rig.store(), "triggers");
  REQUIRE(checkpoint.ok());
  CHECK(*checkpoint > bad.back());
  auto refused = [](core::MetricsRegistry& registry) {
    return registry.GetCounter("rivulet_saga_triggers_refused_total", "", {{"saga", "order"}})
        .value();
  };
  CHECK(refused(metrics) == bad.size());
  for (int64_t position : bad) {
    INFO("position " << position);
    const auto said = captured.Matching(
        "saga/order", "refused the trigger at position " + std::to_string(position) + ":");
    REQUIRE(said.size() == 1);
    CHECK(said[0]["level"] == "warn");
  }
  CHECK(Count(captured, "contains '/'") == 1);
  CHECK(Count(captured, "contains a control character") == 1);
  CHECK(Count(captured, "is 300 bytes long") == 1);
  CHECK(Count(captured, "no instance id") == 1);
  auto rows = sagas::SagaTables::List(rig.store(), "order", "", {"", ""}, 100);
  REQUIRE(rows.ok());
  CHECK(rows->size() == 1);

  // The checkpoint moved past them: a restarted engine does not see them again.
  rig.StopEngine();
  rig.set_metrics(&after_restart);
  rig.StartEngine({def});
  trigger({{"order_id", "o-10"}});
  rig.engine().Wake();
  rig.WaitForStatus("o-10", {"completed"});
  CHECK(refused(after_restart) == 0);
  for (int64_t position : bad) {
    CHECK(Count(captured, "refused the trigger at position " + std::to_string(position) + ":") ==
          1);
  }
}

TEST_CASE("the trigger checkpoint passes events no saga wants, at the latest when the engine stops",
          "[sagas][engine][triggers]") {
  SagaRig rig;
  std::string def = kFulfillment;
  def.insert(1, R"("trigger": {"type": "OrderPlaced"}, "id": "${data.order_id}", )");
  rig.StartEngine({def});
  int64_t last = 0;
  for (int i = 0; i < 20; ++i) {
    eventstore::AppendRequest a;
    a.stream = "audit";
    a.events.push_back({"", "Audited", Json{{"n", i}}, Json::object()});
    auto appended = rig.store().Append(a);
    REQUIRE(appended.ok());
    last = appended->position;
  }
  rig.engine().Wake();
  // Written alone at most every second while the engine runs...
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int64_t stored = 0;
  while (stored < last && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto checkpoint = sagas::SagaTables::StoredCheckpoint(rig.store(), "triggers");
    REQUIRE(checkpoint.ok());
    stored = *checkpoint;
  }
  CHECK(stored >= last);
  // ...and at once when it stops.
  eventstore::AppendRequest more;
  more.stream = "audit";
  more.events.push_back({"", "Audited", Json{{"n", 99}}, Json::object()});
  auto appended = rig.store().Append(more);
  REQUIRE(appended.ok());
  rig.engine().Wake();
  // The engine reads it (its position is what it has consumed), then stops.
  until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (rig.engine().ConsumedPosition() < appended->position &&
         std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  rig.StopEngine();
  auto checkpoint = sagas::SagaTables::StoredCheckpoint(rig.store(), "triggers");
  REQUIRE(checkpoint.ok());
  CHECK(*checkpoint >= appended->position);
}

TEST_CASE("an emit the store would refuse is an emit error, and the instance still finishes",
          "[sagas][engine]") {
  SagaRig rig;
  rig.StartEngine({R"({"name": "order", "steps": [
      {"name": "payment", "action": {"call": "payments", "path": "/payments",
                                     "body": {"order_id": "${saga.id}"}}}],
    "on_completed": {"emit": {"stream": "${trigger.stream}", "type": "${trigger.type|default:Done}",
                              "data": {}}}})"});
  // Saga streams are the runtime's: an emit may not write one, nor an invalid name.
  rig.StartByHand("e-1", {{"stream", "$saga-order-e-2"}});
  rig.StartByHand("e-2", {{"stream", "a/b"}});
  rig.StartByHand("e-3", {{"stream", "done-3"}, {"type", std::string(300, 'T')}});
  rig.StartByHand("e-4", {{"stream", "done-4"}});
  for (const auto& [id, error] :
       std::vector<std::pair<std::string, std::string>>{{"e-1", "reserved for the runtime"},
                                                        {"e-2", "contains '/'"},
                                                        {"e-3", "event type is 300 bytes"}}) {
    INFO(id);
    Json d = rig.WaitForStatus(id, {"completed"});
    CHECK_THAT(d["history"].back()["data"].value("emit_error", std::string()),
               Catch::Contains(error));
  }
  rig.WaitForStatus("e-4", {"completed"});
  CHECK(EventsOf(rig.store(), "done-4").size() == 1);
  CHECK(EventsOf(rig.store(), "done-3").empty());
  // e-2's stream holds e-2's own events only.
  CHECK(SagaRig::Types(rig.Describe("e-2"))[0] == "SagaStarted");
  CHECK(EventsOf(rig.store(), "$saga-order-e-2").size() == rig.Describe("e-2")["history"].size());
}

TEST_CASE(
    "the log says a step's failure, its compensation and a failed instance once each, "
    "retried attempts only at debug",
    "[sagas][engine][log]") {
  LogCapture log;  // outlives the engine's threads
  SagaRig rig;
  rig.StartEngine({kFulfillment});
  // payment: 503, 503, then 201; reserve: 422, for good; the refund fails twice, which
  // exhausts compensation_retry.
  rig.StartByHand("o-7", {{"flaky_payment", 2}, {"fail_reserve", 422}, {"flaky_refund", 2}});
  rig.WaitForStatus("o-7", {"failed"});
  rig.StopEngine();

  INFO(log.Text());
  std::vector<Json> said;
  int retried = 0;
  for (const Json& r : log.Matching("saga/order", "")) {
    if (r.value("id", "") != "o-7") continue;
    if (r["level"] == "debug") {
      if (r["msg"].get<std::string>().find("; retrying") != std::string::npos) ++retried;
      continue;
    }
    said.push_back(r);
  }
  CHECK(retried == 3);  // two payment attempts, one refund attempt
  REQUIRE(said.size() == 2);
  CHECK(said[0]["level"] == "warn");
  CHECK(said[0]["step"] == "reserve");
  CHECK_THAT(said[0]["msg"].get<std::string>(),
             Catch::StartsWith("step reserve failed: ") &&
                 Catch::EndsWith("; compensating the steps before it"));
  CHECK(said[1]["level"] == "error");
  CHECK(said[1]["step"] == "payment");
  CHECK_THAT(said[1]["msg"].get<std::string>(),
             Catch::StartsWith("compensation of step payment failed for good: ") &&
                 Catch::Contains("POST /v1/sagas/order/o-7/retry"));
}
