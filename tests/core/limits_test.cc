// Bounds on what Rivulet reads and sends: JSON texts (depth, size, numbers the parser
// refuses), header fields, deadlines. The last cases take a JSON number nlohmann cannot
// hold (1e400) through every way in: a jsonl source line, an HTTP append, a CLI command.
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>
#include <vector>

#include "core/http_rules.h"
#include "core/json.h"
#include "core/watchdog.h"
#include "tests/support/rivulet_server.h"

using namespace rivulet;
using namespace rivulet::testing;
using core::Json;
using std::chrono::milliseconds;

TEST_CASE("a JSON number out of range is an error, not an exception", "[json]") {
  for (const char* text : {"1e400", "-1e400", R"({"n": 1e400})", R"([1, 2, 1E+999])"}) {
    INFO(text);
    auto parsed = core::ParseJson(text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == StatusCode::kInvalidArgument);
    CHECK_THAT(parsed.status().message(), Catch::Contains("number overflow"));
  }
  CHECK(core::ParseJson("1e300").ok());
  CHECK(core::ParseJsonOr(R"({"n": 1e400})", Json("fallback"), core::kStoredJson) == "fallback");
}

TEST_CASE("JSON limits: depth and size, for input and for what Rivulet stored", "[json]") {
  const std::string depth_64 = std::string(64, '[') + std::string(64, ']');
  const std::string depth_65 = std::string(65, '[') + std::string(65, ']');
  CHECK(core::ParseJson(depth_64).ok());
  auto deep = core::ParseJson(depth_65);
  REQUIRE_FALSE(deep.ok());
  CHECK(deep.status().reason() == "too_deep");
  CHECK_THAT(deep.status().message(), Catch::Contains("nested deeper than 64 levels"));
  // Stored documents wrap input in a few levels of their own: read back with room.
  CHECK(core::ParseJson(depth_65, core::kStoredJson).ok());
  const std::string depth_513 = std::string(513, '{') + std::string(513, '}');
  CHECK(core::ParseJson(depth_513, core::kStoredJson).status().reason() == "too_deep");
  // 100,000 levels are refused before anything is built.
  CHECK(core::ParseJson(std::string(100000, '['), core::kStoredJson).status().reason() ==
        "too_deep");

  auto large = core::ParseJson("[1, 2, 3]", core::JsonLimits{64, 8});
  REQUIRE_FALSE(large.ok());
  CHECK(large.status().code() == StatusCode::kResourceExhausted);
  CHECK(large.status().reason() == "too_large");
  CHECK(core::ParseJson("[1, 2]", core::JsonLimits{64, 8}).ok());
  CHECK(core::ParseJsonOr("{nope", Json::object(), core::kInputJson) == Json::object());
}

TEST_CASE("header fields with control characters are refused, naming the byte", "[http]") {
  CHECK(core::CheckHeaderField("Rivulet-Correlation-Id", "order/o-1").ok());
  CHECK(core::CheckHeaderField("X-Note", "tabs\tare fine, and UTF-8 \xc3\xa9 too").ok());
  const std::pair<std::string, std::string> refused[] = {
      {"Rivulet-Correlation-Id", "a\r\nX-Injected: 1"},
      {"X-Note", std::string("nul\0", 4)},
      {"X-Note", "line\nfeed"},
      {"X-Note", "del\x7f"},
      {"Bad Name", "x"},
      {"Bad:Name", "x"},
      {"", "x"},
  };
  for (const auto& [name, value] : refused) {
    INFO(name << ": " << value);
    Status s = core::CheckHeaderField(name, value);
    CHECK(s.code() == StatusCode::kInvalidArgument);
    CHECK_THAT(s.message(), Catch::Contains("not sent"));
  }
  CHECK_THAT(core::CheckHeaderField("Rivulet-Correlation-Id", "ab\r\n").message(),
             Catch::Contains("header Rivulet-Correlation-Id: control character 0x0d at byte 2"));
}

