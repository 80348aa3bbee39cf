#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/json_path.h"
#include "core/result.h"

namespace rivulet::core {

// A compiled template string (SPEC section 4, Templates).
//
//   template   := ( text | "$${" | "${" expression "}" )*        "$${" is a literal "${"
//   expression := operand ( "??" operand )* ( "|" filter )*
//   operand    := path | "string" | number | true | false | null
//   path       := name ( "." name | "[" index "]" | "[\"" key "\"]" )*
//   filter     := pascal | camel | snake | lower | upper | string | number | json
//               | default:VALUE | bucket:DURATION
//
// Parse once, evaluate many times; evaluation is thread-safe. When the whole template
// is one ${...} the result keeps its JSON type; otherwise the parts are rendered as
// text (strings as themselves, other values as JSON). A path that does not resolve is
// an error naming the template and the path, except under `??` (the first operand that
// exists and is not null wins) and `default`.
class Template {
 public:
  Template();  // the empty constant string
  ~Template();
  Template(const Template&);
  Template& operator=(const Template&);
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // Errors look like `template "order-${id": missing '}' for '${' at offset 6`.
  static Result<Template> Parse(std::string_view text);

  // True if `text` contains a ${...} (and so should be compiled as a template).
  static bool ContainsExpression(std::string_view text);

  Result<Json> Evaluate(const Json& context) const;
  // Evaluates and renders the result as text.
  Result<std::string> EvaluateString(const Json& context) const;

  const std::string& source() const;
  bool is_constant() const;
  // Every context path the template reads, e.g. for checking what a saga step may see.
  std::vector<JsonPath> ReferencedPaths() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;  // immutable once parsed, shared between copies
};

// A JSON value whose strings may be templates: `{order_id: "${saga.id}", n: 1}`.
// Evaluation returns the same shape with every template replaced by its value.
class JsonTemplate {
 public:
  JsonTemplate() = default;
  // Errors name where in the shape the bad template sits: `body.order_id: template ...`.
  static Result<JsonTemplate> Parse(const Json& shape);

  Result<Json> Evaluate(const Json& context) const;
  bool is_constant() const { return templates_.empty(); }
  const Json& shape() const { return shape_; }
  std::vector<JsonPath> ReferencedPaths() const;

 private:
  struct Slot {
    JsonPath where;  // location of the template inside shape_
    Template tmpl;
  };
  Json shape_;
  std::vector<Slot> templates_;
};

// Renders a value the way template text interpolation does.
void AppendTemplateText(std::string& out, const Json& value);

}  // namespace rivulet::core
