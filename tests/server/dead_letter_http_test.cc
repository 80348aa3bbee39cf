// Dead letters and readiness against a real `rivulet serve`, killed with SIGKILL between
// every two steps: park, list, retry through a fixed config, discard. Nothing is lost or
// doubled (SPEC 2.6, 2.7, 5 `/v1/dead-letters`, `/v1/ready`).
#include <catch2/catch.hpp>
#include <map>
#include <sstream>
#include <thread>

#include "core/json.h"
#include "tests/support/rivulet_server.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

using namespace rivulet;
using namespace rivulet::testing;
using core::Json;

namespace {

std::string Sources(const std::string& stream) {
  return R"(
sources:
  - { name: api, type: http, on_error: dead_letter }
mappings:
  - match: { ns.coll: orders }
    stream: ")" +
         stream + R"("
projections:
  - name: totals
    key: "${stream}"
    on_error: dead_letter
    on:
      Paid: { inc: { total: "${data.amount}" } }
      Text: { set: { total: "${data.amount}" } }
      Fix: { set: { total: 100 } }
)";
}
const std::string kStrict = Sources("order-${fullDocument.number}");
const std::string kFixed = Sources("order-${fullDocument.number ?? \\\"unknown\\\"}");

std::string Change(const std::string& id, Json doc) {
  return Json{{"_id", id},
              {"operationType", "insert"},
              {"ns", {{"db", "shop"}, {"coll", "orders"}}},
              {"documentKey", {{"id", id}}},
              {"fullDocument", std::move(doc)}}
      .dump();
}

Json Get(httplib::Client& client, const std::string& path, int expect = 200) {
  auto res = client.Get(path);
  REQUIRE(res);
  INFO(path << " -> " << res->body);
  CHECK(res->status == expect);
  return Json::parse(res->body);
}

Json Post(httplib::Client& client, const std::string& path, const std::string& body,
          int expect = 200) {
  auto res = client.Post(path, body, "application/json");
  REQUIRE(res);
  INFO(path << " -> " << res->body);
  CHECK(res->status == expect);
  return Json::parse(res->body);
}

Json Events(httplib::Client& client) { return Get(client, "/v1/events?limit=1000")["events"]; }

Json Component(const Json& ready, const std::string& kind, const std::string& name) {
  for (const Json& c : ready["components"]) {
    if (c["kind"] == kind && c["name"] == name) return c;
  }
  FAIL("no component " << kind << " " << name << " in " << ready.dump());
  return nullptr;
}

// Restarts `server` after a SIGKILL, and returns a fresh client.
std::unique_ptr<httplib::Client> KillAndRestart(RivuletServer& server) {
  server.Crash();
  server.Start();
  return server.Client();
}

}  // namespace

