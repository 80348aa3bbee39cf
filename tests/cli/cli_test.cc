#include <signal.h>

#include <catch2/catch.hpp>

#include "core/json.h"
#include "tests/support/rivulet_server.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

using rivulet::core::Json;
using rivulet::testing::CommandResult;
using rivulet::testing::RivuletBinary;
using rivulet::testing::RunCommand;
using rivulet::testing::Subprocess;
using rivulet::testing::TempDir;

namespace {

// A config in its own directory, for CLI commands.
struct CliEnv {
  TempDir dir;
  std::string config;
  CliEnv() : config(dir.File("rivulet.yaml")) {
    rivulet::testing::WriteFile(config, "store:\n  path: ./data/rivulet.db\n");
  }
  CommandResult Run(std::vector<std::string> args, const std::string& stdin_text = "") const {
    std::vector<std::string> argv = {RivuletBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("-c");
    argv.push_back(config);
    return RunCommand(argv, stdin_text);
  }
};

std::vector<Json> Lines(const std::string& out) {
  std::vector<Json> lines;
  size_t start = 0;
  while (start < out.size()) {
    size_t nl = out.find('\n', start);
    std::string line = out.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (!line.empty()) lines.push_back(Json::parse(line));
    start = nl == std::string::npos ? out.size() : nl + 1;
  }
  return lines;
}

}  // namespace

TEST_CASE("CLI: check validates a config, prints what it declares, exits 2 on errors", "[cli]") {
  CliEnv env;
  auto ok = env.Run({"check"});
  CHECK(ok.exit_code == 0);
  auto summary = Lines(ok.out);
  REQUIRE(summary.size() == 1);
  CHECK(summary[0]["store"]["backend"] == "sqlite");
  CHECK(summary[0]["store"]["path"] == env.dir.File("data/rivulet.db"));
  CHECK(summary[0]["server"]["listen"] == "127.0.0.1:8080");
  CHECK_THAT(ok.err, Catch::Contains("is valid"));

  rivulet::testing::WriteFile(
      env.config, "store:\n  path: ./x.db\nserver:\n  listen: nowhere\n  max_body: huge\n");
  auto bad = env.Run({"check"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.out.empty());
  CHECK_THAT(bad.err, Catch::Contains(env.config + ":4:3: server.listen: expected host:port"));
  CHECK_THAT(bad.err,
             Catch::Contains(env.config +
                             ":5:3: server.max_body: expected a size like 4MiB, got \"huge\""));

  auto missing = RunCommand({RivuletBinary(), "check", "-c", env.dir.File("absent.yaml")});
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.err, Catch::Contains("cannot read the config file"));
}

TEST_CASE("CLI: append and read with the documented exit codes", "[cli]") {
  CliEnv env;
  auto first = env.Run(
      {"append", "order-1", "OrderPlaced", R"({"total":5})", "--expected-version", "no_stream"});
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  auto result = Lines(first.out);
  REQUIRE(result.size() == 1);
  CHECK(result[0] ==
        Json{{"stream", "order-1"}, {"first_version", 0}, {"last_version", 0}, {"position", 1}});
  REQUIRE(env.Run({"append", "order-1", "OrderPaid", "--metadata", R"({"correlation_id":"c-1"})"})
              .exit_code == 0);

  auto conflict = env.Run({"append", "order-1", "Late", "--expected-version", "0"});
  CHECK(conflict.exit_code == 1);
  CHECK_THAT(conflict.err, Catch::Contains("expected version 0, but the stream is at version 1"));

  auto read = env.Run({"read", "order-1"});
  REQUIRE(read.exit_code == 0);
  auto events = Lines(read.out);
  REQUIRE(events.size() == 2);
  CHECK(events[0]["data"] == Json{{"total", 5}});
  CHECK(events[1]["metadata"] == Json{{"correlation_id", "c-1"}});
  auto backward = Lines(env.Run({"read", "order-1", "--backward", "--limit", "1"}).out);
  REQUIRE(backward.size() == 1);
  CHECK(backward[0]["type"] == "OrderPaid");
  CHECK(Lines(env.Run({"read", "order-1", "--from", "1"}).out).size() == 1);

  auto missing = env.Run({"read", "order-2"});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("does not exist"));

