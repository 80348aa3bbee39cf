#include "projections/projection_definition.h"

#include <cctype>
#include <map>
#include <set>

#include "core/digest.h"
#include "core/resource_name.h"

namespace rivulet::projections {

namespace {

using core::Json;
using core::JsonReader;

// The fields an event template may read (SPEC section 4, Templates).
const std::set<std::string>& EventRoots() {
  static const std::set<std::string>* roots = new std::set<std::string>{
      "position", "stream", "version", "id", "type", "data", "metadata", "recorded_at"};
  return *roots;
}

class Compiler {
 public:
  Compiler(JsonReader& reader) : reader_(reader) {}

  void CheckRoots(const std::string& path, const std::vector<core::JsonPath>& paths) {
    for (const core::JsonPath& p : paths) {
      if (p.empty() || p[0].is_index || EventRoots().count(p[0].key)) continue;
      reader_.AddError(
          path, "template reads \"" + core::FormatJsonPath(p) +
                    "\", but a projection only sees position, stream, version, id, type, data, "
                    "metadata, recorded_at");
    }
  }

  bool Field(const std::string& path, const std::string& field, bool allow_reserved) {
    if (IsDocumentField(field)) return true;
    bool reserved = field == "_key" || field == "_version" || field == "_position";
    if (allow_reserved && reserved) return true;
    if (!field.empty() && field[0] == '_') {
      reader_.AddError(
          path, "document fields starting with '_' are reserved (_key, _version, _position)");
    } else {
      reader_.AddError(path,
                       "expected a field name of letters, digits and '_', got \"" + field + "\"");
    }
    return false;
  }

  std::optional<core::JsonTemplate> Value(const Json& value, const std::string& path) {
    auto t = reader_.JsonTemplateValue(value, path);
    if (t) CheckRoots(path, t->ReferencedPaths());
    return t;
  }

  // {field: template} for set, inc, min, max.
  void FieldTemplates(const Json& value, const std::string& path,
                      std::map<std::string, core::JsonTemplate>& out) {
    const Json* object = reader_.OpenObject(value, path);
    if (object == nullptr) return;
    for (auto it = object->begin(); it != object->end(); ++it) {
      std::string here = JsonReader::Join(path, it.key());
      if (!Field(here, it.key(), false)) continue;
      if (auto t = Value(it.value(), here)) out.emplace(it.key(), std::move(*t));
    }
  }

  void Push(const Json& value, const std::string& path, ProjectionDefinition::Handler& handler) {
    const Json* object = reader_.OpenObject(value, path);
    if (object == nullptr) return;
    for (auto it = object->begin(); it != object->end(); ++it) {
      std::string here = JsonReader::Join(path, it.key());
      if (!Field(here, it.key(), false)) continue;
      const Json& spec = it.value();
      // `push: {tags: T, limit: 3}` reads as two fields; the limit belongs with its field.
      if (it.key() == "limit" && spec.is_number()) {
        reader_.AddError(here, "this would push " + core::JsonForMessage(spec) +
                                   " to a field named limit; to keep the last N of a field, write "
                                   "{FIELD: {value: TEMPLATE, limit: N}}");
        continue;
      }
      ProjectionDefinition::Push push;
      // `field: {value: T, limit: N}` keeps the last N; `field: T` keeps everything.
      bool with_limit = spec.is_object() && spec.contains("value") && spec.size() <= 2 &&
                        (spec.size() == 1 || spec.contains("limit"));
      if (with_limit) {
        reader_.Object(spec, here, {"value", "limit"});
        if (const Json* limit = reader_.Member(spec, here, "limit")) {
          push.limit = reader_.Integer(*limit, JsonReader::Join(here, "limit"), 1, 1'000'000);
        }
        auto t = Value(spec["value"], JsonReader::Join(here, "value"));
        if (!t) continue;
        push.value = std::move(*t);
      } else {
        auto t = Value(spec, here);
        if (!t) continue;
        push.value = std::move(*t);
      }
      handler.push.emplace(it.key(), std::move(push));
    }
  }

