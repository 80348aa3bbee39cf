#include "core/filter.h"

#include <re2/re2.h>

#include <optional>

#include "core/status_macros.h"
#include "core/template.h"

namespace rivulet::core {

namespace {

enum class Op { kEq, kNe, kGt, kGte, kLt, kLte, kIn, kNin, kExists, kRegex, kSize, kNot };

// A constant, or a template evaluated against the caller's context at match time.
struct Operand {
  Json value;
  std::optional<Template> tmpl;

  Result<Json> Resolve(const Json* context) const {
    if (!tmpl) return value;
    if (context == nullptr) {
      return Status::InvalidArgument("filter operand " + tmpl->source() +
                                     " needs a template context");
    }
    return tmpl->Evaluate(*context);
  }
};

struct Condition {
  Op op;
  Operand operand;                        // kEq .. kLte, kExists, kSize
  std::vector<Operand> list;              // kIn, kNin
  std::shared_ptr<const re2::RE2> regex;  // kRegex: immutable, shared between copies
  std::vector<Condition> negated;         // kNot: all of these, negated
};

// MongoDB's `$options: "x"`: drops whitespace and #-comments outside character classes
// (RE2 has no extended mode). An escaped space or # stays, as a literal.
std::string StripExtended(const std::string& pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      out.push_back(c);
      out.push_back(pattern[++i]);
      continue;
    }
    if (in_class) {
      if (c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {  // [:alpha:]
        const size_t close = pattern.find(":]", i + 2);
        if (close != std::string::npos) {
          out.append(pattern, i, close + 2 - i);
          i = close + 1;
          continue;
        }
      }
      if (c == ']') in_class = false;
      out.push_back(c);
      continue;
    }
    if (c == '[') {
      in_class = true;
      out.push_back(c);
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out.push_back(pattern[++i]);
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out.push_back(pattern[++i]);
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') continue;
    if (c == '#') {
      while (i + 1 < pattern.size() && pattern[i + 1] != '\n') ++i;
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// $regex over RE2, which runs in time linear in the subject whatever the pattern (no
// backtracking) and refuses what it cannot run that way: back-references and
// lookaround are errors here, not slow matches at run time. $options i, m, s become
// RE2's flags; x is translated (StripExtended).
Result<std::shared_ptr<const re2::RE2>> CompileRegex(const std::string& pattern,
                                                     const Json* options,
                                                     const std::string& where) {
  std::string flags;
  bool extended = false;
  if (options != nullptr) {
    if (!options->is_string()) return Status::InvalidArgument(where, "$options needs a string");
    for (char c : options->get<std::string>()) {
      if (c == 'i' || c == 'm' || c == 's') {
        if (flags.find(c) == std::string::npos) flags.push_back(c);
      } else if (c == 'x') {
        extended = true;
      } else {
        return Status::InvalidArgument(
            where, std::string("unsupported $options flag '") + c + "' (known: i, m, s, x)");
      }
    }
  }
  std::string text = extended ? StripExtended(pattern) : pattern;
  if (!flags.empty()) text = "(?" + flags + ")" + text;
  re2::RE2::Options re2_options;
  re2_options.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(text, re2_options);
  if (re->ok()) return re;
  const std::string& arg = re->error_arg();
  if (re->error_code() == re2::RE2::ErrorBadEscape && arg.size() == 2 && arg[0] == '\\' &&
      arg[1] >= '1' && arg[1] <= '9') {
    return Status::InvalidArgument(
        where, "invalid regular expression: back-reference " + arg +
                   " is not supported ($regex uses RE2 syntax, which matches in linear time)");
  }
  if (re->error_code() == re2::RE2::ErrorMissingParen ||
      re->error_code() == re2::RE2::ErrorBadPerlOp ||
      re->error_code() == re2::RE2::ErrorBadNamedCapture) {
    if (arg.rfind("(?=", 0) == 0 || arg.rfind("(?!", 0) == 0 || arg.rfind("(?<=", 0) == 0 ||
        arg.rfind("(?<!", 0) == 0) {
      return Status::InvalidArgument(
          where, "invalid regular expression: lookaround " + arg.substr(0, 4) +
                     " is not supported ($regex uses RE2 syntax, which matches in linear time)");
    }
  }
  return Status::InvalidArgument(where, "invalid regular expression (RE2 syntax): " + re->error());
}

bool SameKind(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) return true;
  return a.type() == b.type() && (a.is_string() || a.is_boolean());
}

bool AllDigits(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Every value the path reaches, looking into arrays of documents on the way.
void Collect(const Json& node, const std::vector<std::string>& path, size_t i,
             std::vector<const Json*>& out) {
  if (i == path.size()) {
    out.push_back(&node);
    return;
  }
  const std::string& key = path[i];
  if (node.is_object()) {
    auto it = node.find(key);
    if (it != node.end()) Collect(*it, path, i + 1, out);
  } else if (node.is_array()) {
    if (AllDigits(key)) {
      size_t index = std::stoul(key);
      if (index < node.size()) Collect(node[index], path, i + 1, out);
      return;
    }
    for (const Json& element : node) {
      if (element.is_object()) Collect(element, path, i, out);
    }
  }
}

}  // namespace

struct Filter::Node {
  enum class Kind { kAll, kAnd, kOr, kNor, kField };
  Kind kind = Kind::kAll;
  std::vector<Node> children;
  std::vector<std::string> path;
  std::string path_text;
  std::vector<Condition> conditions;
};

namespace {

using Node = Filter::Node;

class Evaluator {
 public:
  explicit Evaluator(const Json* context) : context_(context) {}

  Result<bool> Match(const Node& node, const Json& doc) {
    switch (node.kind) {
      case Node::Kind::kAll:
        return true;
      case Node::Kind::kAnd:
        for (const Node& child : node.children) {
          ASSIGN_OR_RETURN(bool ok, Match(child, doc));
          if (!ok) return false;
        }
        return true;
      case Node::Kind::kOr:
        for (const Node& child : node.children) {
          ASSIGN_OR_RETURN(bool ok, Match(child, doc));
          if (ok) return true;
        }
        return false;
      case Node::Kind::kNor:
        for (const Node& child : node.children) {
          ASSIGN_OR_RETURN(bool ok, Match(child, doc));
          if (ok) return false;
        }
        return true;
      case Node::Kind::kField: {
        std::vector<const Json*> values;
        Collect(doc, node.path, 0, values);
        for (const Condition& cond : node.conditions) {
          ASSIGN_OR_RETURN(bool ok, MatchCondition(cond, values));
          if (!ok) return false;
        }
        return true;
      }
    }
    return false;
  }

 private:
  // True if `pred` holds for a value or, for arrays, for any of its elements.
  template <typename Pred>
  static bool AnyValue(const std::vector<const Json*>& values, Pred pred) {
    for (const Json* v : values) {
      if (pred(*v)) return true;
      if (v->is_array()) {
        for (const Json& element : *v) {
          if (pred(element)) return true;
        }
      }
    }
    return false;
  }

  static bool Equals(const std::vector<const Json*>& values, const Json& operand) {
    if (operand.is_null() && values.empty()) return true;  // {f: null} matches a missing f
    return AnyValue(values, [&](const Json& v) { return v == operand; });
  }

  Result<bool> MatchCondition(const Condition& cond, const std::vector<const Json*>& values) {
    switch (cond.op) {
      case Op::kEq: {
        ASSIGN_OR_RETURN(Json operand, cond.operand.Resolve(context_));
        return Equals(values, operand);
      }
      case Op::kNe: {
        ASSIGN_OR_RETURN(Json operand, cond.operand.Resolve(context_));
        return !Equals(values, operand);
      }
      case Op::kGt:
      case Op::kGte:
      case Op::kLt:
      case Op::kLte: {
        ASSIGN_OR_RETURN(Json operand, cond.operand.Resolve(context_));
        Op op = cond.op;
        return AnyValue(values, [&](const Json& v) {
          if (!SameKind(v, operand)) return false;
          switch (op) {
            case Op::kGt:
              return operand < v;
            case Op::kGte:
              return !(v < operand);
            case Op::kLt:
              return v < operand;
            default:
              return !(operand < v);
          }
        });
      }
      case Op::kIn:
      case Op::kNin: {
        bool found = false;
        for (const Operand& item : cond.list) {
          ASSIGN_OR_RETURN(Json operand, item.Resolve(context_));
          if (Equals(values, operand)) {
            found = true;
            break;
          }
        }
        return cond.op == Op::kIn ? found : !found;
      }
      case Op::kExists:
        return cond.operand.value.get<bool>() == !values.empty();
      case Op::kSize: {
        auto size = cond.operand.value.get<uint64_t>();
        for (const Json* v : values) {
          if (v->is_array() && v->size() == size) return true;
        }
        return false;
      }
      case Op::kRegex: {
        const re2::RE2& re = *cond.regex;
        return AnyValue(values, [&](const Json& v) {
          return v.is_string() && re2::RE2::PartialMatch(v.get_ref<const std::string&>(), re);
        });
      }
      case Op::kNot:
        for (const Condition& inner : cond.negated) {
          ASSIGN_OR_RETURN(bool ok, MatchCondition(inner, values));
          if (!ok) return true;
        }
        return false;
    }
    return false;
  }

  const Json* context_;
};

class FilterParser {
 public:
  FilterParser(Filter::Options options, std::set<std::string>& roots)
      : options_(options), roots_(roots) {}

  Result<Node> ParseDocument(const Json& query, const std::string& where) {
    if (!query.is_object()) {
      return Status::InvalidArgument(
          Where(where), std::string("a filter must be an object, got ") + JsonTypeName(query));
    }
    Node node;
    node.kind = Node::Kind::kAnd;
    for (auto it = query.begin(); it != query.end(); ++it) {
      const std::string& key = it.key();
      std::string here = where.empty() ? key : where + "." + key;
      if (key == "$and" || key == "$or" || key == "$nor") {
        ASSIGN_OR_RETURN(Node logical, ParseLogical(key, it.value(), here));
        node.children.push_back(std::move(logical));
      } else if (!key.empty() && key[0] == '$') {
        return Status::InvalidArgument(
            Where(where), "unknown top-level operator " + key + " (known: $and, $or, $nor)");
      } else {
        ASSIGN_OR_RETURN(Node field, ParseField(key, it.value(), here));
        node.children.push_back(std::move(field));
      }
    }
    if (node.children.empty()) node.kind = Node::Kind::kAll;
    if (node.children.size() == 1) return std::move(node.children[0]);
    return node;
  }

 private:
  static std::string Where(const std::string& where) { return where.empty() ? "filter" : where; }

  Result<Node> ParseLogical(const std::string& op, const Json& value, const std::string& where) {
    if (!value.is_array() || value.empty()) {
      return Status::InvalidArgument(where, op + " needs a non-empty array of filters");
    }
    Node node;
    node.kind = op == "$and" ? Node::Kind::kAnd : op == "$or" ? Node::Kind::kOr : Node::Kind::kNor;
    for (size_t i = 0; i < value.size(); ++i) {
      ASSIGN_OR_RETURN(Node child, ParseDocument(value[i], where + "[" + std::to_string(i) + "]"));
      node.children.push_back(std::move(child));
    }
    return node;
  }

  Result<Node> ParseField(const std::string& path_text, const Json& value,
                          const std::string& where) {
    Node node;
    node.kind = Node::Kind::kField;
    node.path_text = path_text;
    size_t start = 0;
    while (true) {
      size_t dot = path_text.find('.', start);
      std::string seg =
          path_text.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (seg.empty()) return Status::InvalidArgument(where, "empty segment in field path");
      node.path.push_back(std::move(seg));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    roots_.insert(node.path[0]);
    ASSIGN_OR_RETURN(node.conditions, ParseConditions(value, where));
    return node;
  }

  static bool IsOperatorObject(const Json& value) {
    if (!value.is_object() || value.empty()) return false;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (it.key().empty() || it.key()[0] != '$') return false;
    }
    return true;
  }

  Result<std::vector<Condition>> ParseConditions(const Json& value, const std::string& where) {
    std::vector<Condition> conditions;
    if (!IsOperatorObject(value)) {
      if (value.is_object()) {
        for (auto it = value.begin(); it != value.end(); ++it) {
          if (!it.key().empty() && it.key()[0] == '$') {
            return Status::InvalidArgument(where, "cannot mix operators like " + it.key() +
                                                      " with plain fields in one object");
          }
        }
      }
      Condition eq;
      eq.op = Op::kEq;
      ASSIGN_OR_RETURN(eq.operand, ParseOperand(value, where));
      conditions.push_back(std::move(eq));
      return conditions;
    }
    const Json* options = nullptr;
    if (auto it = value.find("$options"); it != value.end()) {
      if (value.find("$regex") == value.end()) {
        return Status::InvalidArgument(where, "$options is only valid next to $regex");
      }
      options = &*it;
    }
    for (auto it = value.begin(); it != value.end(); ++it) {
      const std::string& op = it.key();
      if (op == "$options") continue;
      ASSIGN_OR_RETURN(Condition cond, ParseCondition(op, it.value(), options, where + "." + op));
      conditions.push_back(std::move(cond));
    }
    return conditions;
  }

  Result<Condition> ParseCondition(const std::string& op, const Json& arg, const Json* options,
                                   const std::string& where) {
    static const std::pair<const char*, Op> kComparisons[] = {{"$eq", Op::kEq}, {"$ne", Op::kNe},
                                                              {"$gt", Op::kGt}, {"$gte", Op::kGte},
                                                              {"$lt", Op::kLt}, {"$lte", Op::kLte}};
    Condition cond;
    for (const auto& [name, kind] : kComparisons) {
      if (op == name) {
        cond.op = kind;
        ASSIGN_OR_RETURN(cond.operand, ParseOperand(arg, where));
        return cond;
      }
    }
    if (op == "$in" || op == "$nin") {
      cond.op = op == "$in" ? Op::kIn : Op::kNin;
      if (!arg.is_array()) return Status::InvalidArgument(where, op + " needs an array");
      for (size_t i = 0; i < arg.size(); ++i) {
        ASSIGN_OR_RETURN(Operand item, ParseOperand(arg[i], where + "[" + std::to_string(i) + "]"));
        cond.list.push_back(std::move(item));
      }
      return cond;
    }
    if (op == "$exists") {
      if (!arg.is_boolean()) return Status::InvalidArgument(where, "$exists needs true or false");
      cond.op = Op::kExists;
      cond.operand.value = arg;
      return cond;
    }
    if (op == "$size") {
      if (!arg.is_number_integer() || arg.get<int64_t>() < 0) {
        return Status::InvalidArgument(where, "$size needs a non-negative integer");
      }
      cond.op = Op::kSize;
      cond.operand.value = arg;
      return cond;
    }
    if (op == "$regex") {
      if (!arg.is_string()) return Status::InvalidArgument(where, "$regex needs a string");
      ASSIGN_OR_RETURN(cond.regex, CompileRegex(arg.get<std::string>(), options, where));
      cond.op = Op::kRegex;
      return cond;
    }
    if (op == "$not") {
      cond.op = Op::kNot;
      if (!IsOperatorObject(arg)) {
        return Status::InvalidArgument(where, "$not needs an operator object such as {\"$gt\": 5}");
      }
      ASSIGN_OR_RETURN(cond.negated, ParseConditions(arg, where));
      return cond;
    }
    return Status::InvalidArgument(where, "unknown operator " + op +
                                              " (known: $eq $ne $gt $gte $lt $lte $in $nin $exists "
                                              "$regex $size $not)");
  }

  Result<Operand> ParseOperand(const Json& value, const std::string& where) {
    Operand operand;
    operand.value = value;
    if (value.is_string() && Template::ContainsExpression(value.get_ref<const std::string&>())) {
      if (!options_.allow_templates) {
        return Status::InvalidArgument(where, "templates are not allowed in this filter");
      }
      auto t = Template::Parse(value.get_ref<const std::string&>());
      if (!t.ok()) return t.status().WithContext(where);
      operand.tmpl = std::move(t).value();
    }
    return operand;
  }

  Filter::Options options_;
  std::set<std::string>& roots_;
};

}  // namespace

Filter::Filter() : root_(std::make_shared<Node>()), source_(Json::object()) {}
Filter::~Filter() = default;
Filter::Filter(const Filter&) = default;
Filter& Filter::operator=(const Filter&) = default;
Filter::Filter(Filter&&) noexcept = default;
Filter& Filter::operator=(Filter&&) noexcept = default;

Result<Filter> Filter::Parse(const Json& query, Options options) {
  Filter filter;
  FilterParser parser(options, filter.roots_);
  ASSIGN_OR_RETURN(Node root, parser.ParseDocument(query, ""));
  filter.root_ = std::make_shared<const Node>(std::move(root));
  filter.source_ = query;
  return filter;
}

Result<bool> Filter::Matches(const Json& document, const Json& template_context) const {
  Evaluator evaluator(&template_context);
  return evaluator.Match(*root_, document);
}

bool Filter::Matches(const Json& document) const {
  Evaluator evaluator(nullptr);
  auto result = evaluator.Match(*root_, document);
  return result.ok() && *result;
}

bool Filter::matches_everything() const { return root_->kind == Node::Kind::kAll; }
const std::set<std::string>& Filter::referenced_roots() const { return roots_; }
const Json& Filter::source() const { return source_; }

}  // namespace rivulet::core
