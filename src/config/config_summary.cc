#include "config/config_summary.h"

#include "core/byte_size.h"
#include "core/duration.h"

namespace rivulet::config {

namespace {
const char* SourceTypeName(SourceConfig::Type type) {
  switch (type) {
    case SourceConfig::Type::kHttp:
      return "http";
    case SourceConfig::Type::kJsonl:
      return "jsonl";
    case SourceConfig::Type::kPostgres:
      return "postgres";
  }
  return "";
}

const char* DestinationTypeName(DestinationConfig::Type type) {
  switch (type) {
    case DestinationConfig::Type::kNats:
      return "nats";
    case DestinationConfig::Type::kHttp:
      return "http";
    case DestinationConfig::Type::kJsonl:
      return "jsonl";
  }
  return "";
}

std::string Listen(const ServerConfig& server) {
  bool v6 = server.host.find(':') != std::string::npos;
  return (v6 ? "[" + server.host + "]" : server.host) + ":" + std::to_string(server.port);
}
}  // namespace

core::Json SummarizeConfig(const Config& config) {
  core::Json j;
  j["file"] = config.file;
  bool sqlite = config.store.backend == StoreConfig::Backend::kSqlite;
  j["store"] = {{"backend", sqlite ? "sqlite" : "postgres"}};
  if (sqlite) j["store"]["path"] = config.store.path;
  j["server"] = {{"listen", Listen(config.server)},
                 {"max_body", config.server.max_body},
                 {"auth", config.server.auth_required}};
  core::Json tokens = core::Json::array();
  for (const auto& t : config.server.tokens)
    tokens.push_back({{"name", t.name}, {"role", RoleName(t.role)}});
  j["server"]["tokens"] = tokens;
  j["services"] = core::Json::object();
  for (const auto& [name, url] : config.services) j["services"][name] = url;
  j["sources"] = core::Json::array();
  for (const auto& s : config.sources)
    j["sources"].push_back({{"name", s.name}, {"type", SourceTypeName(s.type)}});
  j["mappings"] = config.mappings.size();
  j["projections"] = core::Json::array();
  for (const auto& p : config.projections) {
    core::Json types = core::Json::array();
    for (const auto& [type, handler] : p.on) types.push_back(type);
    j["projections"].push_back({{"name", p.name}, {"handles", types}, {"indexes", p.indexes}});
  }
  j["sagas"] = core::Json::array();
  for (const auto& s : config.sagas) {
    core::Json steps = core::Json::array();
    for (const auto& step : s.steps) steps.push_back(step.name);
    j["sagas"].push_back({{"name", s.name},
                          {"trigger", s.trigger_type ? core::Json(*s.trigger_type) : core::Json()},
                          {"timeout", core::FormatDuration(s.timeout)},
                          {"steps", steps}});
  }
  j["outbox"] = {{"destinations", core::Json::array()},
                 {"publish_rules", config.outbox.publish.size()},
                 {"retention", core::FormatDuration(config.outbox.retention)}};
  for (const auto& d : config.outbox.destinations) {
    j["outbox"]["destinations"].push_back(
        {{"name", d.name}, {"type", DestinationTypeName(d.type)}});
  }
  j["runtime"] = {{"saga_workers", config.runtime.saga_workers},
                  {"http_threads", config.runtime.http_threads}};
  return j;
}

std::string DescribeConfig(const Config& config) {
  std::string out = config.file + " is valid:\n";
  bool sqlite = config.store.backend == StoreConfig::Backend::kSqlite;
  out +=
      "  store        " + std::string(sqlite ? "sqlite " + config.store.path : "postgres") + "\n";
  out += "  server       " + Listen(config.server) + ", bodies up to " +
         core::FormatByteSize(config.server.max_body) +
         (config.server.auth_required
              ? ", " + std::to_string(config.server.tokens.size()) + " token(s)"
              : ", no auth") +
         "\n";
  auto names = [](const auto& items) {
    std::string s;
    for (const auto& item : items) s += (s.empty() ? "" : ", ") + item.name;
    return s.empty() ? std::string("none") : s;
  };
  std::string services;
  for (const auto& [name, url] : config.services) services += (services.empty() ? "" : ", ") + name;
  out += "  services     " + (services.empty() ? std::string("none") : services) + "\n";
  out += "  sources      " + names(config.sources) + "\n";
  out += "  mappings     " + std::to_string(config.mappings.size()) + "\n";
  out += "  projections  " + names(config.projections) + "\n";
  out += "  sagas        " + names(config.sagas) + "\n";
  out += "  destinations " + names(config.outbox.destinations) + "\n";
  return out;
}

}  // namespace rivulet::config