  // Usage errors exit 2 and write nothing.
  const std::vector<std::vector<std::string>> usage = {
      {"append", "order-1"},
      {"append", "order-1", "T", "{not json"},
      {"append", "order-1", "T", "[1]"},
      {"append", "order-1", "T", "--expected-version", "maybe"},
      {"append", "order-1", "T", "--metadata", "5"},
      {"append", "order-1", "T", "--id", "nope"},
      {"append", "$saga-x-1", "T"},
      {"append", "a/b", "T"},
      {"read"},
      {"read", "order-1", "--limit", "0"},
      {"read", "order-1", "--from", "x"},
      {"frobnicate"},
      {"tail", "--match", "{bad"},
      {"tail", "--resume-after", "???"},
      {"tail", "--from-start", "--resume-after", "MQ"},
  };
  for (const auto& args : usage) {
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    INFO(joined);
    auto r = env.Run(args);
    CHECK(r.exit_code == 2);
    CHECK_FALSE(r.err.empty());
    CHECK(r.out.empty());
  }
  CHECK(Lines(env.Run({"read", "order-1"}).out).size() == 2);
}

TEST_CASE("CLI: tail follows appends made by other processes", "[cli][changes]") {
  CliEnv env;
  REQUIRE(env.Run({"append", "t", "Before"}).exit_code == 0);
  {
    Subprocess tail({RivuletBinary(), "tail", "--from-start", "--limit", "3", "-c", env.config},
                    env.dir.File("tail.stderr"));
    auto first = tail.ReadLine(std::chrono::seconds(30));
    REQUIRE(first);
    Json before = Json::parse(*first);
    CHECK(before["type"] == "Before");
    CHECK(before["resume_token"] == "MQ");
    REQUIRE(env.Run({"append", "t", "After1"}).exit_code == 0);
    REQUIRE(env.Run({"append", "t", "After2"}).exit_code == 0);
    auto second = tail.ReadLine(std::chrono::seconds(30));
    auto third = tail.ReadLine(std::chrono::seconds(30));
    REQUIRE(second);
    REQUIRE(third);
    CHECK(Json::parse(*second)["type"] == "After1");
    CHECK(Json::parse(*third)["type"] == "After2");
    CHECK(tail.Wait() == 0);  // --limit 3 reached
  }
  {
    // From a token: exactly what follows it. Stopped by SIGINT, exit 0.
    Subprocess tail({RivuletBinary(), "tail", "--resume-after", "Mg", "--match",
                     R"({"type":"After2"})", "-c", env.config},
                    env.dir.File("tail2.stderr"));
    auto line = tail.ReadLine(std::chrono::seconds(30));
    REQUIRE(line);
    CHECK(Json::parse(*line)["position"] == 3);
    tail.Signal(SIGINT);
    CHECK(tail.Wait() == 0);
  }
}

TEST_CASE("CLI: commands work on the store while rivulet serve runs on it", "[cli]") {
  rivulet::testing::RivuletServer server;
  auto client = server.Client();
  REQUIRE(client
              ->Post("/v1/streams/shared", R"({"events":[{"type":"FromHttp","data":{}}]})",
                     "application/json")
              ->status == 201);
  auto appended =
      RunCommand({RivuletBinary(), "append", "shared", "FromCli", "-c", server.config_path()});
  INFO(appended.err);
  REQUIRE(appended.exit_code == 0);
  auto read = RunCommand({RivuletBinary(), "read", "shared", "-c", server.config_path()});
  REQUIRE(read.exit_code == 0);
  CHECK(Lines(read.out).size() == 2);
  auto over_http = Json::parse(client->Get("/v1/streams/shared")->body);
  REQUIRE(over_http["events"].size() == 2);
  CHECK(over_http["events"][1]["type"] == "FromCli");
}

TEST_CASE("CLI: serve exits 2 on a bad config and 1 when it cannot listen", "[cli]") {
  CliEnv env;
  rivulet::testing::WriteFile(env.config,
                              "store: {path: ./x.db}\nserver: {listen: \"127.0.0.1:http\"}\n");
  auto bad = env.Run({"serve"});
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("server.listen"));

  rivulet::testing::RivuletServer running;
  rivulet::testing::WriteFile(env.config, "store: {path: ./x.db}\nserver: {listen: \"127.0.0.1:" +
                                              std::to_string(running.port()) + "\"}\n");
  auto busy = env.Run({"serve"});
  CHECK(busy.exit_code == 1);
  CHECK_THAT(busy.err,
             Catch::Contains("cannot listen on 127.0.0.1:" + std::to_string(running.port())));
}
