#pragma once

#include "projections/projection_engine.h"
#include "server/router.h"
#include "server/server_context.h"

namespace rivulet::server {

// GET /v1/projections, GET /v1/projections/{name}/{key}, GET /v1/projections/{name}
// (queries), POST /v1/projections/{name}/rebuild (SPEC section 5). Every read accepts
// min_position and wait_ms (read-your-writes). The engine must outlive the server.
void RegisterProjectionRoutes(Router& router, ServerContext& ctx,
                              projections::ProjectionEngine& engine);

}  // namespace rivulet::server
