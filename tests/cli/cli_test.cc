#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "core/json.h"
#include "core/uuid.h"
#include "eventstore/sqlite/sqlite_event_store.h"
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

namespace {

// Writes varied events straight into the CLI config's store: unicode, escapes, numbers
// at the edges, nested values, metadata, and a runtime stream.
void SeedStore(const CliEnv& env) {
  rivulet::eventstore::sqlite::SqliteStoreOptions options;
  options.path = env.dir.File("data/rivulet.db");
  std::filesystem::create_directories(env.dir.File("data"));
  auto store = rivulet::eventstore::sqlite::OpenSqliteEventStore(options);
  REQUIRE(store.ok());
  const char* datas[] = {R"({"text": "Grüße \"quoted\" \\ back\nline 😀", "n": 0.1})",
                         R"({"big": 9007199254740993, "neg": -42, "exp": 1e300, "tiny": 5e-324})",
                         R"({"nested": {"list": [1, [2, {"x": null}], true, false], "empty": {}}})",
                         R"({})"};
  for (int i = 0; i < 40; ++i) {
    rivulet::eventstore::AppendRequest r;
    r.stream = i % 10 == 9 ? "$saga-order_fulfillment-" + std::to_string(i)
                           : "order-" + std::to_string(i % 4);
    r.allow_reserved_stream = true;
    rivulet::eventstore::EventData e;
    e.type = i % 3 ? "OrderPlaced" : "OrderPaid";
    e.data = Json::parse(datas[i % 4]);
    e.data["i"] = i;
    e.metadata = Json{{"correlation_id", "c-" + std::to_string(i)}};
    r.events.push_back(std::move(e));
    REQUIRE((*store)->Append(r).ok());
  }
}

}  // namespace

TEST_CASE("CLI: export, import, export is byte-identical, and a refused import changes nothing",
          "[cli][export]") {
  CliEnv source;
  SeedStore(source);
  auto first = source.Run({"export"});
  REQUIRE(first.exit_code == 0);
  REQUIRE(Lines(first.out).size() == 40);
  std::string file = source.dir.File("events.jsonl");
  rivulet::testing::WriteFile(file, first.out);

  CliEnv target;
  auto imported = target.Run({"import", file});
  INFO(imported.err);
  REQUIRE(imported.exit_code == 0);
  CHECK(Lines(imported.out)[0]["imported"] == 40);
  auto second = target.Run({"export"});
  REQUIRE(second.exit_code == 0);
  CHECK(second.out == first.out);
  auto partial = target.Run({"export", "--from", "11", "--to", "20"});
  CHECK(Lines(partial.out).size() == 10);
  CHECK(Lines(partial.out)[0]["position"] == 11);

  // A non-empty store that does not hold the start of the file: refused, untouched.
  CliEnv other;
  REQUIRE(other.Run({"append", "x", "Y"}).exit_code == 0);
  auto refused = other.Run({"import", file});
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("not empty"));
  CHECK(Lines(other.Run({"export"}).out).size() == 1);

  // A bad line anywhere: nothing written, the line named.
  std::string broken = first.out;
  size_t line_20 = 0;
  for (int i = 0; i < 19; ++i) line_20 = broken.find('\n', line_20) + 1;
  broken.insert(line_20, "{\"position\": 1}\n");
  rivulet::testing::WriteFile(source.dir.File("broken.jsonl"), broken);
  CliEnv empty;
  auto bad = empty.Run({"import", source.dir.File("broken.jsonl")});
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("broken.jsonl:20: "));
  CHECK(empty.Run({"export"}).out.empty());

  // An interrupted import (here: the first half) resumes where it stopped.
  size_t half = 0;
  for (int i = 0; i < 20; ++i) half = first.out.find('\n', half) + 1;
  rivulet::testing::WriteFile(source.dir.File("half.jsonl"), first.out.substr(0, half));
  CliEnv resumed;
  REQUIRE(resumed.Run({"import", source.dir.File("half.jsonl")}).exit_code == 0);
  auto rest = resumed.Run({"import", file});
  INFO(rest.err);
  REQUIRE(rest.exit_code == 0);
  CHECK_THAT(rest.err, Catch::Contains("resuming an interrupted import after position 20"));
  CHECK(resumed.Run({"export"}).out == first.out);
  CHECK(resumed.Run({"import", "-"}, "").exit_code ==
        1);  // even an empty stdin: the store is not empty now
}

