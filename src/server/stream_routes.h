#pragma once

#include "server/router.h"
#include "server/server_context.h"

namespace rivulet::server {

// POST /v1/streams/{stream} (append) and GET /v1/streams/{stream} (read), SPEC section 5.
void RegisterStreamRoutes(Router& router, ServerContext& ctx);

}  // namespace rivulet::server
