#include "config/config_loader.h"

#include <fstream>
#include <set>
#include <sstream>

#include "config/yaml_reader.h"
#include "core/json_path.h"

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

  // The item's required `name`, checked for form and for uniqueness among `taken`.
  std::string UniqueName(const YamlReader::Map& map, std::set<std::string>& taken,
                         const char* kind) {
    const YAML::Node* node = map.Get("name");
    if (node == nullptr) {
      Required(map, "name");
      return "";
    }
    auto name = reader_.Name(*node, map.PathOf("name"));
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
          if (backend)
            store.backend = *backend == "postgres" ? StoreConfig::Backend::kPostgres
                                                   : StoreConfig::Backend::kSqlite;
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
        token.name = UniqueName(*t, names, "token");
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
      if (!reader_.Name(it->first, path)) continue;
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
                                  "snapshot", "heartbeat"});
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
    auto map = reader_.ReadMap(
        node, path, {"max_attempts", "initial_interval", "backoff", "max_interval", "jitter"});
    if (!map) return std::nullopt;
    if (auto* n = map->Get("max_attempts")) {
      if (auto v = reader_.Integer(*n, map->PathOf("max_attempts"), 1, 1000))
        policy.max_attempts = static_cast<int>(*v);
    }
    if (auto* n = map->Get("initial_interval")) {
      if (auto v = reader_.Duration(*n, map->PathOf("initial_interval")))
        policy.initial_interval = *v;
    }
    if (auto* n = map->Get("backoff")) {
      if (auto v = reader_.Number(*n, map->PathOf("backoff"), 1.0, 100.0)) policy.backoff = *v;
    }
    if (auto* n = map->Get("max_interval")) {
      if (auto v = reader_.Duration(*n, map->PathOf("max_interval"))) policy.max_interval = *v;
    }
    if (auto* n = map->Get("jitter")) {
      if (auto v = reader_.Enum(*n, map->PathOf("jitter"), {"full", "none"})) {
        policy.jitter = *v == "full" ? RetryPolicy::Jitter::kFull : RetryPolicy::Jitter::kNone;
      }
    }
    if (policy.initial_interval.count() <= 0)
      reader_.Error(node, map->PathOf("initial_interval"), "must be more than 0ms");
    if (policy.max_interval < policy.initial_interval) {
      reader_.Error(node, map->PathOf("max_interval"), "must not be shorter than initial_interval");
    }
    return policy;
  }

  std::optional<milliseconds> PositiveDuration(const YAML::Node& node, const std::string& path) {
    auto d = reader_.Duration(node, path);
    if (d && d->count() <= 0) {
      reader_.Error(node, path, "must be more than 0ms");
      return std::nullopt;
    }
    return d;
  }

  // What saga templates may read: trigger, saga, services, and steps.<name> for the
  // step names in `visible`, each only as .response or .status.
  void CheckSagaScope(const YAML::Node& node, const std::string& path,
                      const std::vector<core::JsonPath>& paths,
                      const std::set<std::string>& visible, const std::string& scope) {
    static const std::set<std::string> kRoots = {"trigger", "saga", "steps", "services"};
    for (const core::JsonPath& p : paths) {
      if (p.empty() || p[0].is_index) continue;
      const std::string& root = p[0].key;
      if (root == "env") {
        reader_.Error(
            node, path,
            "templates never see env; use ${env:NAME}, which is replaced when the config loads");
        continue;
      }
      if (!kRoots.count(root)) {
        reader_.Error(node, path,
                      "template reads \"" + core::FormatJsonPath(p) +
                          "\", but a saga only sees trigger, saga, steps and services");
        continue;
      }
      if (root == "saga" && p.size() > 1 && !p[1].is_index && p[1].key != "name" &&
          p[1].key != "id" && p[1].key != "error") {
        reader_.Error(node, path, "saga has name, id and error, not \"" + p[1].key + "\"");
      }
      if (root != "steps" || p.size() < 2) continue;
      const std::string& step = p[1].key;
      if (!visible.count(step)) {
        reader_.Error(node, path,
                      "template reads steps." + step + ", which " + scope + " cannot see" +
                          (known_steps_.count(step) ? " (only earlier steps are visible)"
                                                    : " (no such step)"));
      } else if (p.size() > 2 &&
                 (p[2].is_index || (p[2].key != "response" && p[2].key != "status"))) {
        reader_.Error(node, path,
                      "steps." + step + " has response and status, not \"" +
                          core::FormatJsonPath({p[2]}) + "\"");
      }
    }
  }

  std::optional<HttpCallConfig> LoadCall(const YAML::Node& node, const std::string& path,
                                         const std::set<std::string>& visible,
                                         const std::string& scope) {
    auto map = reader_.ReadMap(node, path, {"call", "method", "path", "body", "headers"});
    if (!map) return std::nullopt;
    Required(*map, "call");
    Required(*map, "path");
    HttpCallConfig call;
    if (auto* n = map->Get("call")) {
      if (auto service = reader_.Name(*n, map->PathOf("call"))) {
        if (!config_.services.count(*service)) {
          reader_.Error(*n, map->PathOf("call"),
                        "no service named " + *service + " under services:");
        }
        call.service = *service;
      }
    }
    if (auto* n = map->Get("method")) {
      if (auto m =
              reader_.Enum(*n, map->PathOf("method"), {"GET", "POST", "PUT", "PATCH", "DELETE"}))
        call.method = *m;
    }
    if (auto* n = map->Get("path")) {
      if (auto t = reader_.Template(*n, map->PathOf("path"))) {
        if (t->source().empty() || t->source()[0] != '/') {
          reader_.Error(*n, map->PathOf("path"), "a path starts with '/'");
        }
        CheckSagaScope(*n, map->PathOf("path"), t->ReferencedPaths(), visible, scope);
        call.path = std::move(*t);
      }
    }
    if (auto* n = map->Get("body")) {
      if (auto t = reader_.JsonTemplate(*n, map->PathOf("body"))) {
        CheckSagaScope(*n, map->PathOf("body"), t->ReferencedPaths(), visible, scope);
        call.body = std::move(*t);
      }
    }
    if (auto* n = map->Get("headers")) {
      if (auto headers = reader_.ReadOpenMap(*n, map->PathOf("headers"))) {
        for (auto it = n->begin(); it != n->end(); ++it) {
          std::string header = it->first.Scalar();
          std::string here = YamlReader::Join(map->PathOf("headers"), header);
          if (header.empty() || header.find_first_of(" :\r\n\t") != std::string::npos) {
            reader_.Error(it->first, here, "not a valid header name");
            continue;
          }
          if (auto t = reader_.Template(it->second, here)) {
            CheckSagaScope(it->second, here, t->ReferencedPaths(), visible, scope);
            call.headers.emplace(header, std::move(*t));
          }
        }
      }
    }
    return call;
  }

  std::optional<EmitConfig> LoadEmit(const YAML::Node& node, const std::string& path,
                                     const std::set<std::string>& all_steps) {
    auto outer = reader_.ReadMap(node, path, {"emit"});
    if (!outer) return std::nullopt;
    const YAML::Node* emit_node = outer->Get("emit");
    if (emit_node == nullptr) {
      reader_.Error(node, outer->PathOf("emit"), "required");
      return std::nullopt;
    }
    std::string here = outer->PathOf("emit");
    auto map = reader_.ReadMap(*emit_node, here, {"stream", "type", "data", "metadata"});
    if (!map) return std::nullopt;
    Required(*map, "stream");
    Required(*map, "type");
    EmitConfig emit;
    emit.data = core::JsonTemplate();
    bool ok = map->Has("stream") && map->Has("type");
    const std::string scope = "on_completed/on_compensated";
    if (auto* n = map->Get("stream")) {
      auto t = reader_.Template(*n, map->PathOf("stream"));
      if (t) {
        CheckSagaScope(*n, map->PathOf("stream"), t->ReferencedPaths(), all_steps, scope);
        emit.stream = std::move(*t);
      } else {
        ok = false;
      }
    }
    if (auto* n = map->Get("type")) {
      auto t = reader_.Template(*n, map->PathOf("type"));
      if (t) {
        CheckSagaScope(*n, map->PathOf("type"), t->ReferencedPaths(), all_steps, scope);
        emit.type = std::move(*t);
      } else {
        ok = false;
      }
    }
    if (auto* n = map->Get("data")) {
      if (auto t = reader_.JsonTemplate(*n, map->PathOf("data"))) {
        CheckSagaScope(*n, map->PathOf("data"), t->ReferencedPaths(), all_steps, scope);
        emit.data = std::move(*t);
      }
    } else {
      emit.data = *core::JsonTemplate::Parse(core::Json::object());
    }
    if (auto* n = map->Get("metadata")) {
      if (auto t = reader_.JsonTemplate(*n, map->PathOf("metadata"))) {
        CheckSagaScope(*n, map->PathOf("metadata"), t->ReferencedPaths(), all_steps, scope);
        emit.metadata = std::move(*t);
      }
    }
    if (!ok) return std::nullopt;
    return emit;
  }

  void LoadSagas(const YAML::Node& node) {
    auto items = reader_.ReadList(node, "sagas");
    if (!items) return;
    std::set<std::string> names;
    for (size_t i = 0; i < items->size(); ++i) {
      std::string path = YamlReader::Index("sagas", i);
      auto map = reader_.ReadMap((*items)[i], path,
                                 {"name", "trigger", "id", "timeout", "retry", "compensation_retry",
                                  "steps", "on_completed", "on_compensated"});
      if (!map) continue;
      Required(*map, "steps");
      SagaConfig saga;
      if (auto json = reader_.Json((*items)[i], path)) saga.definition = *json;
      saga.name = UniqueName(*map, names, "saga");
      if (auto* n = map->Get("trigger")) {
        if (auto trigger = reader_.ReadMap(*n, map->PathOf("trigger"), {"type", "match"})) {
          Required(*trigger, "type");
          if (auto* t = trigger->Get("type"))
            saga.trigger_type = reader_.NonEmptyString(*t, trigger->PathOf("type"));
          if (auto* m = trigger->Get("match"))
            saga.trigger_match = reader_.Filter(*m, trigger->PathOf("match"), false);
        }
        if (!map->Has("id"))
          reader_.Error(map->node(), map->PathOf("id"), "required when the saga has a trigger");
      }
      if (auto* n = map->Get("id")) {
        if (auto id = reader_.Template(*n, map->PathOf("id"))) {
          CheckRoots(*n, map->PathOf("id"), id->ReferencedPaths(), EventRoots(),
                     "a saga id (over its trigger event)");
          saga.id = std::move(*id);
        }
      }
      if (auto* n = map->Get("timeout")) {
        if (auto d = PositiveDuration(*n, map->PathOf("timeout"))) saga.timeout = *d;
      }
      if (auto* n = map->Get("retry")) {
        if (auto r = LoadRetry(*n, map->PathOf("retry"), saga.retry)) saga.retry = *r;
      }
      if (auto* n = map->Get("compensation_retry")) {
        if (auto r = LoadRetry(*n, map->PathOf("compensation_retry"), saga.compensation_retry))
          saga.compensation_retry = *r;
      }
      known_steps_.clear();
      std::vector<YAML::Node> step_nodes;
      if (auto* n = map->Get("steps")) {
        if (auto list = reader_.ReadList(*n, map->PathOf("steps"))) {
          step_nodes = *list;
          if (list->empty())
            reader_.Error(*n, map->PathOf("steps"), "a saga needs at least one step");
          for (const YAML::Node& s : *list) {
            if (s.IsMap() && s["name"] && s["name"].IsScalar())
              known_steps_.insert(s["name"].Scalar());
          }
        }
      }
      std::set<std::string> earlier;
      for (size_t k = 0; k < step_nodes.size(); ++k) {
        std::string step_path = YamlReader::Index(map->PathOf("steps"), k);
        auto step_map = reader_.ReadMap(step_nodes[k], step_path,
                                        {"name", "action", "await", "compensation", "timeout"});
        if (!step_map) continue;
        Required(*step_map, "name");
        SagaStepConfig step;
        if (auto* n = step_map->Get("name")) {
          if (auto name = reader_.Name(*n, step_map->PathOf("name"))) {
            step.name = *name;
            if (earlier.count(*name))
              reader_.Error(*n, step_map->PathOf("name"), "duplicate step name " + *name);
          }
        }
        bool has_action = step_map->Has("action"), has_await = step_map->Has("await");
        if (has_action == has_await) {
          reader_.Error(step_nodes[k], step_path, "a step has exactly one of action and await");
        }
        const std::string scope = "the action of step " + step.name;
        if (auto* n = step_map->Get("action"))
          step.action = LoadCall(*n, step_map->PathOf("action"), earlier, scope);
        if (auto* n = step_map->Get("await")) {
          if (auto await = reader_.ReadMap(*n, step_map->PathOf("await"), {"type", "match"})) {
            Required(*await, "type");
            AwaitConfig config;
            if (auto* t = await->Get("type")) {
              if (auto type = reader_.NonEmptyString(*t, await->PathOf("type")))
                config.type = *type;
            }
            if (auto* m = await->Get("match")) {
              if (auto f = reader_.Filter(*m, await->PathOf("match"), true)) {
                // Await operands are templates over the saga context.
                std::vector<core::JsonPath> paths;
                CollectFilterTemplatePaths(f->source(), paths);
                CheckSagaScope(*m, await->PathOf("match"), paths, earlier,
                               "the await of step " + step.name);
                config.match = std::move(*f);
              }
            }
            step.await = std::move(config);
          }
        }
        if (auto* n = step_map->Get("compensation")) {
          if (has_await) {
            reader_.Error(*n, step_map->PathOf("compensation"),
                          "an await step has nothing to compensate");
          } else {
            std::set<std::string> with_own = earlier;
            with_own.insert(step.name);
            step.compensation = LoadCall(*n, step_map->PathOf("compensation"), with_own,
                                         "the compensation of step " + step.name);
          }
        }
        if (auto* n = step_map->Get("timeout"))
          step.timeout = PositiveDuration(*n, step_map->PathOf("timeout"));
        earlier.insert(step.name);
        saga.steps.push_back(std::move(step));
      }
      if (auto* n = map->Get("on_completed"))
        saga.on_completed = LoadEmit(*n, map->PathOf("on_completed"), earlier);
      if (auto* n = map->Get("on_compensated"))
        saga.on_compensated = LoadEmit(*n, map->PathOf("on_compensated"), earlier);
      config_.sagas.push_back(std::move(saga));
    }
  }

  static void CollectFilterTemplatePaths(const core::Json& node, std::vector<core::JsonPath>& out) {
    if (node.is_string()) {
      const std::string& s = node.get_ref<const std::string&>();
      if (!core::Template::ContainsExpression(s)) return;
      if (auto t = core::Template::Parse(s); t.ok()) {
        for (auto& p : t->ReferencedPaths()) out.push_back(std::move(p));
      }
    } else if (node.is_structured()) {
      for (const auto& child : node) CollectFilterTemplatePaths(child, out);
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
  std::set<std::string> known_steps_;  // of the saga being loaded
};

std::string ParentDir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

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

Result<Config> LoadConfigString(std::string_view yaml, const std::string& file,
                                const std::string& base_dir, const EnvLookup& env) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    std::string where = file;
    if (!e.mark.is_null())
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    return Status::InvalidArgument(where + ": invalid YAML: " + e.msg)
        .WithReason("invalid_config", core::Json{{"errors", {where + ": invalid YAML: " + e.msg}}});
  }
  Loader loader(file, base_dir, env);
  return loader.Load(root);
}

Result<Config> LoadConfigFile(const std::string& path, const EnvLookup& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string message = path + ": cannot read the config file (" + std::strerror(errno) + ")";
    return Status::InvalidArgument(message).WithReason("invalid_config",
                                                       core::Json{{"errors", {message}}});
  }
  std::ostringstream text;
  text << in.rdbuf();
  return LoadConfigString(text.str(), path, ParentDir(path), env);
}

}  // namespace rivulet::config
