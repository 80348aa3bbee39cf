#include "core/template.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "core/duration.h"
#include "core/status_macros.h"
#include "core/time_format.h"

namespace rivulet::core {

namespace {

enum class FilterKind {
  kPascal,
  kCamel,
  kSnake,
  kLower,
  kUpper,
  kString,
  kNumber,
  kJson,
  kDefault,
  kBucket
};

struct FilterOp {
  FilterKind kind;
  std::string name;
  Json default_value;     // kDefault
  int64_t bucket_ms = 0;  // kBucket
};

struct Operand {
  bool is_literal = false;
  Json literal;
  JsonPath path;
  std::string path_text;
};

struct Expression {
  std::vector<Operand> alternatives;
  std::vector<FilterOp> filters;
};

struct Part {
  bool is_text = true;
  std::string text;
  Expression expr;
};

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
char ToLower(char c) { return IsUpper(c) ? static_cast<char>(c - 'A' + 'a') : c; }
char ToUpper(char c) { return IsLower(c) ? static_cast<char>(c - 'a' + 'A') : c; }

// Splits "order_created", "order-created", "orderCreated", "HTTPServer" into lower-case
// words. Bytes >= 0x80 (UTF-8) belong to words and are never case-mapped.
std::vector<std::string> SplitWords(std::string_view s) {
  std::vector<std::string> words;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) words.push_back(std::move(cur));
    cur.clear();
  };
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool word_char = IsAsciiAlnum(c) || static_cast<unsigned char>(c) >= 0x80;
    if (!word_char) {
      flush();
      continue;
    }
    if (IsUpper(c) && !cur.empty()) {
      char prev = s[i - 1];
      bool next_lower = i + 1 < s.size() && IsLower(s[i + 1]);
      if (IsLower(prev) || (IsUpper(prev) && next_lower)) flush();
    }
    cur.push_back(ToLower(c));
  }
  flush();
  return words;
}

std::string CaseConvert(std::string_view s, FilterKind kind) {
  std::vector<std::string> words = SplitWords(s);
  std::string out;
  for (size_t w = 0; w < words.size(); ++w) {
    std::string& word = words[w];
    if (kind == FilterKind::kSnake) {
      if (w > 0) out.push_back('_');
      out += word;
      continue;
    }
    if (kind == FilterKind::kPascal || w > 0) word[0] = ToUpper(word[0]);
    out += word;
  }
  return out;
}

Json ParseDefaultValue(std::string_view arg) {
  // A JSON scalar if it reads as one ("0", "true", "\"x\""), the raw text otherwise.
  if (!arg.empty() && arg.front() != '{' && arg.front() != '[') {
    if (auto parsed = ParseJson(arg); parsed.ok()) return std::move(parsed).value();
  }
  return std::string(arg);
}

Result<Json> ToNumber(const Json& v) {
  if (v.is_number()) return v;
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (!s.empty() && !IsSpace(s.front()) && !IsSpace(s.back())) {
      errno = 0;
      char* end = nullptr;
      long long as_int = std::strtoll(s.c_str(), &end, 10);
      if (errno == 0 && end == s.c_str() + s.size()) return Json(static_cast<int64_t>(as_int));
      errno = 0;
      double as_double = std::strtod(s.c_str(), &end);
      if (errno == 0 && end == s.c_str() + s.size() && std::isfinite(as_double)) {
        return Json(as_double);
      }
    }
  }
  return Status::InvalidArgument("cannot convert " + JsonForMessage(v) + " to a number");
}

// Milliseconds since the epoch, within years 0000-9999 (so bucket arithmetic cannot
// overflow and the result can be written).
Result<int64_t> ToMillis(const Json& v) {
  if (v.is_string()) return ParseRfc3339(v.get_ref<const std::string&>());
  if (!v.is_number()) {
    return Status::InvalidArgument("expected a timestamp, got " + std::string(JsonTypeName(v)));
  }
  int64_t ms = 0;
  bool in_range = false;
  if (v.is_number_unsigned()) {
    in_range = v.get<uint64_t>() <= static_cast<uint64_t>(kMaxRfc3339Millis);
    if (in_range) ms = static_cast<int64_t>(v.get<uint64_t>());
  } else if (v.is_number_integer()) {
    ms = v.get<int64_t>();
    in_range = ms >= kMinRfc3339Millis && ms <= kMaxRfc3339Millis;
  } else {
    const double d = std::floor(v.get<double>());  // NaN and infinities fail both tests
    in_range =
        d >= static_cast<double>(kMinRfc3339Millis) && d <= static_cast<double>(kMaxRfc3339Millis);
    if (in_range) ms = static_cast<int64_t>(d);
  }
  if (!in_range) {
    return Status::InvalidArgument("timestamp " + JsonForMessage(v) +
                                   " (milliseconds since 1970) is outside years 0000-9999");
  }
  return ms;
}

