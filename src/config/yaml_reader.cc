#include "config/yaml_reader.h"

#include <yaml-cpp/eventhandler.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "core/byte_size.h"
#include "core/duration.h"
#include "core/edit_distance.h"
#include "core/resource_name.h"

namespace rivulet::config {

namespace {

const char* KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

bool IsPlain(const YAML::Node& node) { return node.Tag() == "?"; }

std::string Quote(const std::string& s) {
  std::string shown = s.size() > 64 ? s.substr(0, 61) + "..." : s;
  return "\"" + shown + "\"";
}

// Event handler for CountExpandedNodes: `total_` counts every node the events stand
// for, an alias standing for as many as its anchored node did.
class ExpansionCounter : public YAML::EventHandler {
 public:
  struct OverLimit {
    YAML::Mark mark;
  };
  // An alias to an anchor whose node is still open: yaml-cpp registers an anchor when
  // its node starts, so `&d {x: *d}` builds a node that contains itself.
  struct Cyclic {
    YAML::Mark mark;
  };

  explicit ExpansionCounter(uint64_t limit) : limit_(limit) {}
  uint64_t total() const { return total_; }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { Leaf(mark, anchor); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string&) override {
    Leaf(mark, anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    for (const auto& open : open_) {
      if (open.first == anchor) throw Cyclic{mark};
    }
    Add(mark, anchor < sizes_.size() ? sizes_[anchor] : 1);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, anchor);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(mark, anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  void Add(const YAML::Mark& mark, uint64_t nodes) {
    total_ += nodes;
    if (total_ > limit_) throw OverLimit{mark};
  }
  void Remember(YAML::anchor_t anchor, uint64_t nodes) {
    if (anchor == YAML::NullAnchor) return;
    if (sizes_.size() <= anchor) sizes_.resize(anchor + 1, 1);
    sizes_[anchor] = nodes;
  }
  void Leaf(const YAML::Mark& mark, YAML::anchor_t anchor) {
    Remember(anchor, 1);
    Add(mark, 1);
  }
  void Open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    open_.emplace_back(anchor, total_);
    Add(mark, 1);
  }
  void Close() {
    if (open_.empty()) return;
    auto [anchor, before] = open_.back();
    open_.pop_back();
    Remember(anchor, total_ - before);
  }

  uint64_t limit_;
  uint64_t total_ = 0;
  std::vector<uint64_t> sizes_;  // anchor id -> nodes of the anchored node, expanded
  std::vector<std::pair<YAML::anchor_t, uint64_t>> open_;  // (anchor, total_ at its start)
};

}  // namespace

std::optional<uint64_t> CountExpandedNodes(std::string_view yaml, uint64_t limit,
                                           YAML::Mark* where, bool* cyclic) {
  std::istringstream in{std::string(yaml)};
  ExpansionCounter counter(limit);
  if (cyclic != nullptr) *cyclic = false;
  try {
    YAML::Parser parser(in);
    parser.HandleNextDocument(counter);
  } catch (const ExpansionCounter::OverLimit& over) {
    if (where != nullptr) *where = over.mark;
    return std::nullopt;
  } catch (const ExpansionCounter::Cyclic& alias) {
    if (where != nullptr) *where = alias.mark;
    if (cyclic != nullptr) *cyclic = true;
    return std::nullopt;
  } catch (const YAML::Exception&) {
    return 0;
  }
  return counter.total();
}

const YAML::Node* YamlReader::Map::Get(std::string_view key) const {
  auto it = values_.find(key);
  return it == values_.end() ? nullptr : &it->second;
}

std::string YamlReader::Map::PathOf(std::string_view key) const { return Join(path_, key); }

std::string YamlReader::Join(const std::string& path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return path + "." + std::string(key);
}

std::string YamlReader::Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

void YamlReader::ErrorAt(const YAML::Mark& mark, const std::string& path,
                         const std::string& message) {
  YAML::Mark where = mark.is_null() ? last_mark_ : mark;
  std::string line = file_;
  if (!where.is_null()) {
    line += ":" + std::to_string(where.line + 1) + ":" + std::to_string(where.column + 1);
  }
  line += ": ";
  if (!path.empty()) line += path + ": ";
  line += message;
  errors_.push_back(std::move(line));
}

void YamlReader::Error(const YAML::Node& node, const std::string& path,
                       const std::string& message) {
  if (auto it = key_marks_.find(path); it != key_marks_.end())
    return ErrorAt(it->second, path, message);
  ErrorAt(node.IsDefined() ? node.Mark() : YAML::Mark::null_mark(), path, message);
}

std::optional<YamlReader::Map> YamlReader::ReadMap(
    const YAML::Node& node, const std::string& path,
    std::initializer_list<std::string_view> allowed) {
  auto map = ReadOpenMap(node, path);
  if (!map) return std::nullopt;
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = it->first.Scalar();
    bool known = false;
    for (std::string_view a : allowed) known = known || a == key;
    if (known) continue;
    std::string hint;
    size_t best = 3;
    for (std::string_view a : allowed) {
      size_t d = core::EditDistance(key, a);
      if (d < best) {
        best = d;
        hint = std::string(a);
      }
    }
    std::string message = "unknown key " + Quote(key);
    if (!hint.empty()) {
      message += " (did you mean \"" + hint + "\"?)";
    } else {
      message += " (expected one of:";
      for (std::string_view a : allowed) message += " " + std::string(a);
      message += ")";
    }
    Error(it->first, Join(path, key), message);
    map->values_.erase(key);
  }
  return map;
}

std::optional<YamlReader::Map> YamlReader::ReadOpenMap(const YAML::Node& node,
                                                       const std::string& path) {
  if (node.IsDefined()) last_mark_ = node.Mark();
  if (!node.IsMap()) {
    Error(node, path, std::string("expected a mapping, got ") + KindName(node));
    return std::nullopt;
  }
  Map map;
  map.node_ = node;
  map.path_ = path;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) {
      Error(it->first, path, "keys must be plain names");
      continue;
    }
    std::string key = it->first.Scalar();
    key_marks_.emplace(Join(path, key), it->first.Mark());
    if (!map.values_.emplace(key, it->second).second) {
      Error(it->first, Join(path, key), "duplicate key " + Quote(key));
    }
  }
  return map;
}

