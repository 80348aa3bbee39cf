#pragma once

#include "server/router.h"
#include "server/server_context.h"

namespace rivulet::server {

// GET /v1/outbox?status=&destination=&limit=&cursor= and POST /v1/outbox/{id}/retry
// (admin): inspect the outbox and send a dead message again (SPEC section 5).
void RegisterOutboxRoutes(Router& router, ServerContext& ctx);

}  // namespace rivulet::server
