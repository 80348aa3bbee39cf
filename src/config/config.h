#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/filter.h"
#include "core/json.h"
#include "core/retry_policy.h"
#include "core/template.h"
#include "eventstore/dead_letters.h"
#include "outbox/outbox_config.h"
#include "projections/projection_definition.h"
#include "sagas/saga_definition.h"

namespace rivulet::config {

// The typed form of rivulet.yaml (SPEC section 4). The loader fills and validates every
// section; modules only add behaviour. Templates and filters arrive compiled.
// Each section keeps `definition`, its config as JSON, so modules can hash and freeze it.

using std::chrono::milliseconds;

struct StoreConfig {
  enum class Backend { kSqlite, kPostgres };
  Backend backend = Backend::kSqlite;
  std::string path;  // sqlite; relative paths are resolved against the config file's folder
  std::string url;   // postgres
};

// Why this build cannot open `backend`, or "" when it can. The loader reports it as a
// config error at store.backend, so `check`, `serve` and every other command refuse such
// a config alike; runtime::OpenStore refuses it too, for configs built in code.
std::string UnavailableBackend(StoreConfig::Backend backend);

enum class Role { kRead = 1, kWrite = 2, kAdmin = 3 };  // read < write < admin
const char* RoleName(Role role);

struct TokenConfig {
  std::string name;
  std::string token;
  Role role = Role::kRead;
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0 picks a free port
  uint64_t max_body = 4 * 1024 * 1024;
  // When `tokens:` is present, every request but /v1/health needs a bearer token.
  bool auth_required = false;
  std::vector<TokenConfig> tokens;
};

struct SourceConfig {
  enum class Type { kHttp, kJsonl, kPostgres };
  std::string name;
  Type type = Type::kHttp;
  std::string path;  // jsonl, resolved like store.path
  // postgres
  std::string url;
  std::string publication;
  std::string slot;
  std::vector<std::string> tables;
  bool snapshot_initial = true;  // snapshot: initial | never
  milliseconds heartbeat{10'000};
  // A change that cannot be mapped or appended: stop there, or park it and go on.
  eventstore::OnError on_error = eventstore::OnError::kStop;
};

struct MappingConfig {
  std::string source;  // empty: any source
  core::Filter match;
  std::optional<core::Template> stream;
  std::optional<core::Template> type;
  std::optional<core::JsonTemplate> data;
  std::optional<core::JsonTemplate> metadata;
};

// Compiled by the projections module from the item's JSON form.
using ProjectionConfig = projections::ProjectionDefinition;

using RetryPolicy = core::RetryPolicy;

// Compiled by the sagas module from the item's JSON form.
using SagaConfig = sagas::SagaDefinition;

// Compiled into the outbox module's types (the relay runs on them).
using DestinationConfig = outbox::Destination;
using PublishRule = outbox::PublishRule;
using OutboxConfig = outbox::OutboxSettings;

struct RuntimeConfig {
  int saga_workers = 64;
  int http_threads = 16;
};

struct Config {
  std::string file;      // as given on the command line
  std::string base_dir;  // the config file's folder, for relative paths
  StoreConfig store;
  ServerConfig server;
  std::map<std::string, std::string> services;  // name -> base URL
  std::vector<SourceConfig> sources;
  std::vector<MappingConfig> mappings;
  std::vector<ProjectionConfig> projections;
  std::vector<SagaConfig> sagas;
  OutboxConfig outbox;
  RuntimeConfig runtime;
};

}  // namespace rivulet::config
