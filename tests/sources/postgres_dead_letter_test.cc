// A postgres source with `on_error: dead_letter`, against a private PostgreSQL 15 and a
// real `rivulet serve` killed with SIGKILL between every two steps: a row whose mapping
// fails is parked (in the snapshot copy and while streaming) in the unit that stores its
// LSN, the rows after it arrive once, and a retry through the fixed config applies it
// once.
#include <catch2/catch.hpp>
#include <map>
#include <sstream>
#include <thread>

#include "core/json.h"
#include "tests/support/postgres_server.h"
#include "tests/support/rivulet_server.h"
#include "tests/support/subprocess.h"

using namespace rivulet;
using namespace rivulet::testing;
using core::Json;
using std::chrono::milliseconds;

namespace {

std::string Config(const PostgresServer& pg, const std::string& stream) {
  return "sources:\n  - { name: shop, type: postgres, url: \"" + pg.url() +
         "\", publication: rivulet_shop, slot: rivulet_shop, tables: [orders], heartbeat: "
         "200ms, on_error: dead_letter }\nmappings:\n  - source: shop\n    stream: \"" +
         stream + "\"\n";
}

std::vector<Json> Exported(const RivuletServer& server) {
  CommandResult exported = RunCommand({RivuletBinary(), "export", "-c", server.config_path()});
  REQUIRE(exported.exit_code == 0);
  std::vector<Json> events;
  std::istringstream lines(exported.out);
  for (std::string line; std::getline(lines, line);) events.push_back(Json::parse(line));
  return events;
}

// Row id -> how many events carry it.
std::map<int64_t, int> Rows(const RivuletServer& server) {
  std::map<int64_t, int> seen;
  for (const Json& e : Exported(server)) seen[e["data"]["documentKey"]["id"].get<int64_t>()]++;
  return seen;
}

Json Letters(httplib::Client& client) {
  auto res = client.Get("/v1/dead-letters?source=shop");
  REQUIRE(res);
  REQUIRE(res->status == 200);
  return Json::parse(res->body)["items"];
}

void WaitFor(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done()) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(50));
  }
}

}  // namespace

TEST_CASE(
    "postgres: a row whose mapping fails is parked, the rest arrives once, a fixed config "
    "retries it",
    "[sources][postgres][dead_letters]") {
  PostgresServer pg;
  pg.Exec("CREATE TABLE orders (id bigint PRIMARY KEY, meta jsonb NOT NULL)");
  // Copied by the snapshot: row 2 has no code.
  pg.Exec(R"(INSERT INTO orders VALUES (1, '{"code": "a"}'), (2, '{}'), (3, '{"code": "c"}'))");
  RivuletServer server("", Config(pg, "order-${fullDocument.meta.code}"));
  auto client = server.Client();
  WaitFor([&] { return Rows(server).size() == 2 && Letters(*client).size() == 1; });

  // Streaming: one transaction with a bad row in the middle.
  pg.Exec(R"(BEGIN; INSERT INTO orders VALUES (4, '{"code": "d"}'); INSERT INTO orders VALUES
             (5, '{"other": 1}'); INSERT INTO orders VALUES (6, '{"code": "f"}'); COMMIT;)");
  WaitFor([&] { return Rows(server).size() == 4 && Letters(*client).size() == 2; });
  server.Crash();
  pg.Exec(R"(INSERT INTO orders VALUES (7, '{"code": "g"}'))");
  server.Start();
  client = server.Client();
  WaitFor([&] { return Rows(server).size() == 5; });
  Json letters = Letters(*client);
  REQUIRE(letters.size() == 2);  // none parked twice after the restart
  CHECK(letters[0]["payload"]["documentKey"]["id"] == 2);
  CHECK(letters[0]["payload"]["fullDocument"]["meta"] == Json::object());
  CHECK(letters[1]["payload"]["documentKey"]["id"] == 5);
  CHECK(letters[1]["position"].is_string());  // the transaction's LSN
  CHECK_THAT(letters[1]["error"].get<std::string>(), Catch::Contains("fullDocument.meta.code"));
  // The slot moves past the parked row's transaction: nothing stalls behind it (the
  // confirmation goes out with the next standby status).
  const std::string parked_at = letters[1]["position"].get<std::string>();
  WaitFor([&] {
    return pg.Value("SELECT confirmed_flush_lsn >= $1::pg_lsn FROM pg_replication_slots",
                    {parked_at}) == "t";
  });

  server.SetConfig("", Config(pg, "order-${fullDocument.meta.code ?? \\\"none\\\"}"));
  server.Crash();
  server.Start();
  client = server.Client();
  for (const Json& letter : letters) {
    const std::string path =
        "/v1/dead-letters/" + std::to_string(letter["id"].get<int64_t>()) + "/retry";
    auto res = client->Post(path, "", "application/json");
    REQUIRE(res);
    INFO(res->body);
    CHECK(res->status == 200);
    server.Crash();
    server.Start();
    client = server.Client();
  }
  CHECK(Letters(*client).empty());
  pg.Exec(R"(INSERT INTO orders VALUES (8, '{}'))");  // now mapped to order-none
  WaitFor([&] { return Rows(server).size() == 8; });
  for (const auto& [id, count] : Rows(server)) {
    INFO("row " << id);
    CHECK(count == 1);
  }
  CHECK(Letters(*client).empty());
}
