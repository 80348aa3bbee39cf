#pragma once

#include "runtime/dead_letter_actions.h"
#include "server/router.h"
#include "server/server_context.h"

namespace rivulet::server {

// GET /v1/dead-letters?source=|projection=&limit=&cursor= (read), POST
// /v1/dead-letters/{id}/retry and /discard (admin): the changes and events parked by
// `on_error: dead_letter` (SPEC section 5). `actions` must outlive the server.
void RegisterDeadLetterRoutes(Router& router, ServerContext& ctx,
                              runtime::DeadLetterActions& actions);

}  // namespace rivulet::server
