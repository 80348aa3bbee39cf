#pragma once

#include "server/router.h"
#include "server/server_context.h"
#include "sources/ingestor.h"

namespace rivulet::server {

// POST /v1/sources/{source}/changes (write): one change event or an array, ingested
// through the mappings in one unit of work with the source's checkpoint; _ids this
// source already ingested are skipped. 200 with the counts; 400 listing every change
// that is malformed or whose mapping fails (nothing written); 404 for an undeclared
// source.
void RegisterSourceRoutes(Router& router, ServerContext& ctx, sources::Ingestor& ingestor);

}  // namespace rivulet::server
