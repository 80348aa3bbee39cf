#pragma once

#include <httplib.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/filter.h"
#include "core/result.h"

namespace rivulet::server {

// The query string of one request, checked against the parameters a route accepts:
// an unknown or repeated parameter is an error, so a typo never silently does nothing.
// Parsed from the request target itself: httplib also merges form-encoded bodies into
// req.params, and a body is never a query parameter.
class QueryParams {
 public:
  // InvalidArgument naming the first unknown or repeated parameter.
  static Result<QueryParams> Parse(const httplib::Request& req,
                                   std::initializer_list<std::string_view> allowed);

  std::optional<std::string> Get(std::string_view name) const;

  // An integer in [min, max]; `fallback` when absent. Errors:
  // `limit: expected an integer between 1 and 10000, got "x"`.
  Result<int64_t> Int(std::string_view name, int64_t min, int64_t max, int64_t fallback) const;
  Result<std::optional<int64_t>> OptionalInt(std::string_view name, int64_t min, int64_t max) const;
  // A JSON filter document, e.g. match={"type":"OrderInsert"}.
  Result<std::optional<core::Filter>> FilterParam(std::string_view name) const;
  // A comma-separated list; empty entries are errors.
  Result<std::vector<std::string>> List(std::string_view name) const;

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

// Splits "a=1&b=x%20y" into decoded pairs ('+' is a space). Malformed percent escapes
// are an error.
Result<std::multimap<std::string, std::string>> ParseQueryString(std::string_view query);

}  // namespace rivulet::server
