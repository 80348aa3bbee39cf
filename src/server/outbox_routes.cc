#include "server/outbox_routes.h"

#include "core/clock.h"
#include "core/status_macros.h"
#include "outbox/outbox_store.h"
#include "server/api_error.h"
#include "server/query_params.h"

namespace rivulet::server {

void RegisterOutboxRoutes(Router& router, ServerContext& ctx) {
  router.Get("/v1/outbox", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Answer(res, [&]() -> Status {
      ASSIGN_OR_RETURN(QueryParams params,
                       QueryParams::Parse(req, {"status", "destination", "limit", "cursor"}));
      const std::string status = params.Get("status").value_or("");
      if (!status.empty() && status != "pending" && status != "delivered" && status != "dead")
        return Status::InvalidArgument("status", "expected one of pending, delivered, dead");
      const std::string destination = params.Get("destination").value_or("");
      ASSIGN_OR_RETURN(int64_t limit, params.Int("limit", 1, 1000, 100));
      int64_t after = 0;
      if (auto cursor = params.Get("cursor"); cursor && !cursor->empty()) {
        char* end = nullptr;
        after = std::strtoll(cursor->c_str(), &end, 10);
        if (end != cursor->c_str() + cursor->size() || after < 0)
          return Status::InvalidArgument("cursor", "not a cursor this endpoint gave");
      }
      RETURN_IF_ERROR(outbox::OutboxStore::Migrate(ctx.store));
      ASSIGN_OR_RETURN(auto messages,
                       outbox::OutboxStore::List(ctx.store, status, destination, after,
                                                 static_cast<int>(limit) + 1));
      core::Json list = core::Json::array();
      core::Json next;
      for (size_t i = 0; i < messages.size(); ++i) {
        if (static_cast<int64_t>(i) == limit) {
          next = std::to_string(messages[i - 1].seq);
          break;
        }
        list.push_back(messages[i].ToJson());
      }
      WriteJson(res, 200, core::DumpJson(core::Json{{"messages", list}, {"next_cursor", next}}));
      return Status::Ok();
    }());
  });

  router.Post(
      R"(/v1/outbox/([^/]+)/retry)", [&ctx](const httplib::Request& req, httplib::Response& res) {
        Answer(res, [&]() -> Status {
          ASSIGN_OR_RETURN(QueryParams params, QueryParams::Parse(req, {}));
          static_cast<void>(params);
          RETURN_IF_ERROR(outbox::OutboxStore::Migrate(ctx.store));
          ASSIGN_OR_RETURN(outbox::Message m,
                           outbox::OutboxStore::Retry(ctx.store, req.matches[1],
                                                      core::SystemClock::Default()->NowMillis()));
          WriteJson(res, 200, core::DumpJson(m.ToJson()));
          return Status::Ok();
        }());
      });
}

}  // namespace rivulet::server
