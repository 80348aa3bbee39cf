#include "config/config_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "config/yaml_reader.h"
#include "core/json.h"
#include "core/json_path.h"
#include "core/resource_name.h"

namespace rivulet::config {

namespace {

// The fields an event template may read (SPEC section 4, Templates: projections).
const std::set<std::string>& EventRoots() {
  static const std::set<std::string>* roots = new std::set<std::string>{
      "position", "stream", "version", "id", "type", "data", "metadata", "recorded_at"};
  return *roots;
}

std::string ResolvePath(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  std::string p = path;
  if (p.rfind("./", 0) == 0) p = p.substr(2);
  return base_dir + "/" + p;
}

std::string FieldListHint(const std::set<std::string>& roots) {
  std::string out;
  for (const auto& r : roots) out += (out.empty() ? "" : ", ") + r;
  return out;
}

class Loader {
 public:
  Loader(const std::string& file, const std::string& base_dir, const EnvLookup& env)
      : reader_(file, env), base_dir_(base_dir) {
    config_.file = file;
    config_.base_dir = base_dir;
  }

  Result<Config> Load(const YAML::Node& root) {
    if (root.IsNull() || !root.IsDefined()) {
      // An empty file is a valid config: every section takes its defaults.
      config_.store.path = ResolvePath(base_dir_, "./data/rivulet.db");
      return Finish();
    }
    auto top = reader_.ReadMap(root, "",
                               {"store", "server", "services", "sources", "mappings", "projections",
                                "sagas", "outbox", "runtime"});
    if (!top) return Finish();
    LoadStore(top->Get("store"));
    LoadServer(top->Get("server"));
    if (auto* n = top->Get("services")) LoadServices(*n);
    if (auto* n = top->Get("sources")) LoadSources(*n);
    if (auto* n = top->Get("mappings")) LoadMappings(*n);
    if (auto* n = top->Get("projections")) LoadProjections(*n);
    if (auto* n = top->Get("outbox")) LoadOutbox(*n);
    if (auto* n = top->Get("sagas")) LoadSagas(*n);
    if (auto* n = top->Get("runtime")) LoadRuntime(*n);
    return Finish();
  }

  YamlReader& reader() { return reader_; }

 private:
  Result<Config> Finish() {
    if (reader_.errors().empty()) return std::move(config_);
    std::string message;
    core::Json list = core::Json::array();
    for (const std::string& e : reader_.errors()) {
      message += (message.empty() ? "" : "\n") + e;
      list.push_back(e);
    }
    return Status::InvalidArgument(message).WithReason("invalid_config",
                                                       core::Json{{"errors", list}});
  }

  void Required(const YamlReader::Map& map, std::string_view key) {
    if (!map.Has(key)) reader_.Error(map.node(), map.PathOf(key), "required");
  }

  // The item's required `name`, checked for form and for uniqueness among `taken`. The
  // names of sources and destinations follow the rule of SPEC section 4 (`resource`);
  // token names only label log lines.
  std::string UniqueName(const YamlReader::Map& map, std::set<std::string>& taken, const char* kind,
                         bool resource = true) {
    const YAML::Node* node = map.Get("name");
    if (node == nullptr) {
      Required(map, "name");
      return "";
    }
    auto name = resource ? reader_.ResourceName(*node, map.PathOf("name"))
                         : reader_.Name(*node, map.PathOf("name"));
    if (!name) return "";
    if (!taken.insert(*name).second)
      reader_.Error(*node, map.PathOf("name"), std::string("duplicate ") + kind + " name " + *name);
    return *name;
  }

  // Checks that every path a template reads starts with one of `roots`.
  void CheckRoots(const YAML::Node& node, const std::string& path,
                  const std::vector<core::JsonPath>& paths, const std::set<std::string>& roots,
                  const char* what) {
    for (const core::JsonPath& p : paths) {
      if (p.empty() || p[0].is_index || roots.count(p[0].key)) continue;
      reader_.Error(node, path,
                    "template reads \"" + core::FormatJsonPath(p) + "\", but " + what +
                        " only sees " + FieldListHint(roots));
    }
  }

