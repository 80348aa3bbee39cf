#include "config/config_loader.h"

#include <catch2/catch.hpp>
#include <map>
#include <random>

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
       "sources[0].name: expected a name of 1-64 letters"},
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