std::optional<std::vector<YAML::Node>> YamlReader::ReadList(const YAML::Node& node,
                                                            const std::string& path) {
  if (node.IsDefined()) last_mark_ = node.Mark();
  if (!node.IsSequence()) {
    Error(node, path, std::string("expected a list, got ") + KindName(node));
    return std::nullopt;
  }
  std::vector<YAML::Node> items;
  for (const YAML::Node& item : node) {
    key_marks_.emplace(Index(path, items.size()), item.Mark());
    items.push_back(item);
  }
  return items;
}

std::optional<std::string> YamlReader::Scalar(const YAML::Node& node, const std::string& path,
                                              const char* expected) {
  if (node.IsDefined()) last_mark_ = node.Mark();
  if (!node.IsScalar()) {
    Error(node, path, std::string("expected ") + expected + ", got " + KindName(node));
    return std::nullopt;
  }
  auto value = SubstituteEnv(node.Scalar(), env_);
  if (!value.ok()) {
    Error(node, path, value.status().message());
    return std::nullopt;
  }
  return std::move(value).value();
}

std::optional<std::string> YamlReader::String(const YAML::Node& node, const std::string& path) {
  return Scalar(node, path, "a string");
}

std::optional<std::string> YamlReader::NonEmptyString(const YAML::Node& node,
                                                      const std::string& path) {
  auto value = String(node, path);
  if (value && value->empty()) {
    Error(node, path, "must not be empty");
    return std::nullopt;
  }
  return value;
}

