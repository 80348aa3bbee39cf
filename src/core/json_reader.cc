#include "core/json_reader.h"

#include "core/duration.h"

namespace rivulet::core {

std::string JsonReader::Join(const std::string& path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return path + "." + std::string(key);
}

std::string JsonReader::Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

void JsonReader::AddError(const std::string& path, const std::string& message) {
  errors_.push_back(Error{path, message});
}

std::string JsonReader::ErrorText() const {
  std::string text;
  for (const Error& e : errors_) text += (text.empty() ? "" : "\n") + e.path + ": " + e.message;
  return text;
}

const Json* JsonReader::OpenObject(const Json& value, const std::string& path) {
  if (!value.is_object()) {
    AddError(path, std::string("expected a mapping, got ") + JsonTypeName(value));
    return nullptr;
  }
  return &value;
}

const Json* JsonReader::Object(const Json& value, const std::string& path,
                               std::initializer_list<std::string_view> allowed) {
  const Json* object = OpenObject(value, path);
  if (object == nullptr) return nullptr;
  for (auto it = object->begin(); it != object->end(); ++it) {
    bool known = false;
    for (std::string_view a : allowed) known = known || a == it.key();
    if (known) continue;
    std::string list;
    for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    AddError(Join(path, it.key()),
             "unknown key \"" + it.key() + "\" (expected one of: " + list + ")");
  }
  return object;
}

const Json* JsonReader::Array(const Json& value, const std::string& path) {
  if (!value.is_array()) {
    AddError(path, std::string("expected a list, got ") + JsonTypeName(value));
    return nullptr;
  }
  return &value;
}

const Json* JsonReader::Member(const Json& object, const std::string& path, std::string_view key,
                               bool required) {
  auto it = object.find(std::string(key));
  if (it != object.end()) return &*it;
  if (required) AddError(Join(path, key), "required");
  return nullptr;
}

std::optional<std::string> JsonReader::String(const Json& value, const std::string& path) {
  if (!value.is_string()) {
    AddError(path, std::string("expected a string, got ") + JsonTypeName(value));
    return std::nullopt;
  }
  return value.get<std::string>();
}

std::optional<std::vector<std::string>> JsonReader::StringList(const Json& value,
                                                               const std::string& path) {
  if (Array(value, path) == nullptr) return std::nullopt;
  std::vector<std::string> out;
  bool ok = true;
  for (size_t i = 0; i < value.size(); ++i) {
    auto s = String(value[i], Index(path, i));
    if (s && s->empty()) {
      AddError(Index(path, i), "must not be empty");
      s.reset();
    }
    if (s)
      out.push_back(std::move(*s));
    else
      ok = false;
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<int64_t> JsonReader::Integer(const Json& value, const std::string& path, int64_t min,
                                           int64_t max) {
  if (!value.is_number_integer()) {
    AddError(path, std::string("expected an integer, got ") + JsonForMessage(value));
    return std::nullopt;
  }
  int64_t v = value.get<int64_t>();
  if (v < min || v > max) {
    AddError(path, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                       ", got " + std::to_string(v));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> JsonReader::Bool(const Json& value, const std::string& path) {
  if (!value.is_boolean()) {
    AddError(path, std::string("expected true or false, got ") + JsonForMessage(value));
    return std::nullopt;
  }
  return value.get<bool>();
}

std::optional<double> JsonReader::Number(const Json& value, const std::string& path, double min,
                                         double max) {
  if (!value.is_number()) {
    AddError(path, std::string("expected a number, got ") + JsonForMessage(value));
    return std::nullopt;
  }
  double v = value.get<double>();
  if (v < min || v > max) {
    AddError(path, "must be between " + DumpJson(min) + " and " + DumpJson(max) + ", got " +
                       DumpJson(value));
    return std::nullopt;
  }
  return v;
}

std::optional<std::chrono::milliseconds> JsonReader::Duration(const Json& value,
                                                              const std::string& path) {
  if (!value.is_string()) {
    AddError(path, std::string("expected a duration like 30s, got ") + JsonForMessage(value));
    return std::nullopt;
  }
  auto d = ParseDuration(value.get_ref<const std::string&>());
  if (!d.ok()) {
    AddError(path, d.status().message());
    return std::nullopt;
  }
  return *d;
}

std::optional<std::string> JsonReader::Enum(const Json& value, const std::string& path,
                                            std::initializer_list<std::string_view> choices) {
  std::string expected;
  for (std::string_view c : choices) {
    if (value.is_string() && value.get_ref<const std::string&>() == c) return std::string(c);
    expected += expected.empty() ? "" : ", ";
    expected += std::string(c);
  }
  AddError(path, "expected one of " + expected + ", got " + JsonForMessage(value));
  return std::nullopt;
}

std::optional<std::string> JsonReader::Name(const Json& value, const std::string& path) {
  bool ok = value.is_string();
  if (ok) {
    const std::string& text = value.get_ref<const std::string&>();
    ok = !text.empty() && text.size() <= 64;
    for (char c : text) {
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-');
    }
    if (ok) return text;
  }
  AddError(path,
           "expected a name of 1-64 letters, digits, '_' or '-', got " + JsonForMessage(value));
  return std::nullopt;
}

std::optional<std::string> JsonReader::NonEmptyString(const Json& value, const std::string& path) {
  auto text = String(value, path);
  if (text && text->empty()) {
    AddError(path, "must not be empty");
    return std::nullopt;
  }
  return text;
}

std::optional<Template> JsonReader::TemplateString(const Json& value, const std::string& path) {
  auto text = String(value, path);
  if (!text) return std::nullopt;
  auto t = Template::Parse(*text);
  if (!t.ok()) {
    AddError(path, t.status().message());
    return std::nullopt;
  }
  return std::move(t).value();
}

std::optional<JsonTemplate> JsonReader::JsonTemplateValue(const Json& value,
                                                          const std::string& path) {
  auto t = JsonTemplate::Parse(value);
  if (!t.ok()) {
    AddError(path, t.status().message());
    return std::nullopt;
  }
  return std::move(t).value();
}

std::optional<Filter> JsonReader::FilterValue(const Json& value, const std::string& path,
                                              bool allow_templates) {
  Filter::Options options;
  options.allow_templates = allow_templates;
  auto filter = Filter::Parse(value, options);
  if (!filter.ok()) {
    AddError(path, filter.status().message());
    return std::nullopt;
  }
  return std::move(filter).value();
}

}  // namespace rivulet::core