TEST_CASE("CLI: replay to a file or a dry run, bounded by position, time and filter",
          "[cli][replay]") {
  CliEnv env;
  SeedStore(env);
  std::string out = env.dir.File("replayed.jsonl");
  auto all = env.Run({"replay", "--to-file", out});
  REQUIRE(all.exit_code == 0);
  CHECK(Lines(all.out)[0]["events"] == 40);
  CHECK(rivulet::testing::ReadFile(out) == env.Run({"export"}).out);

  auto paid = env.Run(
      {"replay", "--dry-run", "--match", R"({"type": "OrderPaid"})", "--from", "5", "--to", "30"});
  REQUIRE(paid.exit_code == 0);
  Json summary = Lines(paid.out)[0];
  CHECK(summary["events"] == 8);  // i = 6, 9, ..., 27: positions 7, 10, ..., 28
  CHECK(summary["first_position"] == 7);
  CHECK(summary["last_position"] == 28);
  CHECK(summary["dry_run"] == true);

  auto events = Lines(env.Run({"export"}).out);
  std::string t10 = events[9]["recorded_at"];
  auto since = env.Run({"replay", "--dry-run", "--since", t10});
  REQUIRE(since.exit_code == 0);
  CHECK(Lines(since.out)[0]["first_position"].get<int64_t>() <= 10);
  auto until = env.Run({"replay", "--dry-run", "--until", "2000-01-01T00:00:00Z"});
  CHECK(Lines(until.out)[0]["events"] == 0);

  const std::vector<std::vector<std::string>> usage = {
      {"replay"},
      {"replay", "--dry-run", "--to-file", out},
      {"replay", "--dry-run", "--from", "2", "--since", t10},
      {"replay", "--dry-run", "--to", "5", "--until", t10},
      {"replay", "--dry-run", "--since", "yesterday"},
      {"replay", "--dry-run", "--match", "{oops"},
      {"replay", "--dry-run", "--to", "abc"},
      {"replay", "--projection", "nope"},
      {"replay", "--projection", "x", "--all-projections"},
      {"export", "--from", "0"},
      {"import"},
      {"import", env.dir.File("absent.jsonl")},
  };
  for (const auto& args : usage) {
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    INFO(joined);
    CHECK(env.Run(args).exit_code == 2);
  }
  auto destination = env.Run({"replay", "--to", "bus"});
  CHECK(destination.exit_code == 2);
  CHECK_THAT(destination.err, Catch::Contains("no outbox destination named bus"));
}

TEST_CASE("CLI: replay --to a destination re-publishes through the outbox with new ids",
          "[cli][replay][outbox]") {
  CliEnv env;
  SeedStore(env);
  rivulet::testing::WriteFile(env.config, R"(store:
  path: ./data/rivulet.db
outbox:
  destinations:
    - { name: audit, type: jsonl, path: ./data/audit.jsonl }
)");
  auto replayed =
      env.Run({"replay", "--to", "audit", "--match", R"({"type": "OrderPaid"})", "--from", "5"});
  REQUIRE(replayed.exit_code == 0);
  Json summary = Lines(replayed.out)[0];
  CHECK(summary["destination"] == "audit");
  const int64_t count = summary["events"];
  CHECK(count > 0);
  auto listed = env.Run({"outbox", "list", "--status", "pending"});
  REQUIRE(listed.exit_code == 0);
  auto messages = Lines(listed.out);
  REQUIRE(static_cast<int64_t>(messages.size()) == count);
  std::set<std::string> ids;
  for (const Json& m : messages) {
    CHECK(m["destination"] == "audit");
    CHECK(m["headers"]["Rivulet-Replay"] == "true");
    CHECK(m["headers"]["Rivulet-Original-Event-Id"] == m["payload"]["id"]);
    CHECK(m["payload"]["type"] == "OrderPaid");
    CHECK(m["payload"]["position"].get<int64_t>() >= 5);
    CHECK(ids.insert(m["id"].get<std::string>()).second);
    CHECK(m["id"] != m["payload"]["id"]);
  }
  // Again: new ids, the same events.
  REQUIRE(env.Run({"replay", "--to", "audit", "--match", R"({"type": "OrderPaid"})", "--from", "5"})
              .exit_code == 0);
  CHECK(Lines(env.Run({"outbox", "list"}).out).size() == 2 * messages.size());
  CHECK(env.Run({"outbox", "list", "--status", "lost"}).exit_code == 2);
  CHECK(env.Run({"outbox", "retry", "nope"}).exit_code == 1);
}

TEST_CASE("CLI: projections list, get, query, and replay beside a running server",
          "[cli][projections]") {
  rivulet::testing::RivuletServer server("", R"(
projections:
  - name: counts
    key: "${stream}"
    on: { "*": { inc: { count: 1 } } }
    indexes: [count]
)");
  auto client = server.Client();
  for (int i = 0; i < 12; ++i) {
    REQUIRE(client
                ->Post("/v1/streams/s-" + std::to_string(i % 3),
                       R"({"events":[{"type":"T","data":{}}]})", "application/json")
                ->status == 201);
  }
  REQUIRE(client->Get("/v1/projections/counts/s-0?min_position=12")->status == 200);
  const std::string config = server.config_path();
  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {RivuletBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"-c", config});
    return RunCommand(argv);
  };
  auto list = run({"projections", "list"});
  REQUIRE(list.exit_code == 0);
  CHECK(Lines(list.out)[0]["name"] == "counts");
  auto get = run({"projections", "get", "counts", "s-1"});
  REQUIRE(get.exit_code == 0);
  CHECK(Lines(get.out)[0]["count"] == 4);
  CHECK(run({"projections", "get", "counts", "nope"}).exit_code == 1);
  CHECK(run({"projections", "get", "other", "x"}).exit_code == 2);
  auto query = run({"projections", "query", "counts", "--sort", "-_key", "--limit", "2"});
  REQUIRE(query.exit_code == 0);
  Json page = Lines(query.out)[0];
  CHECK(page["items"][0]["_key"] == "s-2");
  CHECK(page["next_cursor"].is_string());
  CHECK(run({"projections", "query", "counts", "--limit", "0"}).exit_code == 2);

  auto replay = run({"replay", "--projection", "counts"});
  INFO(replay.err);
  REQUIRE(replay.exit_code == 0);
  CHECK(Lines(replay.out)[0]["generation"] == 2);
  // The server goes on with the replayed copy.
  REQUIRE(
      client->Post("/v1/streams/s-1", R"({"events":[{"type":"T","data":{}}]})", "application/json")
          ->status == 201);
  auto doc = client->Get("/v1/projections/counts/s-1?min_position=13&wait_ms=30000");
  REQUIRE(doc);
  CHECK(doc->status == 200);
  CHECK(Json::parse(doc->body)["count"] == 5);
}