class Parser {
 public:
  explicit Parser(std::string_view source) : src_(source) {}

  Result<std::vector<Part>> ParseAll() {
    std::vector<Part> parts;
    std::string text;
    size_t i = 0;
    while (i < src_.size()) {
      if (src_.compare(i, 3, "$${") == 0) {
        text += "${";
        i += 3;
        continue;
      }
      if (src_.compare(i, 2, "${") != 0) {
        text.push_back(src_[i++]);
        continue;
      }
      size_t close = FindClose(i + 2);
      if (close == std::string_view::npos) return Error(i, "missing '}' for '${'");
      if (!text.empty()) {
        parts.push_back(Part{true, std::move(text), {}});
        text.clear();
      }
      Part part;
      part.is_text = false;
      ASSIGN_OR_RETURN(part.expr, ParseExpression(i + 2, close));
      parts.push_back(std::move(part));
      i = close + 1;
    }
    if (!text.empty() || parts.empty()) parts.push_back(Part{true, std::move(text), {}});
    return parts;
  }

 private:
  Status Error(size_t offset, const std::string& what) const {
    return Status::InvalidArgument("template \"" + std::string(src_) + "\": " + what +
                                   " at offset " + std::to_string(offset));
  }

  // True if position `i` belongs to a "string literal" (tracked in `in_string`); steps
  // `i` over an escaped character.
  bool InStringLiteral(size_t& i, bool& in_string) const {
    char c = src_[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      return true;
    }
    if (c == '"') in_string = true;
    return in_string;
  }

  // The '}' closing an expression that starts at `from`, skipping string literals.
  size_t FindClose(size_t from) const {
    bool in_string = false;
    for (size_t i = from; i < src_.size(); ++i) {
      if (!InStringLiteral(i, in_string) && src_[i] == '}') return i;
    }
    return std::string_view::npos;
  }

  // Splits [begin, end) on `sep` outside string literals.
  std::vector<std::pair<size_t, size_t>> Split(size_t begin, size_t end,
                                               std::string_view sep) const {
    std::vector<std::pair<size_t, size_t>> pieces;
    bool in_string = false;
    size_t start = begin;
    for (size_t i = begin; i < end; ++i) {
      if (InStringLiteral(i, in_string)) continue;
      if (src_.compare(i, sep.size(), sep) == 0 && i + sep.size() <= end) {
        pieces.emplace_back(start, i);
        i += sep.size() - 1;
        start = i + 1;
      }
    }
    pieces.emplace_back(start, end);
    return pieces;
  }

  Result<Expression> ParseExpression(size_t begin, size_t end) {
    Expression expr;
    auto stages = Split(begin, end, "|");
    auto alternatives = Split(stages[0].first, stages[0].second, "??");
    for (auto [b, e] : alternatives) {
      ASSIGN_OR_RETURN(Operand operand, ParseOperand(b, e));
      expr.alternatives.push_back(std::move(operand));
    }
    for (size_t s = 1; s < stages.size(); ++s) {
      ASSIGN_OR_RETURN(FilterOp op, ParseFilter(stages[s].first, stages[s].second));
      expr.filters.push_back(std::move(op));
    }
    return expr;
  }

  Result<Operand> ParseOperand(size_t b, size_t e) {
    std::string_view raw = src_.substr(b, e - b);
    std::string_view text = Trim(raw);
    if (text.empty()) return Error(b, "expected a path or a literal");
    Operand operand;
    char c = text.front();
    if (c == '"' || c == '-' || (c >= '0' && c <= '9') || text == "true" || text == "false" ||
        text == "null") {
      auto literal = ParseJson(text);
      if (!literal.ok()) return Error(b, "invalid literal " + std::string(text));
      operand.literal = std::move(literal).value();
      operand.is_literal = true;
      return operand;
    }
    auto path = ParseJsonPath(text);
    if (!path.ok()) return Error(b, path.status().message());
    operand.path = std::move(path).value();
    operand.path_text = std::string(text);
    return operand;
  }