  void LoadStore(const YAML::Node* node) {
    StoreConfig& store = config_.store;
    std::string path = "./data/rivulet.db";
    if (node != nullptr) {
      auto map = reader_.ReadMap(*node, "store", {"backend", "path", "url"});
      if (map) {
        if (auto* n = map->Get("backend")) {
          auto backend = reader_.Enum(*n, "store.backend", {"sqlite", "postgres"});
          if (backend) {
            store.backend = *backend == "postgres" ? StoreConfig::Backend::kPostgres
                                                   : StoreConfig::Backend::kSqlite;
            std::string unavailable = UnavailableBackend(store.backend);
            if (!unavailable.empty()) reader_.Error(*n, "store.backend", unavailable);
          }
        }
        if (auto* n = map->Get("path")) {
          if (auto p = reader_.NonEmptyString(*n, "store.path")) path = *p;
        }
        if (auto* n = map->Get("url")) {
          if (auto u = reader_.NonEmptyString(*n, "store.url")) store.url = *u;
        }
        if (store.backend == StoreConfig::Backend::kPostgres && store.url.empty()) {
          reader_.Error(map->node(), "store.url", "required when store.backend is postgres");
        }
        if (store.backend == StoreConfig::Backend::kSqlite && map->Has("url")) {
          reader_.Error(*map->Get("url"), "store.url", "only used with backend: postgres");
        }
      }
    }
    store.path = ResolvePath(base_dir_, path);
  }

  void LoadServer(const YAML::Node* node) {
    if (node == nullptr) return;
    ServerConfig& server = config_.server;
    auto map = reader_.ReadMap(*node, "server", {"listen", "max_body", "tokens"});
    if (!map) return;
    if (auto* n = map->Get("listen")) {
      if (auto listen = reader_.NonEmptyString(*n, "server.listen")) ParseListen(*n, *listen);
    }
    if (auto* n = map->Get("max_body")) {
      if (auto size = reader_.Size(*n, "server.max_body")) {
        if (*size < 1024 || *size > (uint64_t{1} << 30)) {
          reader_.Error(*n, "server.max_body", "must be between 1KiB and 1GiB");
        } else {
          server.max_body = *size;
        }
      }
    }
    if (auto* n = map->Get("tokens")) {
      server.auth_required = true;
      auto items = reader_.ReadList(*n, "server.tokens");
      if (!items) return;
      std::set<std::string> names, secrets;
      for (size_t i = 0; i < items->size(); ++i) {
        std::string path = YamlReader::Index("server.tokens", i);
        auto t = reader_.ReadMap((*items)[i], path, {"name", "token", "role"});
        if (!t) continue;
        Required(*t, "token");
        Required(*t, "role");
        TokenConfig token;
        token.name = UniqueName(*t, names, "token", false);
        if (auto* v = t->Get("token")) {
          if (auto secret = reader_.NonEmptyString(*v, t->PathOf("token"))) {
            if (secret->size() < 16) {
              reader_.Error(*v, t->PathOf("token"), "a token needs at least 16 characters");
            } else if (!secrets.insert(*secret).second) {
              reader_.Error(*v, t->PathOf("token"), "the same token is declared twice");
            }
            token.token = *secret;
          }
        }
        if (auto* v = t->Get("role")) {
          if (auto role = reader_.Enum(*v, t->PathOf("role"), {"read", "write", "admin"})) {
            token.role = *role == "admin"   ? Role::kAdmin
                         : *role == "write" ? Role::kWrite
                                            : Role::kRead;
          }
        }
        server.tokens.push_back(std::move(token));
      }
    }
  }

