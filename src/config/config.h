#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/filter.h"
#include "core/json.h"
#include "core/template.h"
#include "projections/projection_definition.h"

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

struct RetryPolicy {
  enum class Jitter { kNone, kFull };
  int max_attempts = 3;
  milliseconds initial_interval{1000};
  double backoff = 2.0;
  milliseconds max_interval{30'000};
  Jitter jitter = Jitter::kFull;
};

struct HttpCallConfig {
  std::string service;  // a key of `services:`
  std::string method = "POST";
  core::Template path;
  std::optional<core::JsonTemplate> body;
  std::map<std::string, core::Template> headers;
};

struct AwaitConfig {
  std::string type;
  core::Filter match;  // operands may be templates over the saga context
};

struct SagaStepConfig {
  std::string name;
  std::optional<HttpCallConfig> action;  // exactly one of action and await
  std::optional<AwaitConfig> await;
  std::optional<HttpCallConfig> compensation;
  std::optional<milliseconds> timeout;  // per attempt (action) or for the wait (await)
};

struct EmitConfig {
  core::Template stream;
  core::Template type;
  core::JsonTemplate data;
  std::optional<core::JsonTemplate> metadata;
};

struct SagaConfig {
  std::string name;
  std::optional<std::string> trigger_type;  // no trigger: started by hand only
  std::optional<core::Filter> trigger_match;
  core::Template id;
  milliseconds timeout{5 * 60'000};
  RetryPolicy retry;
  RetryPolicy compensation_retry{10, milliseconds(1000), 2.0, milliseconds(60'000),
                                 RetryPolicy::Jitter::kFull};
  std::vector<SagaStepConfig> steps;
  std::optional<EmitConfig> on_completed;
  std::optional<EmitConfig> on_compensated;
  core::Json definition;
};

struct DestinationConfig {
  enum class Type { kNats, kHttp, kJsonl };
  std::string name;
  Type type = Type::kHttp;
  std::string url;                        // nats, http
  std::string stream;                     // nats JetStream stream
  std::optional<core::Template> subject;  // nats
  std::string secret;                     // http HMAC key
  std::string path;                       // jsonl, resolved like store.path
  milliseconds timeout{10'000};           // per delivery attempt
};

struct PublishRule {
  core::Filter match;
  std::vector<std::string> to;  // destination names
};

struct OutboxConfig {
  std::vector<DestinationConfig> destinations;
  std::vector<PublishRule> publish;
  RetryPolicy retry{10, milliseconds(500), 2.0, milliseconds(60'000), RetryPolicy::Jitter::kFull};
  milliseconds retention{7LL * 24 * 3600 * 1000};
};

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
