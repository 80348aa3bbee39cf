#include "config/config_loader.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <map>
#include <random>

#include "config/yaml_reader.h"
#include "tests/support/temp_dir.h"

using namespace rivulet::config;
using rivulet::testing::TempDir;

namespace {

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

EnvLookup ReferenceEnv() {
  return FakeEnv({{"RIVULET_ADMIN_TOKEN", "admin-token-0123456789"},
                  {"RIVULET_READ_TOKEN", "read-token-0123456789"},
                  {"WEBHOOK_SECRET", "hook-secret"}});
}

// The errors of loading `yaml` as rivulet.yaml, one per element.
std::vector<std::string> Errors(const std::string& yaml, EnvLookup env = FakeEnv({})) {
  auto config = LoadConfigString(yaml, "rivulet.yaml", "/cfg", env);
  if (config.ok()) return {};
  std::vector<std::string> errors;
  for (const auto& e : config.status().details()["errors"]) errors.push_back(e.get<std::string>());
  return errors;
}

}  // namespace

TEST_CASE("the example configs load", "[config]") {
  auto quickstart = LoadConfigFile(RIVULET_SOURCE_DIR "/examples/quickstart/rivulet.yaml");
  INFO(quickstart.status());
  CHECK(quickstart.ok());
  auto fulfillment = LoadConfigFile(RIVULET_SOURCE_DIR "/examples/order-fulfillment/rivulet.yaml");
  INFO(fulfillment.status());
  REQUIRE(fulfillment.ok());
  CHECK(fulfillment->sagas.size() == 1);
  REQUIRE(fulfillment->outbox.destinations.size() == 3);
  CHECK(fulfillment->outbox.destinations[2].type == rivulet::outbox::Destination::Type::kNats);
  CHECK(fulfillment->outbox.publish[0].to == std::vector<std::string>{"hooks", "audit", "bus"});
}

TEST_CASE("the SPEC's reference config loads into typed sections", "[config]") {
  auto config =
      LoadConfigFile(RIVULET_SOURCE_DIR "/examples/reference/rivulet.yaml", ReferenceEnv());
  INFO(config.status());
  REQUIRE(config.ok());
  CHECK(config->store.backend == StoreConfig::Backend::kSqlite);
  CHECK(config->store.path == RIVULET_SOURCE_DIR "/examples/reference/data/rivulet.db");
  CHECK(config->server.host == "127.0.0.1");
  CHECK(config->server.port == 8080);
  CHECK(config->server.max_body == 4u << 20);
  REQUIRE(config->server.tokens.size() == 2);
  CHECK(config->server.auth_required);
  CHECK(config->server.tokens[0].token == "admin-token-0123456789");
  CHECK(config->server.tokens[0].role == Role::kAdmin);
  CHECK(config->server.tokens[1].role == Role::kRead);
  CHECK(config->services.at("payments") == "http://127.0.0.1:9101");
  REQUIRE(config->sources.size() == 3);
  CHECK(config->sources[1].type == SourceConfig::Type::kJsonl);
  CHECK(config->sources[2].tables == std::vector<std::string>{"public.orders"});
  CHECK(config->sources[2].heartbeat == std::chrono::seconds(10));
  REQUIRE(config->mappings.size() == 1);
  CHECK(config->mappings[0].source == "shop");
  rivulet::core::Json change = rivulet::core::Json::parse(
      R"({"operationType": "insert", "documentKey": {"id": 42}, "ns": {"coll": "orders"},
          "fullDocument": {"id": 42}, "fullDocumentBeforeChange": null, "updateDescription": null})");
  CHECK(config->mappings[0].match.Matches(change));
  CHECK(*config->mappings[0].stream->Evaluate(change) == "order-42");
  CHECK(*config->mappings[0].type->Evaluate(change) == "OrderInsert");
  REQUIRE(config->projections.size() == 2);
  CHECK(config->projections[0].on.count("OrderDelete") == 1);
  CHECK(config->projections[0].on.at("OrderDelete").remove);
  CHECK(config->projections[0].indexes == std::vector<std::string>{"status", "customer"});
  CHECK(config->projections[1].on.at("OrderInsert").inc.size() == 2);
  REQUIRE(config->sagas.size() == 1);
  const SagaConfig& saga = config->sagas[0];
  CHECK(saga.timeout == std::chrono::minutes(5));
  CHECK(saga.retry.max_attempts == 3);
  CHECK(saga.retry.jitter == RetryPolicy::Jitter::kFull);
  CHECK(saga.compensation_retry.max_attempts == 10);
  CHECK(saga.compensation_retry.max_interval == std::chrono::minutes(1));
  REQUIRE(saga.steps.size() == 3);
  CHECK(saga.steps[0].action->service == "payments");
  CHECK(saga.steps[0].timeout == std::chrono::seconds(30));
  CHECK(saga.steps[1].compensation->method == "DELETE");
  CHECK(saga.steps[2].await->type == "ShipmentBooked");
  CHECK(saga.on_completed.has_value());
  CHECK(saga.trigger_match->Matches(rivulet::core::Json::parse(
      R"({"data": {"after": {"status": "pending", "total_amount": 5}}})")));
  REQUIRE(config->outbox.destinations.size() == 3);
  CHECK(config->outbox.destinations[1].secret == "hook-secret");
  CHECK(config->outbox.publish[0].to == std::vector<std::string>{"bus", "hooks"});
  CHECK(config->outbox.retention == std::chrono::hours(24 * 7));
  CHECK(config->runtime.saga_workers == 64);
  CHECK(config->runtime.http_threads == 16);
}