  void ParseListen(const YAML::Node& node, const std::string& listen) {
    std::string host, port;
    if (!listen.empty() && listen[0] == '[') {
      auto close = listen.find("]:");
      if (close != std::string::npos) {
        host = listen.substr(1, close - 1);
        port = listen.substr(close + 2);
      }
    } else if (auto colon = listen.rfind(':'); colon != std::string::npos) {
      host = listen.substr(0, colon);
      port = listen.substr(colon + 1);
    }
    bool port_ok = !port.empty() && port.size() <= 5 &&
                   port.find_first_not_of("0123456789") == std::string::npos &&
                   std::stoi(port) <= 65535;
    if (host.empty() || !port_ok) {
      reader_.Error(node, "server.listen",
                    "expected host:port like 127.0.0.1:8080, got \"" + listen + "\"");
      return;
    }
    config_.server.host = host;
    config_.server.port = std::stoi(port);
  }

  void LoadServices(const YAML::Node& node) {
    auto map = reader_.ReadOpenMap(node, "services");
    if (!map) return;
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string name = it->first.Scalar();
      std::string path = YamlReader::Join("services", name);
      if (!reader_.ResourceName(it->first, path)) continue;
      auto url = reader_.NonEmptyString(it->second, path);
      if (!url) continue;
      if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) {
        reader_.Error(it->second, path,
                      "expected a base URL like http://127.0.0.1:9101, got \"" + *url + "\"");
        continue;
      }
      while (!url->empty() && url->back() == '/') url->pop_back();
      config_.services[name] = *url;
    }
  }

  void LoadSources(const YAML::Node& node) {
    auto items = reader_.ReadList(node, "sources");
    if (!items) return;
    std::set<std::string> names;
    for (size_t i = 0; i < items->size(); ++i) {
      std::string path = YamlReader::Index("sources", i);
      auto map = reader_.ReadMap((*items)[i], path,
                                 {"name", "type", "path", "url", "publication", "slot", "tables",
                                  "snapshot", "heartbeat", "on_error"});
      if (!map) continue;
      Required(*map, "type");
      SourceConfig source;
      source.name = UniqueName(*map, names, "source");
      std::string type;
      if (auto* n = map->Get("type")) {
        if (auto t = reader_.Enum(*n, map->PathOf("type"), {"http", "jsonl", "postgres"}))
          type = *t;
      }
      auto only_for = [&](std::string_view key, const char* types) {
        if (auto* n = map->Get(key)) {
          reader_.Error(*n, map->PathOf(key), std::string("only used by ") + types + " sources");
          return false;
        }
        return true;
      };
      if (auto* n = map->Get("on_error")) {
        if (auto e = reader_.Enum(*n, map->PathOf("on_error"), {"stop", "dead_letter"})) {
          source.on_error =
              *e == "dead_letter" ? eventstore::OnError::kDeadLetter : eventstore::OnError::kStop;
        }
      }
      if (type == "http") {
        source.type = SourceConfig::Type::kHttp;
        for (auto key : {"path", "url", "publication", "slot", "tables", "snapshot", "heartbeat"}) {
          only_for(key, std::string_view(key) == "path" ? "jsonl" : "postgres");
        }
      } else if (type == "jsonl") {
        source.type = SourceConfig::Type::kJsonl;
        Required(*map, "path");
        if (auto* n = map->Get("path")) {
          if (auto p = reader_.NonEmptyString(*n, map->PathOf("path")))
            source.path = ResolvePath(base_dir_, *p);
        }
        for (auto key : {"url", "publication", "slot", "tables", "snapshot", "heartbeat"})
          only_for(key, "postgres");
      } else if (type == "postgres") {
        source.type = SourceConfig::Type::kPostgres;
        only_for("path", "jsonl");
        for (auto key : {"url", "publication", "slot", "tables"}) Required(*map, key);
        if (auto* n = map->Get("url")) {
          if (auto u = reader_.NonEmptyString(*n, map->PathOf("url"))) {
            if (u->rfind("postgresql://", 0) != 0 && u->rfind("postgres://", 0) != 0) {
              reader_.Error(*n, map->PathOf("url"),
                            "expected a URL like postgresql://user@host:5432/db");
            }
            source.url = *u;
          }
        }
        for (auto key : {"publication", "slot"}) {
          if (auto* n = map->Get(key)) {
            auto v = reader_.NonEmptyString(*n, map->PathOf(key));
            if (!v) continue;
            bool ok = v->size() <= 63;
            for (char c : *v)
              ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
            if (!ok) {
              reader_.Error(*n, map->PathOf(key),
                            "expected lower-case letters, digits and '_' (at most 63)");
            }
            (std::string_view(key) == "slot" ? source.slot : source.publication) = *v;
          }
        }
        if (auto* n = map->Get("tables")) {
          if (auto tables = reader_.StringList(*n, map->PathOf("tables"))) {
            if (tables->empty())
              reader_.Error(*n, map->PathOf("tables"), "list at least one table");
            source.tables = *tables;
          }
        }
        if (auto* n = map->Get("snapshot")) {
          if (auto s = reader_.Enum(*n, map->PathOf("snapshot"), {"initial", "never"}))
            source.snapshot_initial = *s == "initial";
        }
        if (auto* n = map->Get("heartbeat")) {
          if (auto d = reader_.Duration(*n, map->PathOf("heartbeat"))) source.heartbeat = *d;
        }
      }
      config_.sources.push_back(std::move(source));
    }
  }

