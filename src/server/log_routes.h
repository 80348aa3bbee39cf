#pragma once

#include "server/router.h"
#include "server/server_context.h"

namespace rivulet::server {

// GET /v1/events (global log) and GET /v1/changes (change-stream batches, long polling,
// and Server-Sent Events with Last-Event-ID), SPEC section 5.
void RegisterLogRoutes(Router& router, ServerContext& ctx);

}  // namespace rivulet::server
