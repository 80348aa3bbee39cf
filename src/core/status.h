#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>

namespace rivulet {

// What went wrong, in the vocabulary of abseil's status codes. Callers branch on the
// code; people read the message.
enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // bad input: the request, config or argument is wrong
  kNotFound,            // the named thing does not exist
  kAlreadyExists,       // creating something that exists
  kAborted,             // optimistic-concurrency conflict; retry at a higher level
  kFailedPrecondition,  // the system is not in a state to do this (e.g. read-only store)
  kPermissionDenied,    // authenticated, but not allowed
  kUnauthenticated,     // no or bad credentials
  kResourceExhausted,   // a limit was hit (body size, queue)
  kDeadlineExceeded,    // waited long enough
  kUnavailable,         // a database or service that may come back
  kCancelled,           // the caller or a shutdown stopped it
  kInternal,            // a bug or an invariant broken
  kDataLoss,            // stored data is corrupt or lost; a person must restore it
};

std::string_view StatusCodeName(StatusCode code);

// An expected failure, as a value. Ok statuses carry nothing; errors carry a code, a
// message that says what and where, and optionally a reason (a stable machine string
// such as "wrong_expected_version") with structured details for API responses.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message);

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string_view context, std::string_view message);
  static Status InvalidArgument(std::string message);
  static Status NotFound(std::string message);
  static Status AlreadyExists(std::string message);
  static Status Aborted(std::string message);
  static Status FailedPrecondition(std::string message);
  static Status PermissionDenied(std::string message);
  static Status Unauthenticated(std::string message);
  static Status ResourceExhausted(std::string message);
  static Status DeadlineExceeded(std::string message);
  static Status Unavailable(std::string message);
  static Status Cancelled(std::string message);
  static Status Internal(std::string message);
  static Status DataLoss(std::string message);

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  const std::string& message() const;
  // A stable, machine-readable reason; empty unless set with WithReason.
  const std::string& reason() const;
  // Structured details for API responses (an object, or null).
  const nlohmann::json& details() const;

  // Returns a copy whose message is "<context>: <message>".
  Status WithContext(std::string_view context) const;
  Status WithReason(std::string reason, nlohmann::json details = nullptr) const;

  std::string ToString() const;

  // Marks a status as deliberately dropped.
  void IgnoreError() const {}

 private:
  struct Rep {
    StatusCode code;
    std::string message;
    std::string reason;
    nlohmann::json details;
  };
  // Shared and immutable: statuses are copied freely along error paths.
  std::shared_ptr<const Rep> rep_;
};

std::ostream& operator<<(std::ostream& os, const Status& status);

}  // namespace rivulet