TEST_CASE("an error names the file, line, column and key path", "[config]") {
  std::string yaml =
      "services:\n"
      "  payments: http://127.0.0.1:9101\n"
      "sagas:\n"
      "  - name: order_fulfillment\n"
      "    steps:\n"
      "      - name: a\n"
      "        action: { call: payments, path: /a }\n"
      "      - name: b\n"
      "        action: { call: payments, path: /b }\n"
      "      - name: c\n"
      "        action: { call: payments, path: /c }\n"
      "        timeout: fast\n";
  auto errors = Errors(yaml);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] ==
        "rivulet.yaml:12:9: sagas[0].steps[2].timeout: expected a duration like 30s, got \"fast\"");
}

TEST_CASE("every kind of bad config is an error, and all of them are reported", "[config]") {
  const std::pair<const char*, const char*> cases[] = {
      {"stor: {}\n", "rivulet.yaml:1:1: stor: unknown key \"stor\" (did you mean \"store\"?)"},
      {"store: {backend: mysql}\n",
       "store.backend: expected one of sqlite, postgres, got \"mysql\""},
      {"store: {backend: postgres}\n", "store.url: required when store.backend is postgres"},
      {"store: [1]\n", "store: expected a mapping, got a list"},
      {"server: {listen: 8080}\n",
       "server.listen: expected host:port like 127.0.0.1:8080, got \"8080\""},
      {"server: {listen: \"127.0.0.1:99999\"}\n", "expected host:port"},
      {"server: {max_body: big}\n", "server.max_body: expected a size like 4MiB, got \"big\""},
      {"server: {max_body: 10}\n", "server.max_body: must be between 1KiB and 1GiB"},
      {"server: {tokens: [{name: a, token: short, role: read}]}\n",
       "a token needs at least 16 characters"},
      {"server: {tokens: [{name: a, token: aaaaaaaaaaaaaaaaaaaa, role: root}]}\n",
       "server.tokens[0].role: expected one of read, write, admin, got \"root\""},
      {"server: {tokens: [{name: a, token: \"${env:NOPE}\", role: read}]}\n",
       "server.tokens[0].token: environment variable NOPE is not set"},
      {"services: {pay: ftp://x}\n", "services.pay: expected a base URL"},
      {"sources: [{name: s, type: kafka}]\n",
       "sources[0].type: expected one of http, jsonl, postgres"},
      {"sources: [{name: s, type: jsonl}]\n", "sources[0].path: required"},
      {"sources: [{name: s, type: http, path: x}]\n",
       "sources[0].path: only used by jsonl sources"},
      {"sources: [{name: s, type: postgres, url: postgresql://x/y, publication: p, slot: S, "
       "tables: [t]}]\n",
       "sources[0].slot: expected lower-case letters"},
      {"sources: [{name: \"bad name\", type: http}]\n",
       "sources[0].name: expected a name matching [a-z][a-z0-9_]{0,47}"},
      {"sources: [{name: s, type: http}, {name: s, type: http}]\n", "duplicate source name s"},
      {"mappings: [{source: nope}]\n", "mappings[0].source: no source named nope is declared"},
      {"mappings: [{stream: \"order-${documentKey.id\"}]\n",
       "mappings[0].stream: template \"order-${documentKey.id\": missing '}'"},
      {"mappings: [{match: {a: {$bogus: 1}}}]\n",
       "mappings[0].match: a.$bogus: unknown operator $bogus"},
      {"projections: [{name: p, key: \"${data.id}\", on: {A: {set: {x: \"${date.x}\"}}}}]\n",
       "template reads \"date.x\", but a projection only sees"},
      {"projections: [{name: p, key: \"${data.id}\", on: {A: {set: {_key: 1}}}}]\n", "reserved"},
      {"projections: [{name: p, key: \"${data.id}\", on: {A: {delete: true, set: {x: 1}}}}]\n",
       "delete: true cannot be combined"},
      {"projections: [{name: p, key: \"${data.id}\", on: {A: {upsert: {x: 1}}}}]\n",
       "projections[0].on.A.upsert: unknown key \"upsert\""},
      {"projections: [{name: p, on: {A: {set: {x: 1}}}}]\n", "projections[0].key: required"},
      {"sagas: [{name: s, steps: [{name: a, action: {call: nowhere, path: /x}}]}]\n",
       "sagas[0].steps[0].action.call: no service named nowhere under services:"},
      {"services: {p: http://h}\nsagas: [{name: s, steps: [{name: a, action: {call: p, path: "
       "x}}]}]\n",
       "a path starts with '/'"},
      {"services: {p: http://h}\nsagas: [{name: s, steps: [{name: a}]}]\n",
       "a step has exactly one of action and await"},
      {"services: {p: http://h}\nsagas: [{name: s, steps: [{name: a, action: {call: p, path: "
       "\"/${steps.b.response.id}\"}}, "
       "{name: b, action: {call: p, path: /b}}]}]\n",
       "template reads steps.b, which the action of step a cannot see (only earlier steps are "
       "visible)"},
      {"services: {p: http://h}\nsagas: [{name: s, steps: [{name: a, action: {call: p, path: "
       "\"/${env.SECRET}\"}}]}]\n",
       "templates never see env"},
      {"services: {p: http://h}\nsagas: [{name: s, steps: [{name: a, action: {call: p, path: /a}}, "
       "{name: a, action: {call: p, path: /b}}]}]\n",
       "duplicate step name a"},
      {"services: {p: http://h}\nsagas: [{name: s, retry: {max_attempts: 0}, steps: [{name: a, "
       "action: {call: p, path: /a}}]}]\n",
       "sagas[0].retry.max_attempts: must be between 1 and 1000, got 0"},
      {"services: {p: http://h}\nsagas: [{name: s, retry: {jitter: some}, steps: [{name: a, "
       "action: {call: p, path: /a}}]}]\n",
       "sagas[0].retry.jitter: expected one of full, none"},
      {"services: {p: http://h}\nsagas: [{name: s, trigger: {type: A}, steps: [{name: a, action: "
       "{call: p, path: /a}}]}]\n",
       "sagas[0].id: required when the saga has a trigger"},
      {"outbox: {destinations: [{name: d, type: nats, url: nats://x, stream: S}]}\n",
       "outbox.destinations[0].subject: required"},
      {"outbox: {destinations: [{name: d, type: http, url: http://x, path: y}]}\n",
       "outbox.destinations[0].path: not used by http destinations"},
      {"outbox: {publish: [{match: {type: A}, to: [nowhere]}]}\n",
       "outbox.publish[0].to: no destination named nowhere"},
      {"outbox: {retention: forever}\n", "outbox.retention: expected a duration like 30s"},
      {"runtime: {http_threads: 0}\n", "runtime.http_threads: must be between 1 and 1024, got 0"},
      {"runtime: {http_threads: many}\n",
       "runtime.http_threads: expected an integer, got \"many\""},
      {"store: {path: a}\nstore: {path: b}\n", "duplicate key \"store\""},
      {"store: {path: [1, 2\n", "rivulet.yaml:2:1: invalid YAML"},
  };
  for (const auto& [yaml, expected] : cases) {
    INFO("config:\n" << yaml);
    auto errors = Errors(yaml);
    REQUIRE_FALSE(errors.empty());
    std::string all;
    for (const auto& e : errors) all += e + "\n";
    INFO("errors:\n" << all);
    CHECK_THAT(all, Catch::Contains(expected));
    for (const auto& e : errors) CHECK_THAT(e, Catch::StartsWith("rivulet.yaml:"));
  }

  auto several = Errors("server: {listen: nope, max_body: big}\nruntime: {saga_workers: -1}\n");
  CHECK(several.size() == 3);
}