// ---------------------------------------------------------------------------------------
// The store's own files and limits (issue 12): one server per SQLite file, replay never
// overwrites the store, positions below 2^53, events no larger than server.max_body,
// corrupt and read-only files.

namespace {

// A `rivulet serve` config of its own (listen on a free port) on the store at `db`.
std::string ServeConfig(const TempDir& dir, const std::string& db, const std::string& extra = "") {
  std::string path = dir.File("serve-" + std::to_string(std::rand()) + ".yaml");
  rivulet::testing::WriteFile(
      path, "store:\n  path: " + db + "\nserver:\n  listen: 127.0.0.1:0\n" + extra + "\n");
  return path;
}

// Runs `rivulet serve` expecting it to refuse: its exit code (or -1 if it kept serving
// for a minute, then it is killed) and its stderr.
std::pair<int, std::string> ServeExpectingRefusal(const TempDir& dir, const std::string& config) {
  std::string err = dir.File("refused-" + std::to_string(std::rand()) + ".stderr");
  Subprocess serve({RivuletBinary(), "serve", "-c", config}, err);
  auto code = serve.Wait(std::chrono::seconds(60));
  if (!code) {
    serve.Signal(SIGKILL);
    serve.Wait();
  }
  return {code.value_or(-1), rivulet::testing::ReadFile(err)};
}

// The port a freshly started `rivulet serve` listens on (its first stdout line).
int ListeningPort(Subprocess& serve) {
  auto line = serve.ReadLine(std::chrono::seconds(60));
  REQUIRE(line);
  std::string listen = Json::parse(*line)["listening"];
  return std::stoi(listen.substr(listen.rfind(':') + 1));
}

// Fills a store file with `count` events of ~500 bytes, directly.
void FillStoreFile(const std::string& db, int count) {
  rivulet::eventstore::sqlite::SqliteStoreOptions options;
  options.path = db;
  std::filesystem::create_directories(std::filesystem::path(db).parent_path());
  auto store = rivulet::eventstore::sqlite::OpenSqliteEventStore(options);
  REQUIRE(store.ok());
  for (int done = 0; done < count; done += 1000) {
    rivulet::eventstore::AppendRequest r;
    r.stream = "filled-" + std::to_string(done);
    for (int i = 0; i < 1000 && done + i < count; ++i) {
      rivulet::eventstore::EventData e;
      e.type = "Filled";
      e.data = Json{{"i", done + i}, {"padding", std::string(400, 'p')}};
      r.events.push_back(std::move(e));
    }
    REQUIRE((*store)->Append(r).ok());
  }
}

// Overwrites a 4 KiB page in the middle of the events table's leaves with garbage.
void CorruptMiddleOfEvents(const std::string& db) {
  sqlite3* conn = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &conn, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  std::vector<int64_t> pages;
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(conn,
                             "SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = "
                             "'leaf' ORDER BY pageno",
                             -1, &stmt, nullptr) == SQLITE_OK);
  while (sqlite3_step(stmt) == SQLITE_ROW) pages.push_back(sqlite3_column_int64(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(conn);
  REQUIRE(pages.size() > 10);
  std::fstream file(db, std::ios::in | std::ios::out | std::ios::binary);
  file.seekp((pages[pages.size() / 2] - 1) * 4096);
  std::string garbage(4096, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 131 + 7) % 251);
  file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  file.flush();
  REQUIRE(file);
}

}  // namespace

TEST_CASE("CLI: a second rivulet serve on the same SQLite file refuses to start, by any path",
          "[cli][serve_lock]") {
  rivulet::testing::RivuletServer server;
  auto client = server.Client();
  const std::string db = server.dir().File("rivulet.db");
  TempDir other;
  std::filesystem::create_symlink(db, other.File("link.db"));
  std::filesystem::create_directories(server.dir().File("sub"));
  for (const std::string& path :
       {db, other.File("link.db"), server.dir().File("sub/../rivulet.db")}) {
    INFO(path);
    auto [code, err] = ServeExpectingRefusal(other, ServeConfig(other, path));
    CHECK(code == 1);
    CHECK_THAT(err, Catch::Contains("is already served by another rivulet serve (pid " +
                                    std::to_string(server.process().pid()) + ")"));
    // The first goes on serving.
    auto appended =
        client->Post("/v1/streams/s", R"({"events":[{"type":"T","data":{}}]})", "application/json");
    REQUIRE(appended);
    CHECK(appended->status == 201);
  }
  // CLI commands still work beside it.
  CHECK(RunCommand({RivuletBinary(), "append", "s", "FromCli", "-c", server.config_path()})
            .exit_code == 0);

  // A crashed server leaves no lock behind: the next one starts at once.
  server.Crash();
  Subprocess next({RivuletBinary(), "serve", "-c", ServeConfig(other, other.File("link.db"))},
                  other.File("next.stderr"));
  int port = ListeningPort(next);
  httplib::Client again("127.0.0.1", port);
  auto read = again.Get("/v1/streams/s");
  REQUIRE(read);
  CHECK(read->status == 200);
  CHECK(Json::parse(read->body)["events"].size() == 4);
  next.Signal(SIGTERM);
  CHECK(next.Wait() == 0);
}

