#include "sagas/saga_definition.h"

#include "core/digest.h"

namespace rivulet::sagas {

namespace {

using core::Json;
using core::JsonReader;

const std::set<std::string>& EventRoots() {
  static const std::set<std::string>* roots = new std::set<std::string>{
      "data", "id", "metadata", "position", "recorded_at", "stream", "type", "version"};
  return *roots;
}

void CollectFilterTemplatePaths(const Json& node, std::vector<core::JsonPath>& out) {
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

class Compiler {
 public:
  Compiler(JsonReader& reader, const std::set<std::string>* services)
      : reader_(reader), services_(services) {}

  SagaDefinition Compile(const Json& json, const std::string& path) {
    SagaDefinition saga;
    saga.definition = json;
    saga.hash = core::Sha256Hex(core::DumpJson(json));
    const Json* object =
        reader_.Object(json, path,
                       {"name", "trigger", "id", "timeout", "retry", "compensation_retry", "steps",
                        "on_completed", "on_compensated"});
    if (object == nullptr) return saga;
    auto at = [&](std::string_view key) { return JsonReader::Join(path, key); };
    if (const Json* v = reader_.Member(*object, path, "name", true)) {
      if (auto name = reader_.Name(*v, at("name"))) saga.name = *name;
    }
    if (const Json* v = reader_.Member(*object, path, "trigger")) {
      if (const Json* trigger = reader_.Object(*v, at("trigger"), {"type", "match"})) {
        const std::string tpath = at("trigger");
        if (const Json* t = reader_.Member(*trigger, tpath, "type", true))
          saga.trigger_type = reader_.NonEmptyString(*t, JsonReader::Join(tpath, "type"));
        if (const Json* m = reader_.Member(*trigger, tpath, "match"))
          saga.trigger_match = reader_.FilterValue(*m, JsonReader::Join(tpath, "match"), false);
      }
      if (object->find("id") == object->end())
        reader_.AddError(at("id"), "required when the saga has a trigger");
    }
    if (const Json* v = reader_.Member(*object, path, "id")) {
      if (auto id = reader_.TemplateString(*v, at("id"))) {
        for (const core::JsonPath& p : id->ReferencedPaths()) {
          if (p.empty() || p[0].is_index || EventRoots().count(p[0].key)) continue;
          reader_.AddError(at("id"), "template reads \"" + core::FormatJsonPath(p) +
                                         "\", but a saga id (over its trigger event) only sees "
                                         "data, id, metadata, position, recorded_at, stream, "
                                         "type, version");
        }
        saga.id = std::move(*id);
      }
    }
    if (const Json* v = reader_.Member(*object, path, "timeout")) {
      if (auto d = PositiveDuration(*v, at("timeout"))) saga.timeout = *d;
    }
    if (const Json* v = reader_.Member(*object, path, "retry")) {
      if (auto r = core::ReadRetryPolicy(reader_, *v, at("retry"), saga.retry)) saga.retry = *r;
    }
    if (const Json* v = reader_.Member(*object, path, "compensation_retry")) {
      if (auto r =
              core::ReadRetryPolicy(reader_, *v, at("compensation_retry"), saga.compensation_retry))
        saga.compensation_retry = *r;
    }

    std::set<std::string> earlier;
    if (const Json* v = reader_.Member(*object, path, "steps", true)) {
      if (const Json* list = reader_.Array(*v, at("steps"))) {
        if (list->empty()) reader_.AddError(at("steps"), "a saga needs at least one step");
        for (const Json& s : *list) {
          if (s.is_object() && s.contains("name") && s["name"].is_string())
            known_steps_.insert(s["name"].get<std::string>());
        }
        for (size_t k = 0; k < list->size(); ++k) {
          auto step = CompileStep((*list)[k], JsonReader::Index(at("steps"), k), earlier);
          earlier.insert(step.name);
          saga.steps.push_back(std::move(step));
        }
      }
    }
    if (const Json* v = reader_.Member(*object, path, "on_completed"))
      saga.on_completed = CompileEmit(*v, at("on_completed"), earlier);
    if (const Json* v = reader_.Member(*object, path, "on_compensated"))
      saga.on_compensated = CompileEmit(*v, at("on_compensated"), earlier);
    return saga;
  }

 private:
  std::optional<milliseconds> PositiveDuration(const Json& value, const std::string& path) {
    auto d = reader_.Duration(value, path);
    if (d && d->count() <= 0) {
      reader_.AddError(path, "must be more than 0ms");
      return std::nullopt;
    }
    return d;
  }

  // What saga templates may read: trigger, saga, services, and steps.<name> for the
  // step names in `visible`, each only as .response or .status.
  void CheckScope(const std::string& path, const std::vector<core::JsonPath>& paths,
                  const std::set<std::string>& visible, const std::string& scope) {
    static const std::set<std::string> kRoots = {"trigger", "saga", "steps", "services"};
    for (const core::JsonPath& p : paths) {
      if (p.empty() || p[0].is_index) continue;
      const std::string& root = p[0].key;
      if (root == "env") {
        reader_.AddError(
            path,
            "templates never see env; use ${env:NAME}, which is replaced when the config loads");
        continue;
      }
      if (!kRoots.count(root)) {
        reader_.AddError(path, "template reads \"" + core::FormatJsonPath(p) +
                                   "\", but a saga only sees trigger, saga, steps and services");
        continue;
      }
      if (root == "saga" && p.size() > 1 && !p[1].is_index && p[1].key != "name" &&
          p[1].key != "id" && p[1].key != "error") {
        reader_.AddError(path, "saga has name, id and error, not \"" + p[1].key + "\"");
      }
      if (root != "steps" || p.size() < 2) continue;
      const std::string& step = p[1].key;
      if (!visible.count(step)) {
        reader_.AddError(path, "template reads steps." + step + ", which " + scope + " cannot see" +
                                   (known_steps_.count(step) ? " (only earlier steps are visible)"
                                                             : " (no such step)"));
      } else if (p.size() > 2 &&
                 (p[2].is_index || (p[2].key != "response" && p[2].key != "status"))) {
        reader_.AddError(path, "steps." + step + " has response and status, not \"" +
                                   core::FormatJsonPath({p[2]}) + "\"");
      }
    }
  }

  std::optional<HttpCall> CompileCall(const Json& value, const std::string& path,
                                      const std::set<std::string>& visible,
                                      const std::string& scope) {
    const Json* object = reader_.Object(value, path, {"call", "method", "path", "body", "headers"});
    if (object == nullptr) return std::nullopt;
    auto at = [&](std::string_view key) { return JsonReader::Join(path, key); };
    HttpCall call;
    if (const Json* v = reader_.Member(*object, path, "call", true)) {
      if (auto service = reader_.Name(*v, at("call"))) {
        if (services_ != nullptr && !services_->count(*service))
          reader_.AddError(at("call"), "no service named " + *service + " under services:");
        call.service = *service;
      }
    }
    if (const Json* v = reader_.Member(*object, path, "method")) {
      if (auto m = reader_.Enum(*v, at("method"), {"GET", "POST", "PUT", "PATCH", "DELETE"}))
        call.method = *m;
    }
    if (const Json* v = reader_.Member(*object, path, "path", true)) {
      if (auto t = reader_.TemplateString(*v, at("path"))) {
        if (t->source().empty() || t->source()[0] != '/')
          reader_.AddError(at("path"), "a path starts with '/'");
        CheckScope(at("path"), t->ReferencedPaths(), visible, scope);
        call.path = std::move(*t);
      }
    }
    if (const Json* v = reader_.Member(*object, path, "body")) {
      if (auto t = reader_.JsonTemplateValue(*v, at("body"))) {
        CheckScope(at("body"), t->ReferencedPaths(), visible, scope);
        call.body = std::move(*t);
      }
    }
    if (const Json* v = reader_.Member(*object, path, "headers")) {
      if (const Json* headers = reader_.OpenObject(*v, at("headers"))) {
        for (auto it = headers->begin(); it != headers->end(); ++it) {
          const std::string here = JsonReader::Join(at("headers"), it.key());
          if (it.key().empty() || it.key().find_first_of(" :\r\n\t") != std::string::npos) {
            reader_.AddError(here, "not a valid header name");
            continue;
          }
          if (auto t = reader_.TemplateString(it.value(), here)) {
            CheckScope(here, t->ReferencedPaths(), visible, scope);
            call.headers.emplace(it.key(), std::move(*t));
          }
        }
      }
    }
    return call;
  }

  Step CompileStep(const Json& value, const std::string& path,
                   const std::set<std::string>& earlier) {
    Step step;
    const Json* object =
        reader_.Object(value, path, {"name", "action", "await", "compensation", "timeout"});
    if (object == nullptr) return step;
    auto at = [&](std::string_view key) { return JsonReader::Join(path, key); };
    if (const Json* v = reader_.Member(*object, path, "name", true)) {
      if (auto name = reader_.Name(*v, at("name"))) {
        step.name = *name;
        if (earlier.count(*name)) reader_.AddError(at("name"), "duplicate step name " + *name);
      }
    }
    const bool has_action = object->contains("action"), has_await = object->contains("await");
    if (has_action == has_await)
      reader_.AddError(path, "a step has exactly one of action and await");
    if (const Json* v = reader_.Member(*object, path, "action"))
      step.action = CompileCall(*v, at("action"), earlier, "the action of step " + step.name);
    if (const Json* v = reader_.Member(*object, path, "await")) {
      if (const Json* await = reader_.Object(*v, at("await"), {"type", "match"})) {
        const std::string apath = at("await");
        AwaitSpec spec;
        if (const Json* t = reader_.Member(*await, apath, "type", true)) {
          if (auto type = reader_.NonEmptyString(*t, JsonReader::Join(apath, "type")))
            spec.type = *type;
        }
        if (const Json* m = reader_.Member(*await, apath, "match")) {
          const std::string mpath = JsonReader::Join(apath, "match");
          if (auto f = reader_.FilterValue(*m, mpath, true)) {
            std::vector<core::JsonPath> paths;
            CollectFilterTemplatePaths(*m, paths);
            CheckScope(mpath, paths, earlier, "the await of step " + step.name);
            spec.match = std::move(*f);
          }
        }
        step.await = std::move(spec);
      }
    }
    if (const Json* v = reader_.Member(*object, path, "compensation")) {
      if (has_await) {
        reader_.AddError(at("compensation"), "an await step has nothing to compensate");
      } else {
        std::set<std::string> with_own = earlier;
        with_own.insert(step.name);
        step.compensation =
            CompileCall(*v, at("compensation"), with_own, "the compensation of step " + step.name);
      }
    }
    if (const Json* v = reader_.Member(*object, path, "timeout"))
      step.timeout = PositiveDuration(*v, at("timeout"));
    return step;
  }

  std::optional<Emit> CompileEmit(const Json& value, const std::string& path,
                                  const std::set<std::string>& all_steps) {
    const Json* outer = reader_.Object(value, path, {"emit"});
    if (outer == nullptr) return std::nullopt;
    const Json* inner = reader_.Member(*outer, path, "emit", true);
    if (inner == nullptr) return std::nullopt;
    const std::string epath = JsonReader::Join(path, "emit");
    const Json* object = reader_.Object(*inner, epath, {"stream", "type", "data", "metadata"});
    if (object == nullptr) return std::nullopt;
    auto at = [&](std::string_view key) { return JsonReader::Join(epath, key); };
    const std::string scope = "on_completed/on_compensated";
    std::optional<core::Template> stream, type;
    if (const Json* v = reader_.Member(*object, epath, "stream", true)) {
      stream = reader_.TemplateString(*v, at("stream"));
      if (stream) CheckScope(at("stream"), stream->ReferencedPaths(), all_steps, scope);
    }
    if (const Json* v = reader_.Member(*object, epath, "type", true)) {
      type = reader_.TemplateString(*v, at("type"));
      if (type) CheckScope(at("type"), type->ReferencedPaths(), all_steps, scope);
    }
    std::optional<core::JsonTemplate> data = *core::JsonTemplate::Parse(Json::object());
    if (const Json* v = reader_.Member(*object, epath, "data")) {
      data = reader_.JsonTemplateValue(*v, at("data"));
      if (data) CheckScope(at("data"), data->ReferencedPaths(), all_steps, scope);
    }
    std::optional<core::JsonTemplate> metadata;
    if (const Json* v = reader_.Member(*object, epath, "metadata")) {
      metadata = reader_.JsonTemplateValue(*v, at("metadata"));
      if (metadata) CheckScope(at("metadata"), metadata->ReferencedPaths(), all_steps, scope);
    }
    if (!stream || !type || !data) return std::nullopt;
    return Emit{std::move(*stream), std::move(*type), std::move(*data), std::move(metadata)};
  }

  JsonReader& reader_;
  const std::set<std::string>* services_;
  std::set<std::string> known_steps_;
};

}  // namespace

int SagaDefinition::StepIndex(const std::string& step) const {
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].name == step) return static_cast<int>(i);
  }
  return -1;
}

SagaDefinition CompileSaga(const Json& definition, const std::string& path, JsonReader& reader,
                           const std::set<std::string>* services) {
  return Compiler(reader, services).Compile(definition, path);
}

Result<SagaDefinition> CompileSaga(const Json& definition, const std::set<std::string>* services) {
  JsonReader reader;
  SagaDefinition saga = CompileSaga(definition, "saga", reader, services);
  if (!reader.ok()) return Status::InvalidArgument("saga definition", reader.ErrorText());
  return saga;
}

}  // namespace rivulet::sagas