  void Handlers(const Json& value, const std::string& path, ProjectionDefinition& out) {
    const Json* object = reader_.OpenObject(value, path);
    if (object == nullptr) return;
    if (object->empty()) reader_.AddError(path, "declare what at least one event type does");
    for (auto it = object->begin(); it != object->end(); ++it) {
      std::string here = JsonReader::Join(path, it.key());
      if (it.key().empty()) {
        reader_.AddError(here, "event type is empty");
        continue;
      }
      const Json* ops =
          reader_.Object(it.value(), here, {"set", "unset", "inc", "min", "max", "push", "delete"});
      if (ops == nullptr) continue;
      ProjectionDefinition::Handler handler;
      if (const Json* v = reader_.Member(*ops, here, "set"))
        FieldTemplates(*v, JsonReader::Join(here, "set"), handler.set);
      if (const Json* v = reader_.Member(*ops, here, "inc"))
        FieldTemplates(*v, JsonReader::Join(here, "inc"), handler.inc);
      if (const Json* v = reader_.Member(*ops, here, "min"))
        FieldTemplates(*v, JsonReader::Join(here, "min"), handler.min);
      if (const Json* v = reader_.Member(*ops, here, "max"))
        FieldTemplates(*v, JsonReader::Join(here, "max"), handler.max);
      if (const Json* v = reader_.Member(*ops, here, "unset")) {
        std::string unset_path = JsonReader::Join(here, "unset");
        if (auto fields = reader_.StringList(*v, unset_path)) {
          for (const std::string& f : *fields) {
            if (Field(unset_path, f, false)) handler.unset.push_back(f);
          }
        }
      }
      if (const Json* v = reader_.Member(*ops, here, "push"))
        Push(*v, JsonReader::Join(here, "push"), handler);
      if (const Json* v = reader_.Member(*ops, here, "delete")) {
        std::string delete_path = JsonReader::Join(here, "delete");
        if (auto del = reader_.Bool(*v, delete_path)) {
          if (!*del) reader_.AddError(delete_path, "write delete: true, or leave it out");
          if (*del && ops->size() > 1) {
            reader_.AddError(delete_path, "delete: true cannot be combined with other operations");
          }
          handler.remove = *del;
        }
      }
      out.on.emplace(it.key(), std::move(handler));
    }
  }

