// Step calls against participants that misbehave on the wire: raw loopback servers that
// trickle, answer too much or too deep, and record the exact bytes Rivulet sends.
#include "sagas/step_call.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "core/http_rules.h"
#include "tests/sagas/saga_engine_fixture.h"
#include "tests/support/raw_http_server.h"

using namespace rivulet;
using namespace rivulet::testing;
using core::Json;
using std::chrono::milliseconds;

namespace {

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// A string of `bytes` bytes of JSON text.
std::string BigString(size_t bytes) { return "\"" + std::string(bytes - 2, 'x') + "\""; }

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// One step calling service "raw" at /<trigger.kind>, retried once, nothing to undo.
const char* kAsk = R"({"name": "ask",
  "retry": {"max_attempts": 2, "initial_interval": "1s", "jitter": "none"},
  "steps": [{"name": "ask", "action": {"call": "raw", "path": "/${trigger.kind}",
                                       "headers": {"X-Note": "${trigger.note ?? \"-\"}"}}}]})";

// Answers by the path of the request line.
void AnswerByPath(const std::string& request, RawHttpServer::Connection& c) {
  const std::string path = request.substr(
      request.find(' ') + 1, request.find(' ', request.find(' ') + 1) - request.find(' ') - 1);
  if (path == "/nested100000") {
    c.Write(RawHttpServer::Response(200, Nested(100000)));
  } else if (path == "/depth64") {
    c.Write(RawHttpServer::Response(200, Nested(63).insert(63, "{\"deep\": true}")));
  } else if (path == "/depth65") {
    c.Write(RawHttpServer::Response(200, Nested(65)));
  } else if (path == "/big") {
    c.Write(RawHttpServer::Response(200, BigString(core::kMaxAnswerBytes + 1)));
  } else {
    c.Write(RawHttpServer::Response(200, R"({"ok": true})"));
  }
}

}  // namespace

