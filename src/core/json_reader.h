#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/filter.h"
#include "core/json.h"
#include "core/template.h"

namespace rivulet::core {

// Reads a definition (a projection, a saga) from its JSON form: typed getters that
// record an error with the key path instead of stopping, and compile templates and
// filters on the way. Modules compile their definitions with it both from the config
// file (converted from YAML, which then maps each path back to a line and column) and
// from the copies they store.
class JsonReader {
 public:
  struct Error {
    std::string path;
    std::string message;
  };

  // The object itself if `value` is an object whose keys are all in `allowed`;
  // otherwise records errors (unknown keys are reported, the object is still returned).
  const Json* Object(const Json& value, const std::string& path,
                     std::initializer_list<std::string_view> allowed);
  // Like Object, for objects whose keys are user-chosen names.
  const Json* OpenObject(const Json& value, const std::string& path);
  const Json* Array(const Json& value, const std::string& path);

  // The member `key` of an object read with Object(), or nullptr; `required` records
  // an error when it is missing.
  const Json* Member(const Json& object, const std::string& path, std::string_view key,
                     bool required = false);

  std::optional<std::string> String(const Json& value, const std::string& path);
  std::optional<std::vector<std::string>> StringList(const Json& value, const std::string& path);
  std::optional<int64_t> Integer(const Json& value, const std::string& path, int64_t min,
                                 int64_t max);
  std::optional<bool> Bool(const Json& value, const std::string& path);
  std::optional<double> Number(const Json& value, const std::string& path, double min, double max);
  // "250ms", "30s", "5m" (core/duration.h).
  std::optional<std::chrono::milliseconds> Duration(const Json& value, const std::string& path);
  std::optional<std::string> Enum(const Json& value, const std::string& path,
                                  std::initializer_list<std::string_view> choices);
  // 1-64 letters, digits, '_' or '-'.
  std::optional<std::string> Name(const Json& value, const std::string& path);
  std::optional<std::string> NonEmptyString(const Json& value, const std::string& path);
  std::optional<Template> TemplateString(const Json& value, const std::string& path);
  std::optional<JsonTemplate> JsonTemplateValue(const Json& value, const std::string& path);
  std::optional<Filter> FilterValue(const Json& value, const std::string& path,
                                    bool allow_templates);

  void AddError(const std::string& path, const std::string& message);
  const std::vector<Error>& errors() const { return errors_; }
  bool ok() const { return errors_.empty(); }
  // "path: message" lines, for a Status.
  std::string ErrorText() const;

  static std::string Join(const std::string& path, std::string_view key);
  static std::string Index(const std::string& path, size_t i);

 private:
  std::vector<Error> errors_;
};

}  // namespace rivulet::core
