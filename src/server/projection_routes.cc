#include "server/projection_routes.h"

#include "core/status_macros.h"
#include "projections/projection_query.h"
#include "server/api_error.h"
#include "server/query_params.h"

namespace rivulet::server {

namespace {

using projections::ProjectionEngine;

// min_position (and wait_ms, default 5,000): answer once the projection has applied
// that position, or 504 timeout.
Status AwaitPosition(ProjectionEngine& engine, const std::string& name, const QueryParams& params) {
  ASSIGN_OR_RETURN(std::optional<int64_t> position,
                   params.OptionalInt("min_position", 0, std::numeric_limits<int64_t>::max() / 2));
  ASSIGN_OR_RETURN(int64_t wait_ms, params.Int("wait_ms", 0, 60'000, 5'000));
  if (!position) return Status::Ok();
  return engine.WaitForPosition(name, *position, std::chrono::milliseconds(wait_ms));
}

}  // namespace

void RegisterProjectionRoutes(Router& router, ServerContext& ctx, ProjectionEngine& engine) {
  router.Get("/v1/projections", [&engine](const httplib::Request& req, httplib::Response& res) {
    Answer(res, [&]() -> Status {
      ASSIGN_OR_RETURN(QueryParams params, QueryParams::Parse(req, {}));
      static_cast<void>(params);
      ASSIGN_OR_RETURN(auto all, engine.DescribeAll());
      core::Json list = core::Json::array();
      for (const auto& status : all) list.push_back(status.ToJson());
      WriteJson(res, 200, core::DumpJson(core::Json{{"projections", list}}));
      return Status::Ok();
    }());
  });

  router.Post(R"(/v1/projections/([^/]+)/rebuild)",
              [&engine](const httplib::Request& req, httplib::Response& res) {
                Answer(res, [&]() -> Status {
                  ASSIGN_OR_RETURN(QueryParams params, QueryParams::Parse(req, {}));
                  static_cast<void>(params);
                  ASSIGN_OR_RETURN(auto status, engine.Rebuild(req.matches[1]));
                  WriteJson(res, 202, core::DumpJson(status.ToJson()));
                  return Status::Ok();
                }());
              });

  router.Get(R"(/v1/projections/([^/]+)/(.+))", [&engine, &ctx](const httplib::Request& req,
                                                                httplib::Response& res) {
    Answer(res, [&]() -> Status {
      const std::string name = req.matches[1];
      const std::string key = req.matches[2];
      if (engine.Find(name) == nullptr) return Status::NotFound("no projection named " + name);
      ASSIGN_OR_RETURN(QueryParams params, QueryParams::Parse(req, {"min_position", "wait_ms"}));
      RETURN_IF_ERROR(AwaitPosition(engine, name, params));
      ASSIGN_OR_RETURN(std::optional<std::string> doc,
                       projections::GetDocument(ctx.store, name, key));
      if (!doc) return Status::NotFound("projection " + name + " has no document with key " + key);
      WriteJson(res, 200, std::move(*doc));
      return Status::Ok();
    }());
  });

  router.Get(R"(/v1/projections/([^/]+))", [&engine, &ctx](const httplib::Request& req,
                                                           httplib::Response& res) {
    Answer(res, [&]() -> Status {
      const std::string name = req.matches[1];
      if (engine.Find(name) == nullptr) return Status::NotFound("no projection named " + name);
      ASSIGN_OR_RETURN(
          QueryParams params,
          QueryParams::Parse(req, {"match", "sort", "limit", "cursor", "min_position", "wait_ms"}));
      projections::QueryRequest query;
      ASSIGN_OR_RETURN(query.match, params.FilterParam("match"));
      ASSIGN_OR_RETURN(query.sort, projections::ParseSort(params.Get("sort").value_or("")));
      ASSIGN_OR_RETURN(int64_t limit, params.Int("limit", 1, 1000, 100));
      query.limit = static_cast<size_t>(limit);
      query.cursor = params.Get("cursor").value_or("");
      RETURN_IF_ERROR(AwaitPosition(engine, name, params));
      ASSIGN_OR_RETURN(std::vector<std::string> indexes, engine.LiveIndexes(name));
      ASSIGN_OR_RETURN(projections::QueryPage page,
                       projections::QueryProjection(ctx.store, name, indexes, query));
      std::string body = "{\"items\":[";
      for (size_t i = 0; i < page.items.size(); ++i) body += (i ? "," : "") + page.items[i];
      body += "],\"next_cursor\":";
      body += page.next_cursor ? core::DumpJson(*page.next_cursor) : "null";
      body += "}";
      res.set_header("Rivulet-Query-Plan", page.used_index ? "index" : "scan");
      WriteJson(res, 200, std::move(body));
      return Status::Ok();
    }());
  });
}

}  // namespace rivulet::server