std::optional<std::vector<std::string>> YamlReader::StringList(const YAML::Node& node,
                                                               const std::string& path) {
  auto items = ReadList(node, path);
  if (!items) return std::nullopt;
  std::vector<std::string> out;
  bool ok = true;
  for (size_t i = 0; i < items->size(); ++i) {
    auto s = NonEmptyString((*items)[i], Index(path, i));
    if (s)
      out.push_back(std::move(*s));
    else
      ok = false;
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<int64_t> YamlReader::Integer(const YAML::Node& node, const std::string& path,
                                           int64_t min, int64_t max) {
  auto text = Scalar(node, path, "an integer");
  if (!text) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text->c_str(), &end, 10);
  if (text->empty() || errno != 0 || end != text->c_str() + text->size()) {
    Error(node, path, "expected an integer, got " + Quote(*text));
    return std::nullopt;
  }
  if (v < min || v > max) {
    Error(node, path,
          "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
              *text);
    return std::nullopt;
  }
  return static_cast<int64_t>(v);
}

std::optional<double> YamlReader::Number(const YAML::Node& node, const std::string& path,
                                         double min, double max) {
  auto text = Scalar(node, path, "a number");
  if (!text) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text->c_str(), &end);
  if (text->empty() || errno != 0 || end != text->c_str() + text->size() || !std::isfinite(v)) {
    Error(node, path, "expected a number, got " + Quote(*text));
    return std::nullopt;
  }
  if (v < min || v > max) {
    Error(node, path,
          "must be between " + core::DumpJson(min) + " and " + core::DumpJson(max) + ", got " +
              *text);
    return std::nullopt;
  }
  return v;
}

std::optional<bool> YamlReader::Bool(const YAML::Node& node, const std::string& path) {
  auto text = Scalar(node, path, "true or false");
  if (!text) return std::nullopt;
  if (*text == "true") return true;
  if (*text == "false") return false;
  Error(node, path, "expected true or false, got " + Quote(*text));
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> YamlReader::Duration(const YAML::Node& node,
                                                              const std::string& path) {
  auto text = Scalar(node, path, "a duration like 30s");
  if (!text) return std::nullopt;
  auto d = core::ParseDuration(*text);
  if (!d.ok()) {
    Error(node, path, d.status().message());
    return std::nullopt;
  }
  return *d;
}

std::optional<uint64_t> YamlReader::Size(const YAML::Node& node, const std::string& path) {
  auto text = Scalar(node, path, "a size like 4MiB");
  if (!text) return std::nullopt;
  auto size = core::ParseByteSize(*text);
  if (!size.ok()) {
    Error(node, path, size.status().message());
    return std::nullopt;
  }
  return *size;
}

std::optional<std::string> YamlReader::Enum(const YAML::Node& node, const std::string& path,
                                            std::initializer_list<std::string_view> choices) {
  auto text = Scalar(node, path, "a string");
  if (!text) return std::nullopt;
  std::string expected;
  for (std::string_view c : choices) {
    if (*text == c) return text;
    expected += expected.empty() ? "" : ", ";
    expected += std::string(c);
  }
  Error(node, path, "expected one of " + expected + ", got " + Quote(*text));
  return std::nullopt;
}

std::optional<std::string> YamlReader::Name(const YAML::Node& node, const std::string& path) {
  auto text = Scalar(node, path, "a name");
  if (!text) return std::nullopt;
  bool ok = !text->empty() && text->size() <= 64;
  for (char c : *text) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-');
  }
  if (!ok) {
    Error(node, path, "expected a name of 1-64 letters, digits, '_' or '-', got " + Quote(*text));
    return std::nullopt;
  }
  return text;
}

std::optional<std::string> YamlReader::ResourceName(const YAML::Node& node,
                                                    const std::string& path) {
  auto text = Scalar(node, path, "a name");
  if (!text) return std::nullopt;
  if (!core::IsResourceName(*text)) {
    Error(node, path, core::ResourceNameError(*text));
    return std::nullopt;
  }
  return text;
}