TEST_CASE("env substitution, relative paths and defaults", "[config]") {
  auto config = LoadConfigString(
      "store: {path: \"${env:DB_DIR}/x.db\"}\nserver: {listen: \"127.0.0.1:${env:PORT}\"}\n",
      "rivulet.yaml", "/cfg", FakeEnv({{"DB_DIR", "./data"}, {"PORT", "9999"}}));
  REQUIRE(config.ok());
  CHECK(config->store.path == "/cfg/data/x.db");
  CHECK(config->server.port == 9999);

  auto empty = LoadConfigString("", "rivulet.yaml", "/cfg", FakeEnv({}));
  REQUIRE(empty.ok());
  CHECK(empty->store.path == "/cfg/data/rivulet.db");
  CHECK(empty->server.host == "127.0.0.1");
  CHECK(empty->server.port == 8080);
  CHECK_FALSE(empty->server.auth_required);

  auto absolute =
      LoadConfigString("store: {path: /var/lib/rivulet.db}\n", "rivulet.yaml", "/cfg", FakeEnv({}));
  CHECK(absolute->store.path == "/var/lib/rivulet.db");

  auto escaped = LoadConfigString("mappings: [{stream: \"$${env:X}-${documentKey.id}\"}]\n",
                                  "rivulet.yaml", "/cfg", FakeEnv({}));
  REQUIRE(escaped.ok());
  CHECK(*escaped->mappings[0].stream->Evaluate(
            rivulet::core::Json::parse(R"({"documentKey": {"id": 1}})")) == "${env:X}-1");

  TempDir dir;
  auto missing = LoadConfigFile(dir.File("nope.yaml"));
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.status().message(), Catch::Contains("nope.yaml: cannot read the config file"));
}

