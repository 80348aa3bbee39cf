#include "server/api_error.h"

#include "core/json.h"

namespace rivulet::server {

HttpError ToHttpError(const Status& status) {
  const std::string& reason = status.reason();
  switch (status.code()) {
    case StatusCode::kOk:
      return {200, "ok"};
    case StatusCode::kInvalidArgument:
      return {400, "invalid_argument"};
    case StatusCode::kUnauthenticated:
      return {401, "unauthenticated"};
    case StatusCode::kPermissionDenied:
      return {403, "permission_denied"};
    case StatusCode::kNotFound:
      return {404, "not_found"};
    case StatusCode::kAborted:
      if (reason == "wrong_expected_version") return {409, "wrong_expected_version"};
      return {409, "conflict"};
    case StatusCode::kAlreadyExists:
      return {409, "conflict"};
    case StatusCode::kResourceExhausted:
      if (reason == "too_large") return {413, "too_large"};
      return {503, "unavailable"};
    case StatusCode::kDeadlineExceeded:
      return {504, "timeout"};
    case StatusCode::kFailedPrecondition:
    case StatusCode::kUnavailable:
    case StatusCode::kCancelled:
    case StatusCode::kDataLoss:  // a corrupt store: the message says what a person must do
      return {503, "unavailable"};
    case StatusCode::kInternal:
      return {500, "internal"};
  }
  return {500, "internal"};
}

namespace {

// An error answer stays small whatever the request was: at most this many items of a
// list of details (such as the per-item errors of a rejected batch), strings cut to
// this many bytes.
constexpr size_t kMaxDetailItems = 100;
constexpr size_t kMaxDetailString = 1024;
constexpr size_t kMaxMessage = 4096;
constexpr int kMaxDetailDepth = 8;

std::string Truncated(const std::string& text, size_t max) {
  if (text.size() <= max) return text;
  size_t end = max;
  // Never cut a UTF-8 sequence: back up over continuation bytes.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end) + "...";
}

core::Json Bounded(const core::Json& value, int depth) {
  if (value.is_string()) return Truncated(value.get<std::string>(), kMaxDetailString);
  if (depth >= kMaxDetailDepth && (value.is_array() || value.is_object())) return nullptr;
  if (value.is_array()) {
    core::Json out = core::Json::array();
    for (size_t i = 0; i < value.size() && i < kMaxDetailItems; ++i) {
      out.push_back(Bounded(value[i], depth + 1));
    }
    return out;
  }
  if (value.is_object()) {
    core::Json out = core::Json::object();
    for (auto it = value.begin(); it != value.end(); ++it) out[it.key()] = Bounded(*it, depth + 1);
    return out;
  }
  return value;
}

}  // namespace

void WriteError(httplib::Response& res, const Status& status) {
  HttpError e = ToHttpError(status);
  core::Json body = core::Json::object();
  body["error"] = e.code;
  body["message"] = Truncated(status.message(), kMaxMessage);
  if (status.details().is_object()) {
    for (auto it = status.details().begin(); it != status.details().end(); ++it) {
      if (it.key() == "error" || it.key() == "message") continue;
      body[it.key()] = Bounded(it.value(), 1);
      // A cut list says how long it was: {"errors": [first 100], "errors_total": 25000}.
      if (it->is_array() && it->size() > kMaxDetailItems) body[it.key() + "_total"] = it->size();
    }
  }
  WriteJson(res, e.status, core::DumpJson(body));
}

void WriteJson(httplib::Response& res, int status, std::string body) {
  res.status = status;
  body.push_back('\n');
  res.set_content(std::move(body), "application/json");
}

void Answer(httplib::Response& res, const Status& status) {
  if (!status.ok()) WriteError(res, status);
}

}  // namespace rivulet::server
