#pragma once

#include <httplib.h>

#include <string>

#include "core/status.h"

namespace rivulet::server {

// How a Status reads over HTTP (SPEC section 5): the status code and the stable error
// code, e.g. {409, "wrong_expected_version"}.
struct HttpError {
  int status;
  const char* code;
};
HttpError ToHttpError(const Status& status);

// Answers with {"error": code, "message": ..., <details>} and the fitting status. The
// answer is bounded: a list in the details keeps its first 100 items and gains
// "<name>_total"; long strings are cut.
void WriteError(httplib::Response& res, const Status& status);

// For handlers that write their own answer when they succeed: the error otherwise.
void Answer(httplib::Response& res, const Status& status);

// Answers with `body` (already JSON) and `status`.
void WriteJson(httplib::Response& res, int status, std::string body);

}  // namespace rivulet::server
