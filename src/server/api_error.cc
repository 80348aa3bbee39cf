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

void WriteError(httplib::Response& res, const Status& status) {
  HttpError e = ToHttpError(status);
  core::Json body = core::Json::object();
  body["error"] = e.code;
  body["message"] = status.message();
  if (status.details().is_object()) {
    for (auto it = status.details().begin(); it != status.details().end(); ++it) {
      if (it.key() != "error" && it.key() != "message") body[it.key()] = it.value();
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