TEST_CASE("a watchdog fires at its deadline unless disarmed, and Disarm waits for it",
          "[watchdog]") {
  core::Watchdog watchdog;
  std::atomic<int> fired{0};
  const auto now = std::chrono::steady_clock::now();
  const uint64_t early = watchdog.Arm(now + milliseconds(20), [&] { fired += 1; });
  const uint64_t never = watchdog.Arm(now + std::chrono::seconds(60), [&] { fired += 100; });
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (fired.load() == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(milliseconds(5));
  CHECK(watchdog.Disarm(early));
  CHECK_FALSE(watchdog.Disarm(never));
  CHECK(fired.load() == 1);

  // A callback that is running when Disarm is called finishes before Disarm returns.
  std::atomic<bool> running{false};
  std::atomic<bool> done{false};
  const uint64_t slow = watchdog.Arm(std::chrono::steady_clock::now(), [&] {
    running = true;
    std::this_thread::sleep_for(milliseconds(200));
    done = true;
  });
  while (!running.load()) std::this_thread::sleep_for(milliseconds(1));
  CHECK(watchdog.Disarm(slow));
  CHECK(done.load());
}

TEST_CASE("a watchdog wakes for a deadline earlier than the one it sleeps until", "[watchdog]") {
  // Arm wakes the thread only for a new earliest deadline; one armed behind a far one
  // must still fire on time, and several in increasing order all fire.
  core::Watchdog watchdog;
  std::atomic<int> fired{0};
  const auto now = std::chrono::steady_clock::now();
  const uint64_t far = watchdog.Arm(now + std::chrono::seconds(60), [&] { fired += 100; });
  // The thread now sleeps until the far deadline.
  std::this_thread::sleep_for(milliseconds(50));
  std::vector<uint64_t> near;
  for (int i = 1; i <= 3; ++i) {
    near.push_back(
        watchdog.Arm(std::chrono::steady_clock::now() + milliseconds(10 * i), [&] { fired += 1; }));
  }
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (fired.load() < 3 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(milliseconds(5));
  CHECK(fired.load() == 3);
  for (uint64_t id : near) CHECK(watchdog.Disarm(id));
  CHECK_FALSE(watchdog.Disarm(far));
  CHECK(fired.load() == 3);
}

namespace {
const char* kJsonType = "application/json";
}  // namespace

TEST_CASE("1e400 in a jsonl source line: serve stays up and names the line", "[json][serve]") {
  RivuletServer server("", R"(
sources:
  - { name: backfill, type: jsonl, path: ./changes.jsonl }
mappings:
  - stream: "s-${documentKey.id}"
    type: Changed
)",
                       false);
  WriteFile(
      server.dir().File("changes.jsonl"),
      R"({"_id": 1, "operationType": "insert", "documentKey": {"id": 1}, "fullDocument": {"n": 1e400}})"
      "\n");
  // The same line through the CLI: exit 2 naming the line (it was 134, an abort).
  CommandResult ingested =
      RunCommand({RivuletBinary(), "ingest", "backfill", server.dir().File("changes.jsonl"), "-c",
                  server.config_path()});
  CHECK(ingested.exit_code == 2);
  CHECK_THAT(ingested.err, Catch::Contains("number overflow"));

  server.Start();  // throws if serve dies before it is healthy
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (server.stderr_text().find("number overflow") == std::string::npos) {
    REQUIRE(server.process().running());
    REQUIRE(std::chrono::steady_clock::now() < until);
    std::this_thread::sleep_for(milliseconds(50));
  }
  CHECK_THAT(server.stderr_text(), Catch::Contains("changes.jsonl:1"));
  auto health = server.Client()->Get("/v1/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(server.process().running());
}

TEST_CASE("1e400 over HTTP and on the command line: 400 and exit 2, never a crash",
          "[json][serve][cli]") {
  RivuletServer server;
  auto client = server.Client();
  auto appended = client->Post(
      "/v1/streams/s-1",
      R"({"expected_version": "any", "events": [{"type": "T", "data": {"n": 1e400}}]})", kJsonType);
  REQUIRE(appended);
  CHECK(appended->status == 400);
  Json error = core::ParseJsonOr(appended->body, Json(), core::kInputJson);
  CHECK(error["error"] == "invalid_argument");
  CHECK_THAT(error["message"].get<std::string>(), Catch::Contains("number overflow"));
  auto filtered = client->Get(R"(/v1/events?match={"data.n":1e400})");
  REQUIRE(filtered);
  CHECK(filtered->status == 400);
  auto health = client->Get("/v1/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  server.Stop();

  const std::string config = server.config_path();
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"append", "s-1", "T", R"({"n": 1e400})"},
           {"append", "s-1", "T", "{}", "--metadata", R"({"m": -1e400})"},
           {"tail", "--match", R"({"data.n": 1e400})"}}) {
    std::vector<std::string> argv{RivuletBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"-c", config});
    CommandResult result = RunCommand(argv);
    INFO(args[0] << ": " << result.err);
    CHECK(result.exit_code == 2);
  }
}
