#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/env_substitution.h"
#include "core/filter.h"
#include "core/json.h"
#include "core/template.h"

namespace rivulet::config {

// How many nodes a walk of the first document of `yaml` visits, every alias expanded,
// counted from the parser's events without building anything. yaml-cpp shares an
// aliased node instead of copying it, so a few hundred bytes of nested aliases make a
// tree that walks through billions of nodes. Stops early: once the count passes
// `limit`, returns nullopt and sets `*where` to the node (usually an alias) at which it
// did. An alias inside the node it names (`&d {x: *d}`: yaml-cpp registers an anchor
// when its node starts, so that node would contain itself and no walk of it ends) also
// returns nullopt, with `*where` at the alias and `*cyclic` set (when given). A document
// yaml-cpp cannot parse counts 0 (YAML::Load reports why).
std::optional<uint64_t> CountExpandedNodes(std::string_view yaml, uint64_t limit,
                                           YAML::Mark* where, bool* cyclic = nullptr);

// Walks a parsed YAML document for the config loader: converts scalars to typed values,
// substitutes ${env:NAME}, compiles templates and filters, and collects every error as
// `file:line:col: key.path: message` instead of stopping at the first. Each typed
// getter returns nullopt after recording an error, so callers just skip the field.
class YamlReader {
 public:
  YamlReader(std::string file, EnvLookup env) : file_(std::move(file)), env_(std::move(env)) {}

  // The keys of a mapping, after rejecting anything not in `allowed` and duplicates.
  class Map {
   public:
    // The value of `key`, or nullptr when absent. A key written with no value (`key:`)
    // is present, with a null node.
    const YAML::Node* Get(std::string_view key) const;
    bool Has(std::string_view key) const { return Get(key) != nullptr; }
    const YAML::Node& node() const { return node_; }
    const std::string& path() const { return path_; }
    std::string PathOf(std::string_view key) const;

   private:
    friend class YamlReader;
    YAML::Node node_;
    std::string path_;
    std::map<std::string, YAML::Node, std::less<>> values_;
  };

  std::optional<Map> ReadMap(const YAML::Node& node, const std::string& path,
                             std::initializer_list<std::string_view> allowed);
  // A mapping whose keys are names chosen by the user (services, projection handlers).
  std::optional<Map> ReadOpenMap(const YAML::Node& node, const std::string& path);
  // The elements of a sequence; nullopt (with an error) for anything else.
  std::optional<std::vector<YAML::Node>> ReadList(const YAML::Node& node, const std::string& path);

  std::optional<std::string> String(const YAML::Node& node, const std::string& path);
  std::optional<std::string> NonEmptyString(const YAML::Node& node, const std::string& path);
  std::optional<std::vector<std::string>> StringList(const YAML::Node& node,
                                                     const std::string& path);
  std::optional<int64_t> Integer(const YAML::Node& node, const std::string& path, int64_t min,
                                 int64_t max);
  std::optional<double> Number(const YAML::Node& node, const std::string& path, double min,
                               double max);
  std::optional<bool> Bool(const YAML::Node& node, const std::string& path);
  std::optional<std::chrono::milliseconds> Duration(const YAML::Node& node,
                                                    const std::string& path);
  std::optional<uint64_t> Size(const YAML::Node& node, const std::string& path);
  // One of `choices`, spelled exactly.
  std::optional<std::string> Enum(const YAML::Node& node, const std::string& path,
                                  std::initializer_list<std::string_view> choices);
  // A name of 1-64 letters, digits, '_' and '-' (tokens, a NATS stream).
  std::optional<std::string> Name(const YAML::Node& node, const std::string& path);
  // The name of a source, service or destination (SPEC section 4):
  // [a-z][a-z0-9_]{0,47}, see core/resource_name.h.
  std::optional<std::string> ResourceName(const YAML::Node& node, const std::string& path);

  // The value as JSON: plain scalars become null, booleans, numbers or strings as YAML
  // 1.2 reads them; quoted scalars stay strings. Lists and mappings nest at most
  // core::kMaxJsonDepth (64) levels, as JSON input does; deeper is an error.
  std::optional<core::Json> Json(const YAML::Node& node, const std::string& path);
  std::optional<core::Template> Template(const YAML::Node& node, const std::string& path);
  std::optional<core::JsonTemplate> JsonTemplate(const YAML::Node& node, const std::string& path);
  std::optional<core::Filter> Filter(const YAML::Node& node, const std::string& path,
                                     bool allow_templates);

  // Records `message` at the key that names `path` (as the SPEC's example error does),
  // or at `node` when the path has no key, or at the last known position.
  void Error(const YAML::Node& node, const std::string& path, const std::string& message);
  void ErrorAt(const YAML::Mark& mark, const std::string& path, const std::string& message);

  const std::vector<std::string>& errors() const { return errors_; }
  const std::string& file() const { return file_; }

  static std::string Join(const std::string& path, std::string_view key);
  static std::string Index(const std::string& path, size_t i);

 private:
  std::optional<std::string> Scalar(const YAML::Node& node, const std::string& path,
                                    const char* expected);
  // `depth` lists and mappings enclose `node`.
  std::optional<core::Json> Json(const YAML::Node& node, const std::string& path, int depth);

  std::string file_;
  EnvLookup env_;
  std::vector<std::string> errors_;
  std::map<std::string, YAML::Mark> key_marks_;  // key path -> where its key is written
  YAML::Mark last_mark_ = YAML::Mark::null_mark();
};

}  // namespace rivulet::config
