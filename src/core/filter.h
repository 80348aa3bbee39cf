#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/result.h"

namespace rivulet::core {

// A compiled MongoDB query document (SPEC section 4, Filters) over dotted paths:
//
//   { "type": "OrderInsert",                               bare value = $eq
//     "data.after.total_amount": { "$gt": 0, "$lte": 1000 },
//     "$or": [ { "data.after.status": "pending" }, { "data.after.rush": true } ] }
//
// Operators: $eq $ne $gt $gte $lt $lte $in $nin $exists $and $or $nor $not $regex
// (with $options i, m, s, x) $size. Semantics follow MongoDB where it matters for JSON:
// a path that crosses an array looks into every element, a comparison against an
// array field matches if any element does, {f: null} matches a missing field, and
// ordering comparisons only match values of the same kind (numbers with numbers,
// strings with strings, booleans with booleans).
//
// Parsed once (errors name the offending path: `data.total: $gt needs a value`),
// evaluated many times; a Filter is immutable and thread-safe.
class Filter {
 public:
  struct Options {
    // Allow operand strings to be templates (`{data.order_id: "${saga.id}"}`), which
    // are evaluated against the template context given to Matches.
    bool allow_templates = false;
  };

  Filter();  // matches everything
  ~Filter();
  Filter(const Filter&);
  Filter& operator=(const Filter&);
  Filter(Filter&&) noexcept;
  Filter& operator=(Filter&&) noexcept;

  static Result<Filter> Parse(const Json& query, Options options);
  static Result<Filter> Parse(const Json& query) { return Parse(query, Options{}); }

  // Errors come only from operand templates that cannot be evaluated.
  Result<bool> Matches(const Json& document, const Json& template_context) const;
  // For filters without templates.
  bool Matches(const Json& document) const;

  bool matches_everything() const;
  // The first segment of every path the filter reads ("data", "type", ...), so a caller
  // can skip building parts of the document nobody looks at.
  const std::set<std::string>& referenced_roots() const;
  const Json& source() const;

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
  std::set<std::string> roots_;
  Json source_;
};

}  // namespace rivulet::core
