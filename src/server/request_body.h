#pragma once

#include <httplib.h>

#include <cstdint>

#include "core/json.h"
#include "core/result.h"

namespace rivulet::server {

// The request body as a JSON value. InvalidArgument if the Content-Type is set and is
// not application/json, or the body is empty or not valid JSON.
Result<core::Json> ParseJsonBody(const httplib::Request& req);

// 413 too_large: a body over server.max_body (`max_body` bytes).
Status BodyTooLarge(uint64_t max_body);

}  // namespace rivulet::server