TEST_CASE("a step's timeout is a deadline for the whole exchange, trickled answers included",
          "[sagas][step_call]") {
  // 200 and a body of 100 bytes, one every 100 ms: 10 s in all, each read well within
  // the 1 s timeout.
  RawHttpServer body_trickle([](const std::string&, RawHttpServer::Connection& c) {
    if (!c.Write(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n["))
      return;
    for (int i = 0; i < 98; ++i) {
      if (!c.Pause(milliseconds(100)) || !c.Write(" ")) return;
    }
    c.Write("]");
  });
  // A header line every 100 ms, for 20 s.
  RawHttpServer header_trickle([](const std::string&, RawHttpServer::Connection& c) {
    if (!c.Write("HTTP/1.1 200 OK\r\n")) return;
    for (int i = 0; i < 200; ++i) {
      if (!c.Pause(milliseconds(100)) || !c.Write("X-More: 1\r\n")) return;
    }
    c.Write("Content-Length: 2\r\n\r\n{}");
  });
  sagas::StepCaller caller;
  for (RawHttpServer* server : {&body_trickle, &header_trickle}) {
    sagas::CallRequest request{"POST", server->url() + "/slow", {}, Json::object()};
    const auto started = std::chrono::steady_clock::now();
    sagas::CallOutcome outcome = caller.Call(request, milliseconds(1000));
    const double took = SecondsSince(started);
    INFO(outcome.error << " after " << took << "s");
    CHECK_FALSE(outcome.succeeded);
    CHECK(outcome.retryable);
    CHECK(outcome.outcome_unknown);
    CHECK_THAT(outcome.error, Catch::Contains("no complete answer within the timeout of 1000ms"));
    CHECK(took < 4.0);  // loosely: the trickle alone lasts 10 s or more
  }
  // The connection cut at the deadline is not reused: the next call works.
  RawHttpServer fine(AnswerByPath);
  sagas::CallOutcome ok =
      caller.Call({"GET", fine.url() + "/x", {}, std::nullopt}, milliseconds(5000));
  CHECK(ok.succeeded);
  CHECK(ok.response == Json{{"ok", true}});
}

TEST_CASE("an answer over the size limit fails the attempt with a clear error",
          "[sagas][step_call]") {
  RawHttpServer server([](const std::string& request, RawHttpServer::Connection& c) {
    const int status = request.rfind("POST /error", 0) == 0 ? 503 : 200;
    c.Write(RawHttpServer::Response(status, BigString(core::kMaxAnswerBytes + 1)));
  });
  sagas::StepCaller caller;
  sagas::CallOutcome big =
      caller.Call({"POST", server.url() + "/big", {}, Json::object()}, milliseconds(10000));
  CHECK_FALSE(big.succeeded);
  CHECK(big.retryable);
  CHECK(big.outcome_unknown);  // it was processed; its answer was not kept
  CHECK(big.status == 200);
  CHECK_THAT(big.error, Catch::Contains("answered 200 with a body over 4194304 bytes"));
  CHECK(big.response.is_null());

  sagas::CallOutcome error =
      caller.Call({"POST", server.url() + "/error", {}, Json::object()}, milliseconds(10000));
  CHECK_FALSE(error.succeeded);
  CHECK(error.retryable);
  CHECK_FALSE(error.outcome_unknown);
  CHECK(error.status == 503);

  // Exactly at the limit is fine.
  RawHttpServer at_limit([](const std::string&, RawHttpServer::Connection& c) {
    c.Write(RawHttpServer::Response(200, BigString(core::kMaxAnswerBytes)));
  });
  sagas::CallOutcome fits =
      caller.Call({"POST", at_limit.url() + "/x", {}, Json::object()}, milliseconds(10000));
  CHECK(fits.succeeded);
  CHECK(fits.response.is_string());
}

TEST_CASE(
    "answers too deep or too large fail the attempt, are never stored, and the engine "
    "stays up",
    "[sagas][engine][step_call]") {
  RawHttpServer raw(AnswerByPath);
  SagaRig rig;
  rig.StartEngine({kAsk}, 4, {{"raw", raw.url()}});
  auto start = [&](const std::string& id, const std::string& kind) {
    auto row = sagas::StartSaga(rig.store(), *rig.engine().Find("ask"), id, Json{{"kind", kind}},
                                rig.clock());
    INFO(row.status());
    REQUIRE(row.ok());
    rig.engine().Wake();
  };
  start("n", "nested100000");
  start("b", "big");
  start("d65", "depth65");
  start("d64", "depth64");

  for (const auto& [id, message] :
       std::vector<std::pair<std::string, std::string>>{{"n", "nested deeper than 64 levels"},
                                                        {"d65", "nested deeper than 64 levels"},
                                                        // the store's 4 MiB less 16 KiB for
                                                        // the rest of the StepSucceeded event
                                                        {"b", "with a body over 4177920 bytes"}}) {
    INFO(id);
    Json d = rig.WaitForStatus(id, {"compensated"}, milliseconds(500), "ask");
    CHECK(d["steps"][0]["attempts"] == 2);
    CHECK(d["steps"][0]["outcome_unknown"] == true);
    CHECK_THAT(d["steps"][0]["last_error"].get<std::string>(), Catch::Contains(message));
  }
  // An answer at the depth limit is stored inside its event, deeper than the answer,
  // and the instance stays readable.
  Json d64 = rig.WaitForStatus("d64", {"completed"}, milliseconds(500), "ask");
  Json response = d64["steps"][0]["response"];
  for (int i = 0; i < 63; ++i) {
    REQUIRE(response.is_array());
    response = Json(response[0]);
  }
  CHECK(response == Json{{"deep", true}});

  // Still up: another instance runs to completion.
  start("after", "fine");
  CHECK(rig.WaitForStatus("after", {"completed"}, milliseconds(500),
                          "ask")["steps"][0]["response"] == Json{{"ok", true}});
  // After a restart too, every instance is readable.
  rig.StopEngine();
  rig.StartEngine({kAsk}, 4, {{"raw", raw.url()}});
  for (const char* id : {"n", "b", "d65", "d64", "after"}) {
    INFO(id);
    CHECK(sagas::DescribeInstance(rig.store(), "ask", id).ok());
  }
}

TEST_CASE("control characters in a header fail the attempt and are never sent",
          "[sagas][engine][step_call]") {
  RawHttpServer raw(AnswerByPath);
  SagaRig rig;
  rig.StartEngine({kAsk}, 4, {{"raw", raw.url()}});
  auto start = [&](const std::string& id, const Json& input) {
    auto row = sagas::StartSaga(rig.store(), *rig.engine().Find("ask"), id, input, rig.clock());
    INFO(row.status());
    REQUIRE(row.ok());
    rig.engine().Wake();
  };
  start("good", {{"kind", "fine"}, {"note", "plain text"}});
  start("template", {{"kind", "fine"}, {"note", "x\r\nX-Injected: 1"}});
  start("correlation",
        {{"kind", "fine"}, {"metadata", {{"correlation_id", "c\r\nX-Injected: 1\r\n\r\nGET /"}}}});

  Json good = rig.WaitForStatus("good", {"completed"}, milliseconds(500), "ask");
  CHECK(good["steps"][0]["response"] == Json{{"ok", true}});
  for (const auto& [id, header] : std::vector<std::pair<std::string, std::string>>{
           {"template", "header X-Note: control character 0x0d at byte 1"},
           {"correlation", "header Rivulet-Correlation-Id: control character 0x0d at byte 1"}}) {
    INFO(id);
    Json d = rig.WaitForStatus(id, {"compensated"}, milliseconds(500), "ask");
    CHECK(d["steps"][0]["attempts"] == 1);  // permanent: not retried
    CHECK(d["steps"][0]["outcome_unknown"] == false);
    CHECK_THAT(d["steps"][0]["last_error"].get<std::string>(), Catch::Contains(header));
  }
  // On the wire: the good instance's request, with its header, and nothing else.
  const std::vector<std::string> requests = raw.requests();
  REQUIRE(requests.size() == 1);
  CHECK_THAT(requests[0], Catch::Contains("\r\nX-Note: plain text\r\n"));
  for (const std::string& r : requests) CHECK(r.find("X-Injected") == std::string::npos);
}
