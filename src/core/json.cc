#include "core/json.h"

#include <exception>
#include <new>

namespace rivulet::core {

namespace {
// True if brackets outside strings nest deeper than `limit`. Cheap enough to run before
// every parse; stops at the first level over the limit.
bool NestsDeeperThan(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// nlohmann's "[json.exception.parse_error.101] parse error at line 1, column 2: ..."
// without the bracketed id and the leading "parse error ".
std::string ParserMessage(const char* what) {
  std::string text = what;
  auto pos = text.find("] ");
  if (pos != std::string::npos) text = text.substr(pos + 2);
  if (text.rfind("parse error ", 0) == 0) text = text.substr(12);
  return text;
}
}  // namespace

Result<Json> ParseJson(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return Status::ResourceExhausted("invalid JSON: the text is larger than " +
                                     std::to_string(limits.max_bytes) + " bytes")
        .WithReason("too_large");
  }
  if (NestsDeeperThan(text, limits.max_depth)) {
    return Status::InvalidArgument("invalid JSON: nested deeper than " +
                                   std::to_string(limits.max_depth) + " levels")
        .WithReason("too_deep");
  }
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    // parse_error (syntax, invalid UTF-8), out_of_range (number overflow, as in 1e400)
    return Status::InvalidArgument("invalid JSON: " + ParserMessage(e.what()));
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("invalid JSON: not enough memory to parse " +
                                     std::to_string(text.size()) + " bytes");
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("invalid JSON: ") + e.what());
  }
}

Json ParseJsonOr(std::string_view text, Json fallback, const JsonLimits& limits) {
  Result<Json> parsed = ParseJson(text, limits);
  return parsed.ok() ? std::move(parsed).value() : std::move(fallback);
}

std::string DumpJson(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t run = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
    }
  }
  out.append(text.data() + run, text.size() - run);
  out.push_back('"');
}

const char* JsonTypeName(const Json& value) {
  switch (value.type()) {
    case Json::value_t::object:
      return "object";
    case Json::value_t::array:
      return "array";
    case Json::value_t::string:
      return "string";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::null:
      return "null";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "number";
    default:
      return "value";
  }
}

std::string JsonForMessage(const Json& value) {
  std::string text = DumpJson(value);
  if (text.size() > 64) text = text.substr(0, 61) + "...";
  return text;
}

}  // namespace rivulet::core