TEST_CASE("CLI: replay --to-file refuses the store's own files, and the store stays intact",
          "[cli][replay]") {
  rivulet::testing::RivuletServer server;
  auto client = server.Client();
  for (int i = 0; i < 5; ++i) {
    REQUIRE(
        client
            ->Post("/v1/streams/kept", R"({"events":[{"type":"T","data":{}}]})", "application/json")
            ->status == 201);
  }
  const std::string db = server.dir().File("rivulet.db");
  const auto size_before = std::filesystem::file_size(db);
  std::filesystem::create_symlink(db, server.dir().File("link.db"));
  std::filesystem::create_hard_link(db, server.dir().File("hard.db"));
  std::filesystem::create_directories(server.dir().File("sub"));
  for (const std::string& target :
       {db, db + "-wal", db + "-shm", server.dir().File("link.db"), server.dir().File("hard.db"),
        server.dir().File("sub/../rivulet.db")}) {
    INFO(target);
    auto refused =
        RunCommand({RivuletBinary(), "replay", "--to-file", target, "-c", server.config_path()});
    CHECK(refused.exit_code == 2);
    CHECK_THAT(refused.err, Catch::Contains("is the store's own file"));
    CHECK(refused.out.empty());
  }
  CHECK(std::filesystem::file_size(db) == size_before);
  // The server still reads and appends.
  auto health = client->Get("/v1/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  REQUIRE(
      client->Post("/v1/streams/kept", R"({"events":[{"type":"T","data":{}}]})", "application/json")
          ->status == 201);
  auto read = client->Get("/v1/streams/kept");
  REQUIRE(read);
  CHECK(Json::parse(read->body)["events"].size() == 6);
  // A replay into a file of its own still works, through a symlink too.
  rivulet::testing::WriteFile(server.dir().File("out.jsonl"), "old\n");
  std::filesystem::create_symlink(server.dir().File("out.jsonl"), server.dir().File("out-link"));
  auto replayed = RunCommand({RivuletBinary(), "replay", "--to-file", server.dir().File("out-link"),
                              "-c", server.config_path()});
  INFO(replayed.err);
  REQUIRE(replayed.exit_code == 0);
  CHECK(std::filesystem::is_symlink(server.dir().File("out-link")));
  CHECK(Lines(rivulet::testing::ReadFile(server.dir().File("out.jsonl"))).size() == 6);
}

