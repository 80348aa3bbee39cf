#pragma once

#include <vector>

#include "sagas/saga_definition.h"
#include "server/router.h"
#include "server/server_context.h"

namespace rivulet::server {

// GET /v1/sagas, GET /v1/sagas/{name}/{id}, POST /v1/sagas/{name} (start by hand),
// POST /v1/sagas/{name}/{id}/retry and /abort (SPEC section 5). They write the
// instance's stream directly; a running saga engine carries on from what they append.
// `sagas` must outlive the server.
void RegisterSagaRoutes(Router& router, ServerContext& ctx,
                        const std::vector<sagas::SagaDefinition>& sagas);

}  // namespace rivulet::server