TEST_CASE("dead letters over HTTP: an http source parks, retries once, discards, across SIGKILLs",
          "[dead_letters][http]") {
  RivuletServer server("", kStrict);
  auto client = server.Client();
  Json ready = Get(*client, "/v1/ready");
  CHECK(ready["status"] == "ready");
  CHECK(Component(ready, "store", "sqlite")["state"] == "ok");
  CHECK(Component(ready, "source", "api")["state"] == "ok");

  // A bad change in the middle: parked, the rest arrives.
  Json stats = Post(*client, "/v1/sources/api/changes",
                    "[" + Change("a", {{"number", 1}}) + "," + Change("b", {{"other", 2}}) + "," +
                        Change("c", {{"number", 3}}) + "]");
  CHECK(stats["ingested"] == 2);
  CHECK(stats["dead_lettered"] == 1);
  CHECK(stats["dead_letters"][0]["index"] == 1);

  client = KillAndRestart(server);
  CHECK(Events(*client).size() == 2);
  Json letters = Get(*client, "/v1/dead-letters?source=api");
  REQUIRE(letters["items"].size() == 1);
  CHECK(letters["next_cursor"].is_null());
  const Json letter = letters["items"][0];
  CHECK(letter["kind"] == "source");
  CHECK(letter["source"] == "api");
  CHECK(letter["position"] == "b");
  CHECK(letter["payload"]["_id"] == "b");
  CHECK_THAT(letter["error"].get<std::string>(), Catch::Contains("fullDocument.number"));
  const std::string id = std::to_string(letter["id"].get<int64_t>());
  CHECK(Get(*client, "/v1/dead-letters?projection=totals")["items"].empty());

  // Readiness: still 200 (a bad input never takes the node out), but degraded, and why.
  ready = Get(*client, "/v1/ready");
  CHECK(ready["status"] == "degraded");
  Json api = Component(ready, "source", "api");
  CHECK(api["state"] == "degraded");
  CHECK(api["dead_letters"] == 1);
  CHECK_THAT(api["detail"].get<std::string>(), Catch::Contains("1 dead letters"));
  auto metrics = client->Get("/metrics");
  REQUIRE(metrics);
  CHECK_THAT(metrics->body, Catch::Contains("rivulet_dead_letters{component=\"source/api\"} 1"));
  CHECK_THAT(metrics->body,
             Catch::Contains("rivulet_component_up{kind=\"source\",name=\"api\"} 1"));

  // Through the same config the retry fails again: 409, the letter stays, one more attempt.
  Json still = Post(*client, "/v1/dead-letters/" + id + "/retry", "", 409);
  CHECK(still["error"] == "conflict");
  client = KillAndRestart(server);
  letters = Get(*client, "/v1/dead-letters");
  REQUIRE(letters["items"].size() == 1);
  CHECK(letters["items"][0]["attempts"] == 2);
  CHECK(Events(*client).size() == 2);

  // The fixed config, then retry: applied once.
  server.SetConfig("", kFixed);
  client = KillAndRestart(server);
  Json applied = Post(*client, "/v1/dead-letters/" + id + "/retry", "");
  CHECK(applied["outcome"] == "applied");
  CHECK(applied["result"]["ingested"] == 1);
  client = KillAndRestart(server);
  Json events = Events(*client);
  REQUIRE(events.size() == 3);
  CHECK(events[2]["stream"] == "order-unknown");
  CHECK(events[2]["metadata"]["source_position"] == "b");
  CHECK(Get(*client, "/v1/dead-letters")["items"].empty());
  Post(*client, "/v1/dead-letters/" + id + "/retry", "", 404);
  // The original change sent again is a duplicate, not a second event.
  CHECK(Post(*client, "/v1/sources/api/changes", Change("b", {{"other", 2}}))["duplicates"] == 1);
  CHECK(Events(*client).size() == 3);
  CHECK(Get(*client, "/v1/ready")["status"] == "ready");

  // Discard: a change that is not even a change event.
  stats = Post(*client, "/v1/sources/api/changes",
               "[" + Change("d", {{"number", 4}}) + R"(, {"_id": "e", "operationType": 7}])");
  CHECK(stats["dead_lettered"] == 1);
  letters = Get(*client, "/v1/dead-letters");
  REQUIRE(letters["items"].size() == 1);
  const std::string second = std::to_string(letters["items"][0]["id"].get<int64_t>());
  client = KillAndRestart(server);
  CHECK(Post(*client, "/v1/dead-letters/" + second + "/discard", "")["outcome"] == "discarded");
  client = KillAndRestart(server);
  CHECK(Get(*client, "/v1/dead-letters")["items"].empty());
  Post(*client, "/v1/dead-letters/" + second + "/discard", "", 404);
  CHECK(Events(*client).size() == 4);

  // Malformed requests change nothing.
  Post(*client, "/v1/dead-letters/abc/retry", "", 404);
  Get(*client, "/v1/dead-letters?source=api&projection=totals", 400);
  Get(*client, "/v1/dead-letters?limit=5000", 400);
  Get(*client, "/v1/dead-letters?cursor=x", 400);
}

