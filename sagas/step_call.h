#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/http_rules.h"
#include "core/json.h"
#include "core/watchdog.h"

namespace rivulet::sagas {

// One HTTP request of a step's action or compensation, as recorded in the stream.
struct CallRequest {
  std::string method;
  std::string url;  // the service's base URL + the evaluated path
  std::map<std::string, std::string> headers;
  std::optional<core::Json> body;

  core::Json ToJson() const;
};

// What came back, classified as SPEC section 5 says: 2xx succeeds (its JSON body is
// the response); 408, 429, 5xx, timeouts and connection errors are retried; other 4xx
// fail permanently. `outcome_unknown` when the request may have been processed (it
// was sent, or partly sent, and no answer came).
struct CallOutcome {
  bool succeeded = false;
  std::optional<int> status;
  core::Json response;  // null when the body is empty or not JSON
  std::string error;
  bool retryable = false;
  bool outcome_unknown = false;
};

// Sends step requests over keep-alive connections, one set per calling thread.
// Thread-safe: each thread uses its own connections.
//
// Bounds (core/http_rules.h): a header value with a control character fails the attempt
// permanently before anything is sent; `timeout` is a deadline for the whole exchange
// (a participant trickling its answer is cut off at it: retried, outcome unknown); an
// answer body over the caller's limit (core::kMaxAnswerBytes at most), or a 2xx answer
// nested deeper than
// core::kMaxJsonDepth, fails the attempt as retryable with an unknown outcome (the
// request was processed, its answer cannot be kept), so it is never stored.
class StepCaller {
 public:
  // Answers longer than `max_answer_bytes` (at most core::kMaxAnswerBytes) fail the
  // attempt as above: the engine passes what its store can keep in a StepSucceeded.
  explicit StepCaller(size_t max_answer_bytes = core::kMaxAnswerBytes);

  CallOutcome Call(const CallRequest& request, std::chrono::milliseconds timeout);

 private:
  const size_t max_answer_bytes_;
  core::Watchdog watchdog_;  // stops an exchange still going at its deadline
};

}  // namespace rivulet::sagas