  Result<FilterOp> ParseFilter(size_t b, size_t e) {
    std::string_view text = Trim(src_.substr(b, e - b));
    std::string_view name = text;
    std::string_view arg;
    bool has_arg = false;
    if (auto colon = text.find(':'); colon != std::string_view::npos) {
      name = Trim(text.substr(0, colon));
      arg = Trim(text.substr(colon + 1));
      has_arg = true;
    }
    FilterOp op;
    op.name = std::string(name);
    static const std::pair<std::string_view, FilterKind> kPlain[] = {
        {"pascal", FilterKind::kPascal}, {"camel", FilterKind::kCamel},
        {"snake", FilterKind::kSnake},   {"lower", FilterKind::kLower},
        {"upper", FilterKind::kUpper},   {"string", FilterKind::kString},
        {"number", FilterKind::kNumber}, {"json", FilterKind::kJson}};
    for (const auto& [plain_name, kind] : kPlain) {
      if (name == plain_name) {
        if (has_arg) return Error(b, "filter " + op.name + " takes no argument");
        op.kind = kind;
        return op;
      }
    }
    if (name == "default") {
      if (!has_arg) return Error(b, "filter default needs a value, as in default:0");
      op.kind = FilterKind::kDefault;
      op.default_value = ParseDefaultValue(arg);
      return op;
    }
    if (name == "bucket") {
      auto duration = ParseDuration(arg);
      if (!has_arg || !duration.ok() || duration->count() <= 0) {
        return Error(b, "filter bucket needs a duration, as in bucket:1h");
      }
      op.kind = FilterKind::kBucket;
      op.bucket_ms = duration->count();
      return op;
    }
    if (name.empty()) return Error(b, "expected a filter name after '|'");
    return Error(b, "unknown filter \"" + op.name +
                        "\" (known: pascal, camel, snake, lower, upper, string, number, json, "
                        "default, bucket)");
  }

  std::string_view src_;
};

}  // namespace

struct Template::Impl {
  std::string source;
  std::vector<Part> parts;
  bool single_expression = false;
  bool constant = true;

  Status Error(const std::string& what) const {
    return Status::InvalidArgument("template \"" + source + "\": " + what);
  }

  Result<Json> EvaluateExpression(const Expression& expr, const Json& context) const {
    std::optional<Json> value;
    bool found_null = false;
    for (const Operand& alt : expr.alternatives) {
      const Json* v = alt.is_literal ? &alt.literal : FindJsonPath(context, alt.path);
      if (v == nullptr) continue;
      if (v->is_null()) {
        found_null = true;
        continue;
      }
      value = *v;
      break;
    }
    if (!value && found_null) value = Json(nullptr);
    for (const FilterOp& op : expr.filters) {
      if (op.kind == FilterKind::kDefault) {
        if (!value || value->is_null()) value = op.default_value;
        continue;
      }
      if (!value) return MissingError(expr);
      auto applied = ApplyFilter(op, *value);
      if (!applied.ok()) return Error("filter " + op.name + ": " + applied.status().message());
      value = std::move(applied).value();
    }
    if (!value) return MissingError(expr);
    return std::move(*value);
  }

  Status MissingError(const Expression& expr) const {
    std::string paths;
    for (const Operand& alt : expr.alternatives) {
      if (alt.is_literal) continue;
      if (!paths.empty()) paths += ", ";
      paths += alt.path_text;
    }
    if (expr.alternatives.size() == 1) return Error(paths + " not found");
    return Error("none of " + paths + " is set");
  }

  static Result<Json> ApplyFilter(const FilterOp& op, const Json& v) {
    switch (op.kind) {
      case FilterKind::kPascal:
      case FilterKind::kCamel:
      case FilterKind::kSnake:
      case FilterKind::kLower:
      case FilterKind::kUpper: {
        if (!v.is_string()) {
          return Status::InvalidArgument(std::string("expected a string, got ") + JsonTypeName(v));
        }
        std::string s = v.get<std::string>();
        if (op.kind == FilterKind::kLower) {
          for (char& c : s) c = ToLower(c);
          return Json(std::move(s));
        }
        if (op.kind == FilterKind::kUpper) {
          for (char& c : s) c = ToUpper(c);
          return Json(std::move(s));
        }
        return Json(CaseConvert(s, op.kind));
      }
      case FilterKind::kString: {
        std::string out;
        AppendTemplateText(out, v);
        return Json(std::move(out));
      }
      case FilterKind::kNumber:
        return ToNumber(v);
      case FilterKind::kJson:
        return Json(DumpJson(v));
      case FilterKind::kBucket: {
        ASSIGN_OR_RETURN(int64_t ms, ToMillis(v));
        int64_t floored = ms - ((ms % op.bucket_ms) + op.bucket_ms) % op.bucket_ms;
        ASSIGN_OR_RETURN(std::string text, FormatTimestamp(floored));
        return Json(std::move(text));
      }
      case FilterKind::kDefault:
        return v;
    }
    return v;
  }
};