TEST_CASE("CLI: an interrupted replay --to-file leaves the old target as it was", "[cli][replay]") {
  CliEnv env;
  FillStoreFile(env.dir.File("data/rivulet.db"), 100'000);
  const std::string target = env.dir.File("replayed.jsonl");
  rivulet::testing::WriteFile(target, "the previous replay\n");
  Subprocess replay({RivuletBinary(), "replay", "--to-file", target, "-c", env.config},
                    env.dir.File("replay.stderr"));
  // Interrupt it once it has started writing somewhere.
  auto started = [&] {
    if (rivulet::testing::ReadFile(target) != "the previous replay\n") return true;
    for (const auto& entry : std::filesystem::directory_iterator(env.dir.path())) {
      if (entry.path().filename().string().rfind(".replayed.jsonl.", 0) == 0 &&
          entry.file_size() > 0) {
        return true;
      }
    }
    return false;
  };
  for (int i = 0; i < 6000 && !started() && replay.running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(replay.running());  // else the machine replayed 100,000 events in no time
  replay.Signal(SIGINT);
  auto code = replay.Wait();
  CHECK(code == 1);
  CHECK(rivulet::testing::ReadFile(target) == "the previous replay\n");
  for (const auto& entry : std::filesystem::directory_iterator(env.dir.path())) {
    CHECK(entry.path().filename().string().rfind(".replayed.jsonl.", 0) != 0);
  }
  // Run to completion, it replaces the file.
  auto full = env.Run({"replay", "--to-file", target});
  REQUIRE(full.exit_code == 0);
  CHECK(Lines(full.out)[0]["events"] == 100'000);
  CHECK(rivulet::testing::ReadFile(target).size() > 100'000 * 400);
}

TEST_CASE("CLI: import refuses positions beyond 2^53 - 1 before writing, and appends stop there",
          "[cli][export]") {
  CliEnv env;
  auto line = [](int64_t position, const std::string& stream, int version) {
    return Json{{"position", position},       {"stream", stream},
                {"version", version},         {"id", rivulet::core::Uuid::NewV4().ToString()},
                {"type", "Imported"},         {"data", Json::object()},
                {"metadata", Json::object()}, {"recorded_at", "2024-01-01T00:00:00.000Z"}}
               .dump() +
           "\n";
  };
  const int64_t max = (int64_t{1} << 53) - 1;
  for (int64_t beyond : {max + 1, INT64_MAX - 1}) {
    INFO(beyond);
    std::string file = env.dir.File("far.jsonl");
    rivulet::testing::WriteFile(file, line(1, "a", 0) + line(beyond, "a", 1));
    auto refused = env.Run({"import", file});
    CHECK(refused.exit_code == 2);
    CHECK_THAT(refused.err, Catch::Contains("far.jsonl:2: position: expected an integer from 1 to "
                                            "9007199254740991"));
    CHECK(env.Run({"export"}).out.empty());
  }
  // Up to the limit it imports; then one more append fits, and the next is refused.
  std::string file = env.dir.File("near.jsonl");
  rivulet::testing::WriteFile(file, line(1, "a", 0) + line(max - 1, "a", 1));
  auto imported = env.Run({"import", file});
  INFO(imported.err);
  REQUIRE(imported.exit_code == 0);
  auto last = env.Run({"append", "a", "Last"});
  REQUIRE(last.exit_code == 0);
  CHECK(Lines(last.out)[0]["position"] == max);
  auto full = env.Run({"append", "a", "TooMany"});
  CHECK(full.exit_code == 1);
  CHECK_THAT(full.err, Catch::Contains("beyond the largest position 9007199254740991"));
  auto exported = Lines(env.Run({"export"}).out);
  REQUIRE(exported.size() == 3);
  CHECK(exported[2]["position"] == max);
}

TEST_CASE("CLI: ingest, import and append refuse an event larger than server.max_body",
          "[cli][limits]") {
  CliEnv env;
  rivulet::testing::WriteFile(env.config, R"(store:
  path: ./data/rivulet.db
server:
  max_body: 1KiB
sources:
  - { name: api, type: http }
mappings:
  - source: api
    match: { ns.coll: orders }
    stream: "order-${documentKey.id}"
    type: "Order${operationType|pascal}"
    data: { after: "${fullDocument}" }
)");
  auto change = [](int id, size_t padding) {
    return Json{{"_id", "c-" + std::to_string(id)},
                {"operationType", "insert"},
                {"ns", {{"db", "shop"}, {"coll", "orders"}}},
                {"documentKey", {{"id", id}}},
                {"fullDocument", {{"id", id}, {"note", std::string(padding, 'n')}}}}
               .dump() +
           "\n";
  };
  std::string changes = env.dir.File("changes.jsonl");
  rivulet::testing::WriteFile(changes, change(1, 10) + change(2, 10) + change(3, 1200));
  auto ingested = env.Run({"ingest", "api", changes});
  CHECK(ingested.exit_code == 2);
  CHECK_THAT(ingested.err, Catch::Contains("changes.jsonl:3: "));
  CHECK_THAT(ingested.err, Catch::Contains("up to 1KiB (server.max_body)"));
  CHECK_THAT(ingested.err, Catch::Contains("nothing of lines 1-3 was written"));
  CHECK(env.Run({"export"}).out.empty());

  std::string events = env.dir.File("events.jsonl");
  auto event = [](int64_t position, int version, size_t padding) {
    return Json{{"position", position},       {"stream", "big"},
                {"version", version},         {"id", rivulet::core::Uuid::NewV4().ToString()},
                {"type", "Imported"},         {"data", {{"note", std::string(padding, 'n')}}},
                {"metadata", Json::object()}, {"recorded_at", "2024-01-01T00:00:00.000Z"}}
               .dump() +
           "\n";
  };
  rivulet::testing::WriteFile(events, event(1, 0, 10) + event(2, 1, 1100) + event(3, 2, 10));
  auto imported = env.Run({"import", events});
  CHECK(imported.exit_code == 2);
  CHECK_THAT(imported.err, Catch::Contains("events.jsonl:2: position 2: the event is"));
  CHECK_THAT(imported.err, Catch::Contains("up to 1KiB (server.max_body)"));
  CHECK(env.Run({"export"}).out.empty());

  auto appended = env.Run({"append", "big", "T", Json{{"note", std::string(1100, 'n')}}.dump()});
  CHECK(appended.exit_code == 2);
  CHECK_THAT(appended.err, Catch::Contains("up to 1KiB (server.max_body)"));
  CHECK(env.Run({"export"}).out.empty());
  // Under the limit, all three work.
  rivulet::testing::WriteFile(changes, change(1, 10));
  CHECK(env.Run({"ingest", "api", changes}).exit_code == 0);
}

TEST_CASE(
    "CLI: serve refuses a store corrupted mid-file, and one corrupted while serving answers 503",
    "[cli][corruption]") {
  TempDir dir;
  const std::string db = dir.File("corrupt.db");
  FillStoreFile(db, 5000);
  CorruptMiddleOfEvents(db);
  auto [code, err] = ServeExpectingRefusal(dir, ServeConfig(dir, db));
  CHECK(code == 1);
  CHECK_THAT(err, Catch::Contains("corrupt.db is corrupt"));

  // Damaged while a server runs: reads that reach the page, appends and health answer
  // 503 with the reason, never 200 or 500.
  rivulet::testing::RivuletServer server("", "", false);
  FillStoreFile(server.dir().File("rivulet.db"), 5000);
  server.Start();
  auto client = server.Client();
  CorruptMiddleOfEvents(server.dir().File("rivulet.db"));
  int status = 200;
  std::string token;
  for (int page = 0; page < 10 && status == 200; ++page) {
    auto res = client->Get("/v1/events?limit=1000" + (token.empty() ? "" : "&after=" + token));
    REQUIRE(res);
    status = res->status;
    if (status == 200) token = Json::parse(res->body)["resume_token"];
    if (status != 200) CHECK_THAT(res->body, Catch::Contains("is corrupt"));
  }
  CHECK(status == 503);
  auto append = client->Post("/v1/streams/after", R"({"events":[{"type":"T","data":{}}]})",
                             "application/json");
  REQUIRE(append);
  CHECK(append->status == 503);
  CHECK(Json::parse(append->body)["error"] == "unavailable");
  CHECK_THAT(append->body, Catch::Contains("is corrupt"));
  auto health = client->Get("/v1/health");
  REQUIRE(health);
  CHECK(health->status == 503);
  CHECK_THAT(health->body, Catch::Contains("is corrupt"));
}

TEST_CASE("CLI: serve on a database file it cannot write answers appends 503, reads 200",
          "[cli][read_only]") {
  TempDir dir;
  const std::string db = dir.File("ro.db");
  FillStoreFile(db, 100);
  const std::string config = ServeConfig(dir, db);
  {
    // Served once, so every component's tables exist: starting needs no write.
    Subprocess first({RivuletBinary(), "serve", "-c", config}, dir.File("first.stderr"));
    ListeningPort(first);
    first.Signal(SIGTERM);
    const std::optional<int> code = first.Wait();
    INFO(rivulet::testing::ReadFile(dir.File("first.stderr")));
    REQUIRE(code == 0);
  }
  // chattr +i: even root cannot write the file (tests run as root, which ignores modes).
  int fd = ::open(db.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  int flags = 0;
  bool immutable = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  int with_immutable = flags | FS_IMMUTABLE_FL;
  immutable = immutable && ::ioctl(fd, FS_IOC_SETFLAGS, &with_immutable) == 0;
  struct Restore {
    int fd, flags;
    bool set;
    ~Restore() {
      if (set) ::ioctl(fd, FS_IOC_SETFLAGS, &flags);
      ::close(fd);
    }
  } restore{fd, flags, immutable};
  if (!immutable) {
    WARN("chattr +i is not available here; skipped");
    return;
  }
  Subprocess serve({RivuletBinary(), "serve", "-c", config}, dir.File("ro.stderr"));
  int port = ListeningPort(serve);
  httplib::Client client("127.0.0.1", port);
  auto read = client.Get("/v1/streams/filled-0?limit=5");
  REQUIRE(read);
  CHECK(read->status == 200);
  auto append =
      client.Post("/v1/streams/s", R"({"events":[{"type":"T","data":{}}]})", "application/json");
  REQUIRE(append);
  CHECK(append->status == 503);
  CHECK(Json::parse(append->body)["error"] == "unavailable");
  CHECK_THAT(append->body, Catch::Contains("cannot be written"));
  auto health = client.Get("/v1/health");
  REQUIRE(health);
  CHECK(health->status == 503);
  serve.Signal(SIGTERM);
  CHECK(serve.Wait() == 0);
}

TEST_CASE("CLI: check refuses what serve refuses, with the same words", "[cli][config]") {
  CliEnv env;
  // A backend this build cannot open: check used to call it valid.
  rivulet::testing::WriteFile(
      env.config, "store:\n  backend: postgres\n  url: postgresql://r@127.0.0.1:5432/r\n");
  auto check = env.Run({"check"});
  auto serve = env.Run({"serve"});
  const std::string expected = env.config +
                               ":2:3: store.backend: postgres is not available in this build yet; "
                               "use backend: sqlite";
  CHECK(check.exit_code == 2);
  CHECK(serve.exit_code == 2);
  CHECK(check.out.empty());
  CHECK(serve.out.empty());
  CHECK_THAT(check.err, Catch::Contains(expected));
  // serve says it through the log: one record per line of check's, with the same words.
  std::string serve_words;
  std::istringstream records(serve.err);
  for (std::string line; std::getline(records, line);) {
    const size_t at = line.find(" ERROR server: ");
    REQUIRE(at != std::string::npos);
    serve_words += line.substr(at + std::string(" ERROR server: ").size()) + "\n";
  }
  CHECK(check.err == serve_words);

  // Names that would collide once derived (SQLite ignores case in table names).
  rivulet::testing::WriteFile(env.config,
                              "projections:\n"
                              "  - {name: orders, key: \"${stream}\", on: {A: {set: {x: 1}}}}\n"
                              "  - {name: Orders, key: \"${stream}\", on: {A: {set: {x: 1}}}}\n");
  auto names = env.Run({"check"});
  CHECK(names.exit_code == 2);
  CHECK_THAT(names.err,
             Catch::Contains(env.config + ":3:6: projections[1].name: expected a name matching "
                                          "[a-z][a-z0-9_]{0,47}"));
}

TEST_CASE("CLI: a config path that is not a regular file is a config error", "[cli][config]") {
  CliEnv env;
  const std::pair<std::string, std::string> paths[] = {
      {env.dir.path(), "it is a directory, not a regular file"},
      {"/dev/zero", "it is a device, not a regular file"},
  };
  for (const auto& [path, expected] : paths) {
    INFO(path);
    auto r = RunCommand({RivuletBinary(), "check", "-c", path});
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::Contains(path + ": cannot read the config file: " + expected));
  }
}

TEST_CASE("CLI: numeric options say their bound in a few words", "[cli]") {
  CliEnv env;
  REQUIRE(env.Run({"append", "order-1", "T"}).exit_code == 0);
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"read", "order-1", "--limit", "0"}, "--limit: must be at least 1, got 0"},
      {{"read", "order-1", "--limit", "-5"}, "--limit: must be at least 1, got -5"},
      {{"read", "order-1", "--from", "-1"}, "--from: must be at least 0, got -1"},
      {{"read", "order-1", "--limit", "many"}, "--limit: expected a whole number, got \"many\""},
      {{"tail", "--limit", "0"}, "--limit: must be at least 1, got 0"},
      {{"export", "--from", "0"}, "--from: must be at least 1, got 0"},
  };
  for (const auto& [args, expected] : cases) {
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    INFO(joined);
    auto r = env.Run(args);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::Contains(expected));
    CHECK(r.err.size() < 200);  // CLI11's own check printed a 300-digit range
  }
  CHECK(Lines(env.Run({"read", "order-1", "--limit", "1", "--from", "0"}).out).size() == 1);
}