  ProjectionDefinition Compile(const Json& json, const std::string& path) {
    ProjectionDefinition def;
    def.definition = json;
    Json hashed = json;
    if (hashed.is_object()) hashed.erase("on_error");
    def.hash = core::Sha256Hex(core::DumpJson(hashed));
    const Json* object =
        reader_.Object(json, path, {"name", "from", "key", "on", "indexes", "on_error"});
    if (object == nullptr) return def;
    if (const Json* on_error = reader_.Member(*object, path, "on_error")) {
      std::string on_error_path = JsonReader::Join(path, "on_error");
      if (auto s = reader_.String(*on_error, on_error_path)) {
        if (*s == "dead_letter") {
          def.on_error = eventstore::OnError::kDeadLetter;
        } else if (*s != "stop") {
          reader_.AddError(on_error_path, "expected stop or dead_letter, got \"" + *s + "\"");
        }
      }
    }
    if (const Json* name = reader_.Member(*object, path, "name", true)) {
      std::string name_path = JsonReader::Join(path, "name");
      if (auto s = reader_.String(*name, name_path)) {
        // Table names derive from it (projection_tables.h).
        if (core::IsResourceName(*s))
          def.name = *s;
        else
          reader_.AddError(name_path, core::ResourceNameError(*s));
      }
    }
    if (const Json* from = reader_.Member(*object, path, "from")) {
      std::string from_path = JsonReader::Join(path, "from");
      if (reader_.Object(*from, from_path, {"types", "streams", "match"}) != nullptr) {
        if (const Json* v = reader_.Member(*from, from_path, "types")) {
          if (auto types = reader_.StringList(*v, JsonReader::Join(from_path, "types")))
            def.from_types = *types;
        }
        if (const Json* v = reader_.Member(*from, from_path, "streams")) {
          if (auto streams = reader_.StringList(*v, JsonReader::Join(from_path, "streams")))
            def.from_streams = *streams;
        }
        if (const Json* v = reader_.Member(*from, from_path, "match")) {
          def.from_match = reader_.FilterValue(*v, JsonReader::Join(from_path, "match"), false);
        }
      }
    }
    if (const Json* key = reader_.Member(*object, path, "key", true)) {
      std::string key_path = JsonReader::Join(path, "key");
      if (auto t = reader_.TemplateString(*key, key_path)) {
        CheckRoots(key_path, t->ReferencedPaths());
        def.key = std::move(*t);
      }
    }
    if (const Json* on = reader_.Member(*object, path, "on", true))
      Handlers(*on, JsonReader::Join(path, "on"), def);
    if (const Json* indexes = reader_.Member(*object, path, "indexes")) {
      std::string indexes_path = JsonReader::Join(path, "indexes");
      if (auto fields = reader_.StringList(*indexes, indexes_path)) {
        // Each index is a column named for its field, and SQLite compares column names
        // without case: "Status" and "status" cannot both have one.
        std::map<std::string, std::string> seen;  // lower-cased -> as written
        for (size_t i = 0; i < fields->size(); ++i) {
          const std::string& f = (*fields)[i];
          std::string here = JsonReader::Index(indexes_path, i);
          if (!Field(here, f, true)) continue;
          std::string folded = f;
          for (char& c : folded) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          if (auto [it, inserted] = seen.emplace(folded, f); !inserted) {
            reader_.AddError(here, it->second == f ? "index on " + f + " declared twice"
                                                   : "index on " + f + " and on " + it->second +
                                                         " (indexes ignore case)");
            continue;
          }
          def.indexes.push_back(f);
        }
      }
    }
    return def;
  }

 private:
  JsonReader& reader_;
};

}  // namespace

bool IsDocumentField(const std::string& field) {
  if (field.empty() || field.size() > 64 || field[0] == '_') return false;
  for (char c : field) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  return true;
}

const ProjectionDefinition::Handler* ProjectionDefinition::HandlerFor(
    const std::string& type) const {
  auto it = on.find(type);
  if (it != on.end()) return &it->second;
  it = on.find("*");
  return it == on.end() ? nullptr : &it->second;
}

std::optional<std::vector<std::string>> ProjectionDefinition::TypesToRead() const {
  if (!from_types.empty()) {
    if (on.count("*")) return from_types;
    std::vector<std::string> handled;
    for (const std::string& t : from_types) {
      if (on.count(t)) handled.push_back(t);
    }
    return handled;
  }
  if (on.count("*")) return std::nullopt;
  std::vector<std::string> handled;
  for (const auto& [type, handler] : on) handled.push_back(type);
  return handled;
}

std::set<std::string> ProjectionDefinition::EventFieldsRead() const {
  std::set<std::string> fields;
  auto add = [&](const std::vector<core::JsonPath>& paths) {
    for (const core::JsonPath& p : paths) {
      if (!p.empty() && !p[0].is_index) fields.insert(p[0].key);
    }
  };
  add(key.ReferencedPaths());
  for (const auto& [type, h] : on) {
    for (const auto* ops : {&h.set, &h.inc, &h.min, &h.max}) {
      for (const auto& [field, t] : *ops) add(t.ReferencedPaths());
    }
    for (const auto& [field, push] : h.push) add(push.value.ReferencedPaths());
  }
  return fields;
}

ProjectionDefinition CompileProjection(const core::Json& definition, const std::string& path,
                                       JsonReader& reader) {
  Compiler compiler(reader);
  return compiler.Compile(definition, path);
}

Result<ProjectionDefinition> CompileProjection(const core::Json& definition) {
  JsonReader reader;
  ProjectionDefinition def = CompileProjection(definition, "", reader);
  if (!reader.ok())
    return Status::InvalidArgument("invalid projection definition:\n" + reader.ErrorText());
  return def;
}

}  // namespace rivulet::projections