Template::Template() : impl_(std::make_shared<Impl>()) {}
Template::~Template() = default;
Template::Template(const Template&) = default;
Template& Template::operator=(const Template&) = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

bool Template::ContainsExpression(std::string_view text) {
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] == '$' && text[i + 1] == '{') return true;
  }
  return false;
}

Result<Template> Template::Parse(std::string_view text) {
  Parser parser(text);
  ASSIGN_OR_RETURN(std::vector<Part> parts, parser.ParseAll());
  auto impl = std::make_shared<Impl>();
  impl->source = std::string(text);
  impl->parts = std::move(parts);
  impl->single_expression = impl->parts.size() == 1 && !impl->parts[0].is_text;
  for (const Part& part : impl->parts) {
    if (!part.is_text) impl->constant = false;
  }
  Template t;
  t.impl_ = std::move(impl);
  return t;
}

Result<Json> Template::Evaluate(const Json& context) const {
  if (impl_->single_expression) return impl_->EvaluateExpression(impl_->parts[0].expr, context);
  ASSIGN_OR_RETURN(std::string text, EvaluateString(context));
  return Json(std::move(text));
}

Result<std::string> Template::EvaluateString(const Json& context) const {
  std::string out;
  for (const Part& part : impl_->parts) {
    if (part.is_text) {
      out += part.text;
      continue;
    }
    ASSIGN_OR_RETURN(Json value, impl_->EvaluateExpression(part.expr, context));
    AppendTemplateText(out, value);
  }
  return out;
}

const std::string& Template::source() const { return impl_->source; }
bool Template::is_constant() const { return impl_->constant; }

std::vector<JsonPath> Template::ReferencedPaths() const {
  std::vector<JsonPath> paths;
  for (const Part& part : impl_->parts) {
    if (part.is_text) continue;
    for (const Operand& alt : part.expr.alternatives) {
      if (!alt.is_literal) paths.push_back(alt.path);
    }
  }
  return paths;
}

void AppendTemplateText(std::string& out, const Json& value) {
  if (value.is_string()) {
    out += value.get_ref<const std::string&>();
  } else {
    out += DumpJson(value);
  }
}

namespace {
Status CompileShape(const Json& node, JsonPath& where,
                    std::vector<std::pair<JsonPath, Template>>& out) {
  if (node.is_string()) {
    const std::string& s = node.get_ref<const std::string&>();
    if (!Template::ContainsExpression(s)) return Status::Ok();
    auto t = Template::Parse(s);
    if (!t.ok()) {
      if (where.empty()) return t.status();
      return t.status().WithContext(FormatJsonPath(where));
    }
    out.emplace_back(where, std::move(t).value());
  } else if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      where.push_back(PathSegment{it.key(), 0, false});
      Status st = CompileShape(it.value(), where, out);
      where.pop_back();
      RETURN_IF_ERROR(st);
    }
  } else if (node.is_array()) {
    for (size_t i = 0; i < node.size(); ++i) {
      where.push_back(PathSegment{"", static_cast<int64_t>(i), true});
      Status st = CompileShape(node[i], where, out);
      where.pop_back();
      RETURN_IF_ERROR(st);
    }
  }
  return Status::Ok();
}

Json* MutablePath(Json& root, const JsonPath& path) {
  Json* cur = &root;
  for (const PathSegment& seg : path) {
    cur = seg.is_index ? &(*cur)[static_cast<size_t>(seg.index)] : &(*cur)[seg.key];
  }
  return cur;
}
}  // namespace

Result<JsonTemplate> JsonTemplate::Parse(const Json& shape) {
  std::vector<std::pair<JsonPath, Template>> compiled;
  JsonPath where;
  RETURN_IF_ERROR(CompileShape(shape, where, compiled));
  JsonTemplate t;
  t.shape_ = shape;
  for (auto& [path, tmpl] : compiled)
    t.templates_.push_back(Slot{std::move(path), std::move(tmpl)});
  return t;
}

Result<Json> JsonTemplate::Evaluate(const Json& context) const {
  Json out = shape_;
  for (const Slot& slot : templates_) {
    auto value = slot.tmpl.Evaluate(context);
    if (!value.ok()) {
      if (slot.where.empty()) return value.status();
      return value.status().WithContext(FormatJsonPath(slot.where));
    }
    *MutablePath(out, slot.where) = std::move(value).value();
  }
  return out;
}

std::vector<JsonPath> JsonTemplate::ReferencedPaths() const {
  std::vector<JsonPath> paths;
  for (const Slot& slot : templates_) {
    for (JsonPath& p : slot.tmpl.ReferencedPaths()) paths.push_back(std::move(p));
  }
  return paths;
}

}  // namespace rivulet::core
