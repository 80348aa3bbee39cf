#include "server/query_params.h"

#include "core/json.h"
#include "core/status_macros.h"

namespace rivulet::server {

namespace {
int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> DecodeComponent(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      bool complete = i + 2 < text.size();
      int hi = complete ? HexDigit(text[i + 1]) : -1;
      int lo = complete ? HexDigit(text[i + 2]) : -1;
      if (hi < 0 || lo < 0)
        return Status::InvalidArgument("malformed percent escape in the query string");
      out.push_back(static_cast<char>(hi << 4 | lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}
}  // namespace

Result<std::multimap<std::string, std::string>> ParseQueryString(std::string_view query) {
  std::multimap<std::string, std::string> out;
  size_t start = 0;
  while (start <= query.size()) {
    size_t amp = query.find('&', start);
    std::string_view pair =
        query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      ASSIGN_OR_RETURN(std::string key, DecodeComponent(pair.substr(0, eq)));
      std::string value;
      if (eq != std::string_view::npos) {
        ASSIGN_OR_RETURN(value, DecodeComponent(pair.substr(eq + 1)));
      }
      out.emplace(std::move(key), std::move(value));
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return out;
}

Result<QueryParams> QueryParams::Parse(const httplib::Request& req,
                                       std::initializer_list<std::string_view> allowed) {
  std::string_view target = req.target;
  size_t question = target.find('?');
  std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  ASSIGN_OR_RETURN(auto pairs, ParseQueryString(query));
  QueryParams params;
  for (auto& [key, value] : pairs) {
    bool known = false;
    for (std::string_view a : allowed) known = known || a == key;
    if (!known) {
      std::string list;
      for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return Status::InvalidArgument(
          "unknown query parameter \"" + key.substr(0, 64) + "\"" +
          (list.empty() ? std::string(" (this endpoint takes none)") : " (known: " + list + ")"));
    }
    if (!params.values_.emplace(key, value).second) {
      return Status::InvalidArgument("query parameter \"" + key + "\" is given more than once");
    }
  }
  return params;
}

std::optional<std::string> QueryParams::Get(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

Result<std::optional<int64_t>> QueryParams::OptionalInt(std::string_view name, int64_t min,
                                                        int64_t max) const {
  auto text = Get(name);
  if (!text) return std::optional<int64_t>();
  bool ok = !text->empty() && text->size() <= 18;
  size_t start = (*text)[0] == '-' ? 1 : 0;
  ok = ok && text->size() > start &&
       text->find_first_not_of("0123456789", start) == std::string::npos;
  int64_t value = ok ? std::stoll(*text) : 0;
  if (!ok || value < min || value > max) {
    return Status::InvalidArgument(
        std::string(name), "expected an integer between " + std::to_string(min) + " and " +
                               std::to_string(max) + ", got \"" + text->substr(0, 32) + "\"");
  }
  return std::optional<int64_t>(value);
}

Result<int64_t> QueryParams::Int(std::string_view name, int64_t min, int64_t max,
                                 int64_t fallback) const {
  ASSIGN_OR_RETURN(std::optional<int64_t> value, OptionalInt(name, min, max));
  return value.value_or(fallback);
}

Result<std::optional<core::Filter>> QueryParams::FilterParam(std::string_view name) const {
  auto text = Get(name);
  if (!text) return std::optional<core::Filter>();
  auto json = core::ParseJson(*text);
  if (!json.ok()) return json.status().WithContext(std::string(name));
  auto filter = core::Filter::Parse(*json);
  if (!filter.ok()) return filter.status().WithContext(std::string(name));
  return std::optional<core::Filter>(std::move(filter).value());
}

Result<std::vector<std::string>> QueryParams::List(std::string_view name) const {
  std::vector<std::string> out;
  auto text = Get(name);
  if (!text) return out;
  size_t start = 0;
  while (true) {
    size_t comma = text->find(',', start);
    std::string item =
        text->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty())
      return Status::InvalidArgument(std::string(name), "empty entry in a comma-separated list");
    out.push_back(std::move(item));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace rivulet::server