TEST_CASE("CLI: a mistyped command gets a suggestion, exit 2", "[cli]") {
  CliEnv env;
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"sagass", "list"}, "rivulet: unknown command \"sagass\" (did you mean \"sagas\"?)"},
      {{"projections", "lst"},
       "rivulet projections: unknown command \"lst\" (did you mean \"list\"?)"},
      {{"chekc"}, "rivulet: unknown command \"chekc\" (did you mean \"check\"?)"},
      {{"proj", "list"}, "rivulet: unknown command \"proj\" (did you mean \"projections\"?)"},
      {{"outbox", "retyr", "5"},
       "rivulet outbox: unknown command \"retyr\" (did you mean \"retry\"?)"},
      {{"frobnicate"}, "rivulet: unknown command \"frobnicate\" (expected one of: serve check"},
  };
  for (const auto& [args, expected] : cases) {
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    INFO(joined);
    auto r = env.Run(args);  // -c FILE comes last: options anywhere are skipped
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::Contains(expected));
  }
  // Before the command, -c takes its value with it.
  auto before = RunCommand({RivuletBinary(), "-c", env.config, "sagas", "lst"});
  CHECK(before.exit_code == 2);
  CHECK_THAT(before.err, Catch::Contains("rivulet sagas: unknown command \"lst\" (did you mean "
                                         "\"list\"?)"));
  // Other usage errors keep CLI11's words.
  auto extra = env.Run({"read"});
  CHECK(extra.exit_code == 2);
  CHECK_THAT(extra.err, Catch::Contains("STREAM is required"));
}

