#include "core/status.h"

namespace rivulet {

namespace {
const std::string& EmptyString() {
  static const std::string* empty = new std::string();
  return *empty;
}
const nlohmann::json& NullJson() {
  static const nlohmann::json* null = new nlohmann::json();
  return *null;
}
}  // namespace

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kAlreadyExists:
      return "already_exists";
    case StatusCode::kAborted:
      return "aborted";
    case StatusCode::kFailedPrecondition:
      return "failed_precondition";
    case StatusCode::kPermissionDenied:
      return "permission_denied";
    case StatusCode::kUnauthenticated:
      return "unauthenticated";
    case StatusCode::kResourceExhausted:
      return "resource_exhausted";
    case StatusCode::kDeadlineExceeded:
      return "deadline_exceeded";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kCancelled:
      return "cancelled";
    case StatusCode::kInternal:
      return "internal";
    case StatusCode::kDataLoss:
      return "data_loss";
  }
  return "unknown";
}

Status::Status(StatusCode code, std::string message) {
  if (code != StatusCode::kOk) {
    rep_ = std::make_shared<const Rep>(Rep{code, std::move(message), {}, nullptr});
  }
}

Status Status::InvalidArgument(std::string_view context, std::string_view message) {
  std::string text;
  text.reserve(context.size() + message.size() + 2);
  text.append(context).append(": ").append(message);
  return Status(StatusCode::kInvalidArgument, std::move(text));
}
Status Status::InvalidArgument(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}
Status Status::NotFound(std::string message) {
  return Status(StatusCode::kNotFound, std::move(message));
}
Status Status::AlreadyExists(std::string message) {
  return Status(StatusCode::kAlreadyExists, std::move(message));
}
Status Status::Aborted(std::string message) {
  return Status(StatusCode::kAborted, std::move(message));
}
Status Status::FailedPrecondition(std::string message) {
  return Status(StatusCode::kFailedPrecondition, std::move(message));
}
Status Status::PermissionDenied(std::string message) {
  return Status(StatusCode::kPermissionDenied, std::move(message));
}
Status Status::Unauthenticated(std::string message) {
  return Status(StatusCode::kUnauthenticated, std::move(message));
}
Status Status::ResourceExhausted(std::string message) {
  return Status(StatusCode::kResourceExhausted, std::move(message));
}
Status Status::DeadlineExceeded(std::string message) {
  return Status(StatusCode::kDeadlineExceeded, std::move(message));
}
Status Status::Unavailable(std::string message) {
  return Status(StatusCode::kUnavailable, std::move(message));
}
Status Status::Cancelled(std::string message) {
  return Status(StatusCode::kCancelled, std::move(message));
}
Status Status::Internal(std::string message) {
  return Status(StatusCode::kInternal, std::move(message));
}
Status Status::DataLoss(std::string message) {
  return Status(StatusCode::kDataLoss, std::move(message));
}

const std::string& Status::message() const { return rep_ ? rep_->message : EmptyString(); }
const std::string& Status::reason() const { return rep_ ? rep_->reason : EmptyString(); }
const nlohmann::json& Status::details() const { return rep_ ? rep_->details : NullJson(); }

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string text(context);
  text.append(": ").append(rep_->message);
  Status copy;
  copy.rep_ =
      std::make_shared<const Rep>(Rep{rep_->code, std::move(text), rep_->reason, rep_->details});
  return copy;
}

Status Status::WithReason(std::string reason, nlohmann::json details) const {
  if (ok()) return *this;
  Status copy;
  copy.rep_ = std::make_shared<const Rep>(
      Rep{rep_->code, rep_->message, std::move(reason), std::move(details)});
  return copy;
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string text(StatusCodeName(code()));
  text.append(": ").append(message());
  return text;
}

std::ostream& operator<<(std::ostream& os, const Status& status) { return os << status.ToString(); }

}  // namespace rivulet