  bool SourceDeclared(const std::string& name) const {
    for (const auto& s : config_.sources) {
      if (s.name == name) return true;
    }
    return false;
  }

  void LoadMappings(const YAML::Node& node) {
    auto items = reader_.ReadList(node, "mappings");
    if (!items) return;
    for (size_t i = 0; i < items->size(); ++i) {
      std::string path = YamlReader::Index("mappings", i);
      auto map = reader_.ReadMap((*items)[i], path,
                                 {"source", "match", "stream", "type", "data", "metadata"});
      if (!map) continue;
      MappingConfig mapping;
      if (auto* n = map->Get("source")) {
        if (auto s = reader_.Name(*n, map->PathOf("source"))) {
          if (!SourceDeclared(*s))
            reader_.Error(*n, map->PathOf("source"), "no source named " + *s + " is declared");
          mapping.source = *s;
        }
      }
      if (auto* n = map->Get("match")) {
        if (auto f = reader_.Filter(*n, map->PathOf("match"), false)) mapping.match = std::move(*f);
      }
      if (auto* n = map->Get("stream"))
        mapping.stream = reader_.Template(*n, map->PathOf("stream"));
      if (auto* n = map->Get("type")) mapping.type = reader_.Template(*n, map->PathOf("type"));
      if (auto* n = map->Get("data")) mapping.data = reader_.JsonTemplate(*n, map->PathOf("data"));
      if (auto* n = map->Get("metadata"))
        mapping.metadata = reader_.JsonTemplate(*n, map->PathOf("metadata"));
      config_.mappings.push_back(std::move(mapping));
    }
  }

  void LoadProjections(const YAML::Node& node) {
    auto items = reader_.ReadList(node, "projections");
    if (!items) return;
    std::set<std::string> names;
    for (size_t i = 0; i < items->size(); ++i) {
      std::string path = YamlReader::Index("projections", i);
      auto json = reader_.Json((*items)[i], path);
      if (!json) continue;
      core::JsonReader compile_errors;
      ProjectionConfig projection = projections::CompileProjection(*json, path, compile_errors);
      // Compile errors carry key paths; the reader knows where each key is written.
      for (const auto& e : compile_errors.errors()) reader_.Error((*items)[i], e.path, e.message);
      if (!projection.name.empty() && !names.insert(projection.name).second) {
        reader_.Error((*items)[i], YamlReader::Join(path, "name"),
                      "duplicate projection name " + projection.name);
      }
      config_.projections.push_back(std::move(projection));
    }
  }

  std::optional<RetryPolicy> LoadRetry(const YAML::Node& node, const std::string& path,
                                       RetryPolicy policy) {
    auto json = reader_.Json(node, path);
    if (!json) return std::nullopt;
    core::JsonReader errors;
    auto read = core::ReadRetryPolicy(errors, *json, path, policy);
    for (const auto& e : errors.errors()) reader_.Error(node, e.path, e.message);
    return read;
  }