TEST_CASE("fuzz: mutated configs load or fail with positioned errors, never crash",
          "[config][fuzz]") {
  std::string reference =
      rivulet::testing::ReadFile(RIVULET_SOURCE_DIR "/examples/reference/rivulet.yaml");
  std::mt19937_64 rng(5);
  static const char kInteresting[] = ":{}[]-\"'${}|#&*!\n\t ";
  int failed = 0;
  for (int i = 0; i < 400; ++i) {
    std::string text = reference;
    for (int e = 0; e < 1 + static_cast<int>(rng() % 3); ++e) {
      size_t pos = rng() % text.size();
      char c = kInteresting[rng() % (sizeof(kInteresting) - 1)];
      if (rng() % 2)
        text[pos] = c;
      else
        text.insert(text.begin() + static_cast<std::ptrdiff_t>(pos), c);
    }
    auto config = LoadConfigString(text, "rivulet.yaml", "/cfg", ReferenceEnv());
    if (config.ok()) continue;
    ++failed;
    for (const auto& e : config.status().details()["errors"]) {
      CHECK_THAT(e.get<std::string>(), Catch::StartsWith("rivulet.yaml:"));
    }
  }
  CHECK(failed > 0);
}

TEST_CASE("names of every kind follow [a-z][a-z0-9_]{0,47}, and say so where they break it",
          "[config][names]") {
  const std::string rule =
      "expected a name matching [a-z][a-z0-9_]{0,47} (a lower-case letter, then up to 47 "
      "lower-case letters, digits or '_'), got ";
  // Each kind, with the error's exact position and key path.
  const std::pair<std::string, std::string> cases[] = {
      {"sources:\n  - {name: Shop, type: http}\n",
       "rivulet.yaml:2:6: sources[0].name: " + rule + "\"Shop\""},
      {"services:\n  pay-ments: http://h\n",
       "rivulet.yaml:2:3: services.pay-ments: " + rule + "\"pay-ments\""},
      {"projections:\n  - name: order-summary\n    key: \"${stream}\"\n    on: {A: {set: {x: "
       "1}}}\n",
       "rivulet.yaml:2:5: projections[0].name: " + rule + "\"order-summary\""},
      {"services: {p: http://h}\nsagas:\n  - name: order-x\n    steps: [{name: a, action: {call: "
       "p, path: /a}}]\n",
       "rivulet.yaml:3:5: sagas[0].name: " + rule + "\"order-x\""},
      {"outbox:\n  destinations:\n    - {name: Bus, type: jsonl, path: x}\n",
       "rivulet.yaml:3:8: outbox.destinations[0].name: " + rule + "\"Bus\""},
      {"sources:\n  - {name: _s, type: http}\n", "sources[0].name: " + rule + "\"_s\""},
      {"sources:\n  - {name: 1s, type: http}\n", "sources[0].name: " + rule + "\"1s\""},
      {"sources:\n  - {name: " + std::string(49, 'a') + ", type: http}\n",
       "sources[0].name: " + rule + "\"" + std::string(49, 'a') + "\""},
  };
  for (const auto& [yaml, expected] : cases) {
    INFO(yaml);
    auto errors = Errors(yaml);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::EndsWith(expected));
    CHECK_THAT(errors[0], Catch::StartsWith("rivulet.yaml:"));
  }

  // Names differing only in case can no longer both exist: the upper-case one breaks the
  // rule (SQLite would give both projections one table).
  auto twice = Errors(
      "projections:\n"
      "  - {name: orders, key: \"${stream}\", on: {A: {set: {x: 1}}}}\n"
      "  - {name: Orders, key: \"${stream}\", on: {A: {set: {x: 1}}}}\n");
  REQUIRE(twice.size() == 1);
  CHECK(twice[0] == "rivulet.yaml:3:6: projections[1].name: " + rule + "\"Orders\"");
  // So do index fields that differ only in case (each is a column of the table).
  auto fields = Errors(
      "projections:\n  - {name: p, key: \"${stream}\", on: {A: {set: {x: 1}}}, indexes: [Status, "
      "status]}\n");
  REQUIRE(fields.size() == 1);
  CHECK_THAT(fields[0], Catch::Contains("projections[0].indexes[1]: index on status and on Status "
                                        "(indexes ignore case)"));

  // What the rule allows: 48 bytes, digits, '_' anywhere after the first letter, and the
  // names that collided before (a__g2 beside a; order_x beside order).
  auto ok = LoadConfigString(
      "services: {p: http://h, p_2: http://h}\n"
      "sources: [{name: " +
          std::string(48, 'a') +
          ", type: http}]\n"
          "projections:\n"
          "  - {name: a, key: \"${stream}\", on: {A: {set: {x: 1}}}}\n"
          "  - {name: a__g2, key: \"${stream}\", on: {A: {set: {x: 1}}}}\n"
          "sagas:\n"
          "  - {name: order, steps: [{name: a, action: {call: p, path: /a}}]}\n"
          "  - {name: order_x, steps: [{name: a, action: {call: p_2, path: /a}}]}\n"
          "outbox: {destinations: [{name: d9_, type: jsonl, path: x}]}\n"
          "server: {tokens: [{name: Ops-Team, token: aaaaaaaaaaaaaaaaaaaa, role: read}]}\n",
      "rivulet.yaml", "/cfg", FakeEnv({}));
  INFO(ok.status());
  CHECK(ok.ok());
}