TEST_CASE("dead letters over HTTP: a projection parks, retries once, across SIGKILLs",
          "[dead_letters][http]") {
  RivuletServer server("", kFixed);
  auto client = server.Client();
  auto append = [&](const std::string& stream, const std::string& type, Json amount) {
    Json body{{"events", {{{"type", type}, {"data", {{"amount", amount}}}}}}};
    return Post(*client, "/v1/streams/" + stream, body.dump(), 201)["position"].get<int64_t>();
  };
  append("a", "Text", "n/a");                   // total = "n/a"
  append("a", "Paid", 5);                       // inc on a string: parked
  const int64_t last = append("b", "Paid", 7);  // applied
  // After a SIGKILL the copy's lease (6 s) must run out before the new process builds it.
  auto at = [&](const std::string& key, int64_t position) {
    return "/v1/projections/totals/" + key +
           "?wait_ms=30000&min_position=" + std::to_string(position);
  };
  CHECK(Get(*client, at("b", last))["total"] == 7);
  // After a restart: a probe event the projection must apply, so its builder runs (the
  // retries below go to it) before anything else is asked.
  auto restart = [&] {
    client = KillAndRestart(server);
    Get(*client, at("probe", append("probe", "Paid", 0)));
  };
  Json letters = Get(*client, "/v1/dead-letters?projection=totals");
  REQUIRE(letters["items"].size() == 1);
  CHECK(letters["items"][0]["projection"] == "totals");
  CHECK(letters["items"][0]["generation"] == 1);
  CHECK(letters["items"][0]["payload"]["type"] == "Paid");
  const std::string id = std::to_string(letters["items"][0]["id"].get<int64_t>());
  CHECK(Component(Get(*client, "/v1/ready"), "projection", "totals")["state"] == "degraded");

  restart();
  Post(*client, "/v1/dead-letters/" + id + "/retry", "", 409);  // total is still text
  const int64_t fixed = append("a", "Fix", 0);                  // total = 100
  CHECK(Get(*client, at("a", fixed))["total"] == 100);
  restart();
  CHECK(Post(*client, "/v1/dead-letters/" + id + "/retry", "")["outcome"] == "applied");
  restart();
  Json doc = Get(*client, at("a", fixed));
  CHECK(doc["total"] == 105);
  CHECK(doc["_version"] == 3);  // Text, Fix and the retried Paid: each once
  CHECK(Get(*client, "/v1/dead-letters")["items"].empty());
  Post(*client, "/v1/dead-letters/" + id + "/retry", "", 404);
  CHECK(Get(*client, "/v1/ready")["status"] == "ready");

  // Discard: the event is never applied.
  const int64_t parked = append("a", "Paid", "ten");
  const int64_t after = append("a", "Paid", 1);
  CHECK(Get(*client, at("a", after))["total"] == 106);
  letters = Get(*client, "/v1/dead-letters?projection=totals");
  REQUIRE(letters["items"].size() == 1);
  CHECK(letters["items"][0]["position"] == parked);
  const std::string second = std::to_string(letters["items"][0]["id"].get<int64_t>());
  restart();
  CHECK(Post(*client, "/v1/dead-letters/" + second + "/discard", "")["outcome"] == "discarded");
  restart();
  CHECK(Get(*client, "/v1/dead-letters")["items"].empty());
  doc = Get(*client, at("a", after));
  CHECK(doc["total"] == 106);
  CHECK(doc["_version"] == 4);
}