  std::optional<milliseconds> PositiveDuration(const YAML::Node& node, const std::string& path) {
    auto d = reader_.Duration(node, path);
    if (d && d->count() <= 0) {
      reader_.Error(node, path, "must be more than 0ms");
      return std::nullopt;
    }
    return d;
  }

  void LoadSagas(const YAML::Node& node) {
    auto items = reader_.ReadList(node, "sagas");
    if (!items) return;
    std::set<std::string> services;
    for (const auto& [name, url] : config_.services) services.insert(name);
    std::set<std::string> names;
    for (size_t i = 0; i < items->size(); ++i) {
      std::string path = YamlReader::Index("sagas", i);
      auto json = reader_.Json((*items)[i], path);
      if (!json) continue;
      core::JsonReader compile_errors;
      SagaConfig saga = sagas::CompileSaga(*json, path, compile_errors, &services);
      for (const auto& e : compile_errors.errors()) reader_.Error((*items)[i], e.path, e.message);
      // The stricter rule of SPEC section 4 applies to declared sagas; CompileSaga keeps
      // accepting the names that frozen copies of older instances carry.
      if (!saga.name.empty() && !core::IsResourceName(saga.name)) {
        reader_.Error((*items)[i], YamlReader::Join(path, "name"),
                      core::ResourceNameError(saga.name));
      } else if (!saga.name.empty() && !names.insert(saga.name).second) {
        reader_.Error((*items)[i], YamlReader::Join(path, "name"),
                      "duplicate saga name " + saga.name);
      }
      config_.sagas.push_back(std::move(saga));
    }
  }