TEST_CASE("CLI: check and serve refuse an alias inside the node it names, without crashing",
          "[cli][config]") {
  CliEnv env;
  // The node would contain itself: walking it overflowed the stack (SIGSEGV).
  rivulet::testing::WriteFile(env.config,
                              "store:\n  path: ./data/rivulet.db\n"
                              "sources: [{name: api, type: http}]\n"
                              "mappings: [{source: api, stream: s, data: &d {x: *d}}]\n");
  for (const char* command : {"check", "serve"}) {
    INFO(command);
    auto r = env.Run({command});
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::Contains(env.config + ":4:50: an alias inside the node it names"));
  }
}

TEST_CASE(
    "CLI: replay --to DESTINATION --dry-run publishes nothing, and with --to-file is a "
    "usage error that touches no file",
    "[cli][replay][outbox]") {
  CliEnv env;
  SeedStore(env);
  rivulet::testing::WriteFile(env.config, R"(store:
  path: ./data/rivulet.db
outbox:
  destinations:
    - { name: bus, type: jsonl, path: ./data/bus.jsonl }
)");
  const std::vector<std::string> paid = {"--match", R"({"type": "OrderPaid"})", "--from", "5"};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), paid.begin(), paid.end());
    return args;
  };
  // SPEC 6 lists [--dry-run] for replay --to: it says what it would publish.
  auto dry = env.Run(with({"replay", "--to", "bus", "--dry-run"}));
  INFO(dry.err);
  REQUIRE(dry.exit_code == 0);
  Json summary = Lines(dry.out).at(0);
  CHECK(summary["dry_run"] == true);
  CHECK(summary["destination"] == "bus");
  CHECK(summary["events"] == 12);  // i = 6, 9, ..., 39
  CHECK(summary["first_position"] == 7);
  CHECK(summary["last_position"] == 40);
  auto listed = env.Run({"outbox", "list"});
  REQUIRE(listed.exit_code == 0);
  CHECK(Lines(listed.out).empty());
  // Without --dry-run the same replay publishes what the dry run counted.
  auto published = env.Run(with({"replay", "--to", "bus"}));
  REQUIRE(published.exit_code == 0);
  CHECK(Lines(published.out).at(0)["events"] == 12);
  CHECK(Lines(published.out).at(0)["dry_run"] == false);
  CHECK(Lines(env.Run({"outbox", "list"}).out).size() == 12);

  // --to DESTINATION with --to-file: refused before the file is opened, which is left
  // as it was (no temporary file beside it either), and nothing is published.
  const std::string target = env.dir.File("kept.jsonl");
  rivulet::testing::WriteFile(target, "the previous replay\n");
  for (const std::vector<std::string>& args :
       {with({"replay", "--to", "bus", "--to-file", target}),
        with({"replay", "--to", "bus", "--to-file", target, "--dry-run"})}) {
    auto both = env.Run(args);
    CHECK(both.exit_code == 2);
    CHECK(both.out.empty());
    CHECK_THAT(both.err, Catch::Contains("--to bus re-publishes through the outbox and "
                                         "--to-file writes a file: choose one"));
  }
  CHECK(rivulet::testing::ReadFile(target) == "the previous replay\n");
  for (const auto& entry : std::filesystem::directory_iterator(env.dir.path()))
    CHECK(entry.path().filename().string().rfind(".kept.jsonl.", 0) != 0);
  CHECK(Lines(env.Run({"outbox", "list"}).out).size() == 12);
}

