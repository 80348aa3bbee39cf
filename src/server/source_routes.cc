#include "server/source_routes.h"

#include "core/status_macros.h"
#include "server/api_error.h"
#include "server/query_params.h"
#include "server/request_body.h"

namespace rivulet::server {

void RegisterSourceRoutes(Router& router, ServerContext& ctx, sources::Ingestor& ingestor) {
  router.Post(R"(/v1/sources/([^/]+)/changes)", [&ctx, &ingestor](const httplib::Request& req,
                                                                  httplib::Response& res) {
    Answer(res, [&]() -> Status {
      ASSIGN_OR_RETURN(QueryParams params, QueryParams::Parse(req, {}));
      static_cast<void>(params);
      const std::string name = req.matches[1];
      const config::SourceConfig* source = nullptr;
      for (const auto& s : ctx.config.sources) {
        if (s.name == name) source = &s;
      }
      if (source == nullptr) return Status::NotFound("no source named " + name + " is declared");
      if (source->type != config::SourceConfig::Type::kHttp) {
        return Status::InvalidArgument("source " + name +
                                       " is not an http source; only those take changes over HTTP");
      }
      ASSIGN_OR_RETURN(core::Json body, ParseJsonBody(req));
      sources::IngestBatch batch;
      batch.source = name;
      batch.on_error = source->on_error;
      if (!body.is_array()) body = core::Json::array({std::move(body)});
      if (body.empty()) return Status::InvalidArgument("body", "no change events");
      batch.changes.reserve(body.size());
      for (core::Json& item : body) {
        sources::Change change;
        if (item.is_object() && item.contains("_id")) change.position = item["_id"];
        change.event = std::move(item);
        batch.changes.push_back(std::move(change));
      }
      batch.checkpoint = core::Json{{"last_id", batch.changes.back().position}};
      ASSIGN_OR_RETURN(sources::IngestStats stats, ingestor.Ingest(batch));
      WriteJson(res, 200, core::DumpJson(stats.ToJson()));
      return Status::Ok();
    }());
  });
}

}  // namespace rivulet::server