  void LoadOutbox(const YAML::Node& node) {
    auto map = reader_.ReadMap(node, "outbox", {"destinations", "publish", "retry", "retention"});
    if (!map) return;
    OutboxConfig& outbox = config_.outbox;
    std::set<std::string> names;
    if (auto* n = map->Get("destinations")) {
      if (auto items = reader_.ReadList(*n, "outbox.destinations")) {
        for (size_t i = 0; i < items->size(); ++i) {
          std::string path = YamlReader::Index("outbox.destinations", i);
          auto d = reader_.ReadMap(
              (*items)[i], path,
              {"name", "type", "url", "stream", "subject", "secret", "path", "timeout"});
          if (!d) continue;
          Required(*d, "type");
          DestinationConfig dest;
          dest.name = UniqueName(*d, names, "destination");
          std::string type;
          if (auto* v = d->Get("type")) {
            if (auto t = reader_.Enum(*v, d->PathOf("type"), {"nats", "http", "jsonl"})) type = *t;
          }
          auto allowed = [&](std::initializer_list<std::string_view> keys) {
            for (const char* key : {"url", "stream", "subject", "secret", "path"}) {
              bool ok = false;
              for (std::string_view k : keys) ok = ok || k == key;
              if (!ok && d->Has(key))
                reader_.Error(*d->Get(key), d->PathOf(key),
                              "not used by " + type + " destinations");
            }
          };
          if (type == "nats") {
            dest.type = DestinationConfig::Type::kNats;
            allowed({"url", "stream", "subject"});
            Required(*d, "url");
            Required(*d, "stream");
            Required(*d, "subject");
            if (auto* v = d->Get("url")) {
              if (auto url = reader_.NonEmptyString(*v, d->PathOf("url"))) {
                if (url->rfind("nats://", 0) != 0)
                  reader_.Error(*v, d->PathOf("url"), "expected a URL like nats://127.0.0.1:4222");
                dest.url = *url;
              }
            }
            if (auto* v = d->Get("stream")) {
              if (auto s = reader_.Name(*v, d->PathOf("stream"))) dest.stream = *s;
            }
            if (auto* v = d->Get("subject")) {
              if (auto t = reader_.Template(*v, d->PathOf("subject"))) {
                CheckRoots(*v, d->PathOf("subject"), t->ReferencedPaths(), EventRoots(),
                           "a subject");
                dest.subject = std::move(*t);
              }
            }
          } else if (type == "http") {
            dest.type = DestinationConfig::Type::kHttp;
            allowed({"url", "secret"});
            Required(*d, "url");
            if (auto* v = d->Get("url")) {
              if (auto url = reader_.NonEmptyString(*v, d->PathOf("url"))) {
                if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) {
                  reader_.Error(*v, d->PathOf("url"),
                                "expected a URL like http://127.0.0.1:9200/hooks");
                }
                dest.url = *url;
              }
            }
            if (auto* v = d->Get("secret")) {
              if (auto s = reader_.NonEmptyString(*v, d->PathOf("secret"))) dest.secret = *s;
            }
          } else if (type == "jsonl") {
            dest.type = DestinationConfig::Type::kJsonl;
            allowed({"path"});
            Required(*d, "path");
            if (auto* v = d->Get("path")) {
              if (auto p = reader_.NonEmptyString(*v, d->PathOf("path")))
                dest.path = ResolvePath(base_dir_, *p);
            }
          }
          if (auto* v = d->Get("timeout")) {
            if (auto t = PositiveDuration(*v, d->PathOf("timeout"))) dest.timeout = *t;
          }
          outbox.destinations.push_back(std::move(dest));
        }
      }
    }
    if (auto* n = map->Get("publish")) {
      if (auto items = reader_.ReadList(*n, "outbox.publish")) {
        for (size_t i = 0; i < items->size(); ++i) {
          std::string path = YamlReader::Index("outbox.publish", i);
          auto p = reader_.ReadMap((*items)[i], path, {"match", "to"});
          if (!p) continue;
          Required(*p, "match");
          Required(*p, "to");
          PublishRule rule;
          if (auto* v = p->Get("match")) {
            if (auto f = reader_.Filter(*v, p->PathOf("match"), false)) rule.match = std::move(*f);
          }
          if (auto* v = p->Get("to")) {
            if (auto to = reader_.StringList(*v, p->PathOf("to"))) {
              if (to->empty()) reader_.Error(*v, p->PathOf("to"), "name at least one destination");
              for (const std::string& dest : *to) {
                if (!names.count(dest))
                  reader_.Error(*v, p->PathOf("to"), "no destination named " + dest);
              }
              rule.to = *to;
            }
          }
          outbox.publish.push_back(std::move(rule));
        }
      }
    }
    if (auto* n = map->Get("retry")) {
      if (auto r = LoadRetry(*n, "outbox.retry", outbox.retry)) outbox.retry = *r;
    }
    if (auto* n = map->Get("retention")) {
      if (auto d = PositiveDuration(*n, "outbox.retention")) outbox.retention = *d;
    }
  }

  void LoadRuntime(const YAML::Node& node) {
    auto map = reader_.ReadMap(node, "runtime", {"saga_workers", "http_threads"});
    if (!map) return;
    if (auto* n = map->Get("saga_workers")) {
      if (auto v = reader_.Integer(*n, "runtime.saga_workers", 1, 4096))
        config_.runtime.saga_workers = static_cast<int>(*v);
    }
    if (auto* n = map->Get("http_threads")) {
      if (auto v = reader_.Integer(*n, "runtime.http_threads", 1, 1024))
        config_.runtime.http_threads = static_cast<int>(*v);
    }
  }

  YamlReader reader_;
  std::string base_dir_;
  Config config_;
};

std::string ParentDir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::string UnavailableBackend(StoreConfig::Backend backend) {
  if (backend == StoreConfig::Backend::kPostgres)
    return "postgres is not available in this build yet; use backend: sqlite";
  return "";
}

const char* RoleName(Role role) {
  switch (role) {
    case Role::kRead:
      return "read";
    case Role::kWrite:
      return "write";
    case Role::kAdmin:
      return "admin";
  }
  return "read";
}