TEST_CASE(
    "dead letters over HTTP: a jsonl source parks lines, retries once, discards, across "
    "SIGKILLs",
    "[dead_letters][http]") {
  auto config = [](const std::string& stream) {
    return R"(
sources:
  - { name: feed, type: jsonl, path: ./changes.jsonl, on_error: dead_letter }
mappings:
  - match: { ns.coll: orders }
    stream: ")" +
           stream + "\"\n";
  };
  RivuletServer server("", config("order-${fullDocument.number}"), false);
  const std::string file = server.dir().File("changes.jsonl");
  std::string lines;
  for (int i = 1; i <= 6; ++i) {
    if (i == 2) {
      lines += "{not json\n";
    } else if (i == 4) {
      lines += Change("c4", {{"other", 4}}) + "\n";
    } else {
      lines += Change("c" + std::to_string(i), {{"number", i}}) + "\n";
    }
  }
  WriteFile(file, lines);
  server.Start();
  auto client = server.Client();
  auto wait_for = [&](size_t events, size_t letters) {
    for (int i = 0; i < 1000; ++i) {
      if (Events(*client).size() == events &&
          Get(*client, "/v1/dead-letters?source=feed")["items"].size() == letters)
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL("expected " << events << " events and " << letters << " dead letters");
  };
  wait_for(4, 2);
  client = KillAndRestart(server);
  WriteFile(file, lines + Change("c7", {{"number", 7}}) + "\n");
  wait_for(5, 2);  // the file goes on after its checkpoint: nothing read twice
  Json letters = Get(*client, "/v1/dead-letters?source=feed")["items"];
  CHECK(letters[0]["payload"] == "{not json");
  CHECK_THAT(letters[0]["error"].get<std::string>(), Catch::Contains("changes.jsonl:2:"));
  CHECK_THAT(letters[1]["error"].get<std::string>(), Catch::Contains("changes.jsonl:4:"));
  const std::string bad_line = std::to_string(letters[0]["id"].get<int64_t>());
  const std::string bad_change = std::to_string(letters[1]["id"].get<int64_t>());

  server.SetConfig("", config("order-${fullDocument.number ?? \\\"x\\\"}"));
  client = KillAndRestart(server);
  CHECK(Post(*client, "/v1/dead-letters/" + bad_change + "/retry", "")["outcome"] == "applied");
  Post(*client, "/v1/dead-letters/" + bad_line + "/retry", "", 409);  // still not JSON
  client = KillAndRestart(server);
  CHECK(Post(*client, "/v1/dead-letters/" + bad_line + "/discard", "")["outcome"] == "discarded");
  client = KillAndRestart(server);
  CHECK(Get(*client, "/v1/dead-letters")["items"].empty());
  Json events = Events(*client);
  REQUIRE(events.size() == 6);
  std::map<std::string, int> streams;
  for (const Json& e : events) streams[e["stream"]]++;
  CHECK(streams == std::map<std::string, int>{{"order-1", 1},
                                              {"order-3", 1},
                                              {"order-5", 1},
                                              {"order-6", 1},
                                              {"order-7", 1},
                                              {"order-x", 1}});
}

TEST_CASE("readiness: a projection stopped at an event is reported, and the node stays ready",
          "[dead_letters][http][ready]") {
  RivuletServer server("", R"(
projections:
  - name: strict
    key: "${stream}"
    on: { Paid: { inc: { total: "${data.amount}" } } }
)");
  auto client = server.Client();
  Json body{{"events", {{{"type", "Paid"}, {"data", {{"amount", "x"}}}}}}};
  Post(*client, "/v1/streams/a", body.dump(), 201);
  Json ready;
  for (int i = 0; i < 500; ++i) {
    ready = Get(*client, "/v1/ready");
    if (Component(ready, "projection", "strict")["state"] != "ok") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(ready["status"] == "degraded");
  Json strict = Component(ready, "projection", "strict");
  CHECK(strict["state"] == "stopped");
  CHECK_THAT(strict["detail"].get<std::string>(), Catch::Contains("position 1"));
  CHECK(Get(*client, "/v1/health")["status"] == "ok");  // liveness is another question
  auto metrics = client->Get("/metrics");
  REQUIRE(metrics);
  CHECK_THAT(metrics->body,
             Catch::Contains("rivulet_component_up{kind=\"projection\",name=\"strict\"} 0"));
}

TEST_CASE("readiness and dead letters need no token / an admin token", "[dead_letters][http]") {
  RivuletServer server(R"(  tokens:
    - { name: ops, token: admin-secret-0123456789, role: admin }
    - { name: reader, token: read-secret-0123456789, role: read })",
                       kStrict);
  auto client = server.Client();
  CHECK(Get(*client, "/v1/ready")["status"] == "ready");  // no token
  Get(*client, "/v1/dead-letters", 401);
  client->set_bearer_token_auth("read-secret-0123456789");
  CHECK(Get(*client, "/v1/dead-letters")["items"].empty());
  Post(*client, "/v1/dead-letters/1/discard", "", 403);
  Post(*client, "/v1/dead-letters/1/retry", "", 403);
  client->set_bearer_token_auth("admin-secret-0123456789");
  Post(*client, "/v1/dead-letters/1/discard", "", 404);
}

TEST_CASE("CLI: dead-letters list, retry through the current config file, discard",
          "[dead_letters][cli]") {
  RivuletServer server("", kStrict);
  auto client = server.Client();
  Post(*client, "/v1/sources/api/changes",
       "[" + Change("a", {{"other", 1}}) + "," + Change("b", {{"other", 2}}) + "]");
  const std::vector<std::string> c = {"-c", server.config_path()};
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), RivuletBinary());
    args.insert(args.end(), c.begin(), c.end());
    return RunCommand(args);
  };
  CommandResult listed = run({"dead-letters", "list", "--source", "api"});
  REQUIRE(listed.exit_code == 0);
  std::vector<Json> lines;
  std::istringstream in(listed.out);
  for (std::string line; std::getline(in, line);) lines.push_back(Json::parse(line));
  REQUIRE(lines.size() == 2);
  const std::string a = std::to_string(lines[0]["id"].get<int64_t>());
  const std::string b = std::to_string(lines[1]["id"].get<int64_t>());

  CommandResult failed = run({"dead-letters", "retry", a});
  CHECK(failed.exit_code == 1);
  CHECK_THAT(failed.err, Catch::Contains("still fails"));
  // The CLI reads the config file as it is now: fixed, while the server still runs the old.
  server.SetConfig("", kFixed);
  CommandResult retried = run({"dead-letters", "retry", a});
  INFO(retried.err);
  CHECK(retried.exit_code == 0);
  CHECK(Json::parse(retried.out)["outcome"] == "applied");
  CHECK(run({"dead-letters", "retry", a}).exit_code == 1);  // gone
  CHECK(run({"dead-letters", "discard", b}).exit_code == 0);
  CHECK(run({"dead-letters", "list"}).out.empty());
  CHECK(run({"dead-letters", "retry", "x"}).exit_code == 2);
  CHECK(run({"dead-letters", "list", "--source", "a", "--projection", "b"}).exit_code == 2);
  Json events = Events(*client);
  REQUIRE(events.size() == 1);
  CHECK(events[0]["stream"] == "order-unknown");
}