TEST_CASE(
    "CLI: replay --to-file refuses the store's files beside its real path when "
    "store.path is a symlink",
    "[cli][replay]") {
  TempDir real_dir;
  TempDir config_dir;
  const std::string real = real_dir.File("store.db");
  FillStoreFile(real, 10);
  const std::string link = config_dir.File("link.db");
  std::filesystem::create_symlink(real, link);
  // A server on the link keeps the store open: SQLite's -wal and -shm, and the serve
  // lock, live beside the real file.
  const std::string config = ServeConfig(config_dir, link);
  Subprocess serve({RivuletBinary(), "serve", "-c", config}, config_dir.File("serve.stderr"));
  ListeningPort(serve);
  REQUIRE(std::filesystem::exists(real + "-wal"));
  REQUIRE(std::filesystem::exists(real + "-shm"));
  REQUIRE(std::filesystem::exists(real + "-serve.lock"));
  REQUIRE_FALSE(std::filesystem::exists(link + "-wal"));
  const auto lock_before = rivulet::testing::ReadFile(real + "-serve.lock");
  for (const std::string& target :
       {real + "-wal", real + "-shm", real + "-serve.lock", real + "-journal"}) {
    INFO(target);
    auto refused = RunCommand({RivuletBinary(), "replay", "--to-file", target, "-c", config});
    CHECK(refused.exit_code == 2);
    CHECK_THAT(refused.err, Catch::Contains("is the store's own file"));
    CHECK(refused.out.empty());
  }
  CHECK_FALSE(std::filesystem::exists(real + "-journal"));
  CHECK(rivulet::testing::ReadFile(real + "-serve.lock") == lock_before);
  // The server still answers, with every event.
  auto exported = RunCommand({RivuletBinary(), "export", "-c", config});
  REQUIRE(exported.exit_code == 0);
  CHECK(Lines(exported.out).size() == 10);
  serve.Signal(SIGTERM);
  CHECK(serve.Wait() == 0);
}

TEST_CASE("CLI: serve --log-format json writes every stderr line as one JSON record",
          "[cli][log]") {
  rivulet::testing::RivuletServer server("", "", false);
  const std::string feed = server.dir().File("feed.jsonl");
  server.SetConfig("", "sources:\n  - { name: feed, type: jsonl, path: " + feed +
                           " }\nmappings:\n  - { source: feed }\n");
  server.SetArgs({"--log-format", "json", "--log-level", "debug"});
  server.Start();
  auto said = [&](const std::string& component, const std::string& text) {
    int n = 0;
    for (const Json& r : server.LogRecords()) {
      if (r.value("component", "") == component &&
          r.value("msg", "").find(text) != std::string::npos)
        ++n;
    }
    return n;
  };
  // The file is not there yet: said once however often it is tried, then it is read.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (said("source/feed", "cannot open") == 0) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  rivulet::testing::WriteFile(
      feed, R"({"_id": "1", "operationType": "insert", "ns": {"db": "d", "coll": "orders"}, )"
            R"("documentKey": {"id": 1}, "fullDocument": {"id": 1}})"
            "\n");
  while (said("source/feed", "reading again") == 0) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(server.Stop() == 0);

  const std::string text = server.stderr_text();
  INFO(text);
  std::istringstream lines(text);
  const std::set<std::string> levels = {"debug", "info", "warn", "error"};
  int count = 0;
  for (std::string line; std::getline(lines, line);) {
    ++count;
    INFO(line);
    Json r = Json::parse(line, nullptr, false);
    REQUIRE(r.is_object());
    REQUIRE(r["ts"].is_string());
    CHECK(r["ts"].get<std::string>().size() == std::string("2026-01-01T00:00:00.000Z").size());
    CHECK(r["ts"].get<std::string>().back() == 'Z');
    CHECK(levels.count(r.value("level", "")) == 1);
    CHECK(r["component"].is_string());
    CHECK(r["msg"].is_string());
  }
  CHECK(count >= 4);
  CHECK(said("server", "serving http://") == 1);
  CHECK(said("server", "stopped") == 1);
  CHECK(said("source/feed", "cannot open") == 1);  // the rest of the retries are debug
}

TEST_CASE(
    "CLI: --log-format and --log-level take only their values, and serve logs its "
    "config errors as records",
    "[cli][log]") {
  CliEnv env;
  auto bad_format = env.Run({"serve", "--log-format", "xml"});
  CHECK(bad_format.exit_code == 2);
  CHECK_THAT(bad_format.err, Catch::Contains("--log-format"));
  auto bad_level = env.Run({"--log-level", "loud", "serve"});
  CHECK(bad_level.exit_code == 2);
  CHECK_THAT(bad_level.err, Catch::Contains("--log-level"));
  // Harmless to other commands.
  CHECK(env.Run({"check", "--log-format", "json", "--log-level", "error"}).exit_code == 0);

  rivulet::testing::WriteFile(env.config,
                              "store: {path: ./x.db}\nserver: {listen: \"127.0.0.1:http\"}\n"
                              "projections: [{name: p}]\n");
  auto refused = env.Run({"serve", "--log-format", "json"});
  CHECK(refused.exit_code == 2);
  INFO(refused.err);
  std::istringstream lines(refused.err);
  int count = 0;
  for (std::string line; std::getline(lines, line);) {
    ++count;
    Json r = Json::parse(line, nullptr, false);
    REQUIRE(r.is_object());
    CHECK(r["level"] == "error");
    CHECK(r["component"] == "server");
  }
  CHECK(count >= 2);  // one record per problem
  CHECK_THAT(refused.err, Catch::Contains("server.listen"));

  // The text format (the default): one line per record, with its level and component.
  auto text = env.Run({"serve", "--log-level", "error"});
  CHECK(text.exit_code == 2);
  CHECK_THAT(text.err, Catch::Contains(" ERROR server: "));
}