std::optional<core::Json> YamlReader::Json(const YAML::Node& node, const std::string& path) {
  return Json(node, path, 0);
}

std::optional<core::Json> YamlReader::Json(const YAML::Node& node, const std::string& path,
                                           int depth) {
  if (node.IsDefined()) last_mark_ = node.Mark();
  if ((node.IsSequence() || node.IsMap()) && depth >= core::kMaxJsonDepth) {
    // As JSON input is bounded; the walks over the value (templates, filters, dumps) are
    // recursive too.
    Error(node, path,
          "nested deeper than " + std::to_string(core::kMaxJsonDepth) + " levels of lists "
          "and mappings");
    return std::nullopt;
  }
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return core::Json(nullptr);
    case YAML::NodeType::Scalar: {
      auto text = SubstituteEnv(node.Scalar(), env_);
      if (!text.ok()) {
        Error(node, path, text.status().message());
        return std::nullopt;
      }
      const std::string& s = *text;
      if (!IsPlain(node)) return core::Json(s);
      if (s == "null" || s == "Null" || s == "NULL" || s == "~") return core::Json(nullptr);
      if (s == "true" || s == "True" || s == "TRUE") return core::Json(true);
      if (s == "false" || s == "False" || s == "FALSE") return core::Json(false);
      if (!s.empty() &&
          (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '+')) {
        errno = 0;
        char* end = nullptr;
        long long i = std::strtoll(s.c_str(), &end, 10);
        if (errno == 0 && end == s.c_str() + s.size()) return core::Json(static_cast<int64_t>(i));
        errno = 0;
        double d = std::strtod(s.c_str(), &end);
        if (errno == 0 && end == s.c_str() + s.size() && std::isfinite(d)) return core::Json(d);
      }
      return core::Json(s);
    }
    case YAML::NodeType::Sequence: {
      core::Json array = core::Json::array();
      size_t i = 0;
      for (const YAML::Node& item : node) {
        auto value = Json(item, Index(path, i++), depth + 1);
        if (!value) return std::nullopt;
        array.push_back(std::move(*value));
      }
      return array;
    }
    case YAML::NodeType::Map: {
      auto map = ReadOpenMap(node, path);
      if (!map) return std::nullopt;
      core::Json object = core::Json::object();
      for (auto it = node.begin(); it != node.end(); ++it) {
        std::string key = it->first.Scalar();
        if (object.contains(key)) continue;  // duplicate, already reported
        auto value = Json(it->second, Join(path, key), depth + 1);
        if (!value) return std::nullopt;
        object[key] = std::move(*value);
      }
      return object;
    }
  }
  return std::nullopt;
}

std::optional<core::Template> YamlReader::Template(const YAML::Node& node,
                                                   const std::string& path) {
  auto text = Scalar(node, path, "a template string");
  if (!text) return std::nullopt;
  auto t = core::Template::Parse(*text);
  if (!t.ok()) {
    Error(node, path, t.status().message());
    return std::nullopt;
  }
  return std::move(t).value();
}

std::optional<core::JsonTemplate> YamlReader::JsonTemplate(const YAML::Node& node,
                                                           const std::string& path) {
  auto json = Json(node, path);
  if (!json) return std::nullopt;
  auto t = core::JsonTemplate::Parse(*json);
  if (!t.ok()) {
    Error(node, path, t.status().message());
    return std::nullopt;
  }
  return std::move(t).value();
}

std::optional<core::Filter> YamlReader::Filter(const YAML::Node& node, const std::string& path,
                                               bool allow_templates) {
  auto json = Json(node, path);
  if (!json) return std::nullopt;
  core::Filter::Options options;
  options.allow_templates = allow_templates;
  auto filter = core::Filter::Parse(*json, options);
  if (!filter.ok()) {
    Error(node, path, filter.status().message());
    return std::nullopt;
  }
  return std::move(filter).value();
}

}  // namespace rivulet::config
