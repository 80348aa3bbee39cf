#include <catch2/catch.hpp>

#include "core/json.h"
#include "tests/support/rivulet_server.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

using namespace rivulet;
using namespace rivulet::testing;
using core::Json;

namespace {

const char* kSources = R"(
sources:
  - { name: api, type: http }
  - { name: backfill, type: jsonl, path: ./never-there.jsonl }
mappings:
  - match: { ns.coll: orders }
    stream: "order-${documentKey.id}"
    type: "Order${operationType|pascal}"
)";

std::string Change(const std::string& id, int key) {
  return Json{{"_id", {{"_data", id}}},
              {"operationType", "insert"},
              {"ns", {{"db", "shop"}, {"coll", "orders"}}},
              {"documentKey", {{"id", key}}},
              {"fullDocument", {{"id", key}}}}
      .dump();
}

}  // namespace

TEST_CASE("HTTP: POST /v1/sources/{source}/changes ingests atomically and skips seen _ids",
          "[sources][http]") {
  RivuletServer server("", kSources);
  auto client = server.Client();
  const std::string batch = "[" + Change("a", 1) + "," + Change("b", 2) + "]";
  auto first = client->Post("/v1/sources/api/changes", batch, "application/json");
  REQUIRE(first);
  CHECK(first->status == 200);
  CHECK(Json::parse(first->body)["ingested"] == 2);
  auto retried = client->Post("/v1/sources/api/changes", batch, "application/json");
  REQUIRE(retried);
  CHECK(Json::parse(retried->body)["duplicates"] == 2);
  auto single = client->Post("/v1/sources/api/changes", Change("c", 3), "application/json");
  REQUIRE(single);
  CHECK(Json::parse(single->body)["ingested"] == 1);

  // One bad item: 400 naming it, and nothing of the request is written.
  auto bad = client->Post("/v1/sources/api/changes",
                          "[" + Change("d", 4) + R"(, {"operationType": "insert"}, 7])",
                          "application/json");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  Json error = Json::parse(bad->body);
  CHECK(error["error"] == "invalid_argument");
  REQUIRE(error["errors"].size() == 2);
  CHECK(error["errors"][0]["index"] == 1);
  CHECK(error["errors"][1]["index"] == 2);
  auto stream = client->Get("/v1/streams/order-4");
  REQUIRE(stream);
  CHECK(stream->status == 404);

  for (const auto& [path, status] : std::vector<std::pair<std::string, int>>{
           {"/v1/sources/nope/changes", 404}, {"/v1/sources/backfill/changes", 400}}) {
    auto refused = client->Post(path, Change("e", 5), "application/json");
    REQUIRE(refused);
    CHECK(refused->status == status);
  }
  auto not_json = client->Post("/v1/sources/api/changes", "{nope", "application/json");
  REQUIRE(not_json);
  CHECK(not_json->status == 400);
  auto events = client->Get("/v1/events?limit=100");
  REQUIRE(events);
  CHECK(Json::parse(events->body)["events"].size() == 3);
}

TEST_CASE(
    "CLI: ingest reads JSON lines through the mappings, stops at a bad line with its "
    "number, and resumes",
    "[sources][cli]") {
  RivuletServer server("", kSources, false);  // the CLI works on the store alone
  const std::string file = server.dir().File("changes.jsonl");
  WriteFile(file, Change("a", 1) + "\n" + Change("b", 2) + "\n{broken\n" + Change("c", 3) + "\n");
  CommandResult stopped =
      RunCommand({RivuletBinary(), "ingest", "api", file, "-c", server.config_path()});
  CHECK(stopped.exit_code == 2);
  CHECK_THAT(stopped.err, Catch::Contains(file + ":3:"));

  WriteFile(file, Change("a", 1) + "\n" + Change("b", 2) + "\n" + Change("c", 3) + "\n");
  CommandResult resumed =
      RunCommand({RivuletBinary(), "ingest", "api", file, "-c", server.config_path()});
  INFO(resumed.err);
  REQUIRE(resumed.exit_code == 0);
  CHECK(Json::parse(resumed.out)["ingested"] == 1);  // lines 1-2 were stored before
  // From stdin, the same changes again: all duplicates by _id.
  CommandResult again =
      RunCommand({RivuletBinary(), "ingest", "api", "-", "-c", server.config_path()},
                 Change("a", 1) + "\n" + Change("c", 3) + "\n");
  REQUIRE(again.exit_code == 0);
  CHECK(Json::parse(again.out)["duplicates"] == 2);
  CHECK(RunCommand({RivuletBinary(), "ingest", "nope", "-c", server.config_path()}).exit_code == 2);
}