TEST_CASE("store.backend postgres is refused when the config loads, for every command alike",
          "[config]") {
  auto errors = Errors("store: {backend: postgres, url: \"postgresql://x@127.0.0.1/y\"}\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] ==
        "rivulet.yaml:1:9: store.backend: postgres is not available in this build yet; use "
        "backend: sqlite");
}

TEST_CASE("the loader bounds what it reads: alias expansion, size, regular files only",
          "[config][limits]") {
  // Aliases nested six deep under a template: 10^6 nodes for a walk, from 300 bytes.
  std::string bomb = "mappings:\n  - data:\n      l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level <= 5; ++level) {
    std::string prev = "*l" + std::to_string(level - 1);
    bomb += "      l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) bomb += (i ? ", " : "") + prev;
    bomb += "]\n";
  }
  auto errors = Errors(bomb);
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::StartsWith("rivulet.yaml:"));
  CHECK_THAT(errors[0], Catch::Contains(
                            "the config passes 100000 nodes here, counting each alias as the nodes "
                            "it repeats"));

  // The count stops where the limit is passed, however far the aliases would go.
  std::string deep = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level <= 30; ++level) {
    deep += "l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) deep += (i ? ", " : "") + ("*l" + std::to_string(level - 1));
    deep += "]\n";
  }
  YAML::Mark where = YAML::Mark::null_mark();
  CHECK_FALSE(CountExpandedNodes(deep, 100'000, &where).has_value());
  CHECK(where.line == 4);  // an alias in l4 (0-based line 4) passes 10^5
  // Keys count too: the map, a, [1, 2] (3), b, [*a, *a] (1 + 2 * 3).
  CHECK(CountExpandedNodes("a: &a [1, 2]\nb: [*a, *a]\n", 100, &where) == 13u);

  // Anchors and aliases of ordinary size still load.
  auto shared = LoadConfigString(
      "services: {p: http://h}\n"
      "sagas:\n"
      "  - {name: s1, retry: &r {max_attempts: 5}, steps: [{name: a, action: {call: p, path: "
      "/a}}]}\n"
      "  - {name: s2, retry: *r, steps: [{name: a, action: {call: p, path: /a}}]}\n",
      "rivulet.yaml", "/cfg", FakeEnv({}));
  INFO(shared.status());
  REQUIRE(shared.ok());
  CHECK(shared->sagas[1].retry.max_attempts == 5);

  // More than 4 MiB, even of comments.
  std::string big(5 << 20, '#');
  for (size_t i = 80; i < big.size(); i += 81) big[i] = '\n';
  auto too_big = LoadConfigString(big, "rivulet.yaml", "/cfg", FakeEnv({}));
  REQUIRE_FALSE(too_big.ok());
  CHECK(too_big.status().message() ==
        "rivulet.yaml: the config is 5242880 bytes; the limit is 4MiB");
  TempDir dir;
  rivulet::testing::WriteFile(dir.File("big.yaml"), big);
  auto big_file = LoadConfigFile(dir.File("big.yaml"));
  REQUIRE_FALSE(big_file.ok());
  CHECK_THAT(big_file.status().message(), Catch::Contains("larger than 4MiB"));

  // Only regular files: a directory, a device and a FIFO without a writer are refused at
  // once (reading the FIFO would wait forever, /dev/zero never ends).
  const std::pair<std::string, std::string> others[] = {
      {dir.path(), "it is a directory, not a regular file"},
      {"/dev/zero", "it is a device, not a regular file"},
      {dir.File("fifo"), "it is a pipe, not a regular file"},
  };
  REQUIRE(::mkfifo(dir.File("fifo").c_str(), 0600) == 0);
  for (const auto& [path, expected] : others) {
    auto config = LoadConfigFile(path);
    REQUIRE_FALSE(config.ok());
    CHECK(config.status().message() == path + ": cannot read the config file: " + expected);
    CHECK(config.status().details()["errors"].size() == 1);
  }
}

TEST_CASE("an alias inside the node it names is a config error, not a crash", "[config][limits]") {
  // yaml-cpp registers an anchor when its node starts, so each of these would build a
  // node that contains itself, and the walk of it would never end (it overflowed the
  // stack). Each alias counts once, so the node limit does not catch them.
  const std::pair<std::string, std::string> cases[] = {
      {"sources: [{name: api, type: http}]\n"
       "mappings: [{source: api, stream: s, data: &d {x: *d}}]\n",
       "rivulet.yaml:2:50: an alias inside the node it names"},
      {"services: {p: http://h}\n"
       "sagas:\n"
       "  - name: s1\n"
       "    steps:\n"
       "      - name: a\n"
       "        action: {call: p, path: /a, body: &b [1, {deeper: [*b]}]}\n",
       "rivulet.yaml:6:60: an alias inside the node it names"},
      {"a: &top\n  b: *top\n", "rivulet.yaml:2:6: an alias inside the node it names"},
  };
  for (const auto& [yaml, expected] : cases) {
    INFO(yaml);
    auto errors = Errors(yaml);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::StartsWith(expected));
  }
  YAML::Mark where = YAML::Mark::null_mark();
  bool cyclic = false;
  CHECK_FALSE(CountExpandedNodes("x: &d {y: *d}\n", 100, &where, &cyclic).has_value());
  CHECK(cyclic);
  CHECK(where.line == 0);
  CHECK(where.column == 10);
  // An alias after its node ends is fine.
  CHECK(CountExpandedNodes("a: &d {y: 1}\nb: {z: *d}\n", 100, &where, &cyclic) == 11u);
  CHECK_FALSE(cyclic);
  auto shared = LoadConfigString(
      "sources: [{name: api, type: http}]\n"
      "mappings: [{source: api, stream: s, data: {a: &d {x: 1}, b: *d}}]\n",
      "rivulet.yaml", "/cfg", FakeEnv({}));
  INFO(shared.status());
  CHECK(shared.ok());
}

TEST_CASE("JSON values in the config nest at most 64 levels, as JSON input does",
          "[config][limits]") {
  auto nested = [](int levels) {
    std::string value = "1";
    for (int i = 0; i < levels; ++i) value = (i % 2 ? "[" : "{k: ") + value + (i % 2 ? "]" : "}");
    return "sources: [{name: api, type: http}]\n"
           "mappings: [{source: api, stream: s, data: " +
           value + "}]\n";
  };
  auto ok = LoadConfigString(nested(64), "rivulet.yaml", "/cfg", FakeEnv({}));
  INFO(ok.status());
  CHECK(ok.ok());
  auto errors = Errors(nested(65));
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::StartsWith("rivulet.yaml:"));
  CHECK_THAT(errors[0], Catch::Contains("nested deeper than 64 levels"));
  // Past yaml-cpp's own bound (500 levels, reported as "bad file") the parser refuses
  // it first; the error still says what is wrong.
  errors = Errors(nested(1000));
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::StartsWith("rivulet.yaml:2:"));
  CHECK_THAT(errors[0], Catch::Contains("nested deeper than the parser's 500 levels"));
}