namespace {

// Bounds on what the loader reads, so that no input makes it take minutes or gigabytes:
// a config is a few kilobytes and a few hundred nodes.
constexpr uint64_t kMaxConfigBytes = uint64_t{4} << 20;
constexpr uint64_t kMaxConfigNodes = 100'000;

Status ConfigError(const std::string& message) {
  return Status::InvalidArgument(message).WithReason("invalid_config",
                                                     core::Json{{"errors", {message}}});
}

std::string At(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null()) return file;
  return file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

}  // namespace

Result<Config> LoadConfigString(std::string_view yaml, const std::string& file,
                                const std::string& base_dir, const EnvLookup& env) {
  if (yaml.size() > kMaxConfigBytes) {
    return ConfigError(file + ": the config is " + std::to_string(yaml.size()) +
                       " bytes; the limit is 4MiB");
  }
  YAML::Mark over = YAML::Mark::null_mark();
  bool cyclic = false;
  if (!CountExpandedNodes(yaml, kMaxConfigNodes, &over, &cyclic)) {
    if (cyclic) {
      return ConfigError(At(file, over) +
                         ": an alias inside the node it names (that node would contain "
                         "itself); anchor a node and name it after it ends");
    }
    return ConfigError(At(file, over) + ": the config passes " + std::to_string(kMaxConfigNodes) +
                       " nodes here, counting each alias as the nodes it repeats; a config is "
                       "far smaller (do aliases repeat aliases?)");
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    // yaml-cpp 0.7 stops past 500 levels of nesting with the message of an unreadable
    // file; the text was read, so that is what it means here.
    if (e.msg == "bad file") {
      return ConfigError(At(file, e.mark) + ": invalid YAML: nested deeper than the parser's " +
                         "500 levels (a value nests at most " +
                         std::to_string(core::kMaxJsonDepth) + ")");
    }
    return ConfigError(At(file, e.mark) + ": invalid YAML: " + e.msg);
  }
  Loader loader(file, base_dir, env);
  return loader.Load(root);
}

Result<Config> LoadConfigFile(const std::string& path, const EnvLookup& env) {
  // Non-blocking, so that a FIFO without a writer is refused instead of waited on.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return ConfigError(path + ": cannot read the config file (" + std::strerror(errno) + ")");
  struct stat st {};
  const char* kind = nullptr;
  if (::fstat(fd, &st) != 0) {
    kind = "something that cannot be examined";
  } else if (S_ISDIR(st.st_mode)) {
    kind = "a directory";
  } else if (S_ISFIFO(st.st_mode)) {
    kind = "a pipe";
  } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
    kind = "a device";
  } else if (S_ISSOCK(st.st_mode)) {
    kind = "a socket";
  } else if (!S_ISREG(st.st_mode)) {
    kind = "not a regular file";
  }
  if (kind != nullptr) {
    ::close(fd);
    return ConfigError(path + ": cannot read the config file: it is " + kind +
                       ", not a regular file");
  }
  // Reads one byte past the limit, so a file that grew since fstat is still refused.
  std::string text;
  text.resize(static_cast<size_t>(
      std::min<uint64_t>(static_cast<uint64_t>(std::max<off_t>(st.st_size, 0)), kMaxConfigBytes) +
      1));
  size_t filled = 0;
  while (true) {
    if (filled == text.size()) {
      if (text.size() > kMaxConfigBytes) break;
      text.resize(std::min<size_t>(text.size() * 2, kMaxConfigBytes + 1));
    }
    ssize_t n = ::read(fd, text.data() + filled, text.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string error = std::strerror(errno);
      ::close(fd);
      return ConfigError(path + ": cannot read the config file (" + error + ")");
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(filled);
  if (text.size() > kMaxConfigBytes) {
    return ConfigError(path + ": the config file is larger than 4MiB; a config is far smaller");
  }
  return LoadConfigString(text, path, ParentDir(path), env);
}

}  // namespace rivulet::config
