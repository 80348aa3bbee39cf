#include "server/saga_routes.h"

#include <set>

#include "core/base64.h"
#include "core/status_macros.h"
#include "sagas/saga_engine.h"
#include "sagas/saga_instance.h"
#include "sagas/saga_tables.h"
#include "server/api_error.h"
#include "server/query_params.h"
#include "server/request_body.h"

namespace rivulet::server {

namespace {

using core::Json;

const sagas::SagaDefinition* Find(const std::vector<sagas::SagaDefinition>& sagas,
                                  const std::string& name) {
  for (const auto& s : sagas) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

Status NotDeclared(const std::string& name) { return Status::NotFound("no saga named " + name); }

}  // namespace

void RegisterSagaRoutes(Router& router, ServerContext& ctx,
                        const std::vector<sagas::SagaDefinition>& sagas) {
  router.Get("/v1/sagas", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Answer(res, [&]() -> Status {
      ASSIGN_OR_RETURN(QueryParams params,
                       QueryParams::Parse(req, {"name", "status", "limit", "cursor"}));
      const std::string name = params.Get("name").value_or("");
      const std::string status = params.Get("status").value_or("");
      static const std::set<std::string> kStatuses = {"running",     "compensating", "completed",
                                                      "compensated", "failed",       "aborted"};
      if (!status.empty() && !kStatuses.count(status)) {
        return Status::InvalidArgument(
            "status",
            "expected one of running, compensating, completed, compensated, failed, "
            "aborted");
      }
      ASSIGN_OR_RETURN(int64_t limit, params.Int("limit", 1, 1000, 100));
      std::pair<std::string, std::string> after;
      if (auto cursor = params.Get("cursor"); cursor && !cursor->empty()) {
        auto decoded = core::Base64UrlDecode(*cursor);
        Json json = decoded ? core::ParseJsonOr(*decoded, Json(), core::kInputJson) : Json();
        if (!json.is_array() || json.size() != 2 || !json[0].is_string() || !json[1].is_string())
          return Status::InvalidArgument("cursor", "not a cursor this endpoint gave");
        after = {json[0].get<std::string>(), json[1].get<std::string>()};
      }
      ASSIGN_OR_RETURN(auto rows, sagas::SagaTables::List(ctx.store, name, status, after,
                                                          static_cast<int>(limit) + 1));
      Json list = Json::array();
      Json next;
      for (size_t i = 0; i < rows.size(); ++i) {
        if (static_cast<int64_t>(i) == limit) {
          const auto& last = rows[i - 1];
          next = core::Base64UrlEncode(Json::array({last.name, last.id}).dump());
          break;
        }
        list.push_back(rows[i].ToJson());
      }
      WriteJson(res, 200, core::DumpJson(Json{{"sagas", list}, {"next_cursor", next}}));
      return Status::Ok();
    }());
  });

  router.Get(
      R"(/v1/sagas/([^/]+)/([^/]+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
        Answer(res, [&]() -> Status {
          ASSIGN_OR_RETURN(QueryParams params, QueryParams::Parse(req, {}));
          static_cast<void>(params);
          ASSIGN_OR_RETURN(Json described,
                           sagas::DescribeInstance(ctx.store, req.matches[1], req.matches[2]));
          WriteJson(res, 200, core::DumpJson(described));
          return Status::Ok();
        }());
      });

  router.Post(
      R"(/v1/sagas/([^/]+))", [&ctx, &sagas](const httplib::Request& req, httplib::Response& res) {
        Answer(res, [&]() -> Status {
          const sagas::SagaDefinition* saga = Find(sagas, req.matches[1]);
          if (saga == nullptr) return NotDeclared(req.matches[1]);
          ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
          if (!body.is_object()) return Status::InvalidArgument("body", "expected a JSON object");
          std::optional<std::string> id;
          Json input = Json::object();
          for (auto it = body.begin(); it != body.end(); ++it) {
            if (it.key() == "id") {
              if (!it->is_string()) return Status::InvalidArgument("id", "expected a string");
              id = it->get<std::string>();
            } else if (it.key() == "input") {
              if (!it->is_object())
                return Status::InvalidArgument("input", "expected a JSON object");
              input = *it;
            } else {
              return Status::InvalidArgument(it.key(), "unknown key (expected id, input)");
            }
          }
          ASSIGN_OR_RETURN(sagas::InstanceRow row, sagas::StartSaga(ctx.store, *saga, id, input,
                                                                    *core::SystemClock::Default()));
          WriteJson(res, 201, core::DumpJson(row.ToJson()));
          return Status::Ok();
        }());
      });

  auto by_hand = [&ctx](const char* action) {
    return [&ctx, action](const httplib::Request& req, httplib::Response& res) {
      Answer(res, [&]() -> Status {
        std::string reason;
        if (!req.body.empty()) {
          ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
          if (!body.is_object()) return Status::InvalidArgument("body", "expected a JSON object");
          for (auto it = body.begin(); it != body.end(); ++it) {
            if (it.key() != "reason" || !it->is_string() || std::string(action) != "abort") {
              return Status::InvalidArgument(it.key(), std::string(action) == "abort"
                                                           ? "expected only reason, a string"
                                                           : "retry takes no body fields");
            }
            reason = it->get<std::string>();
          }
        }
        auto& clock = *core::SystemClock::Default();
        Result<sagas::InstanceRow> row =
            std::string(action) == "retry"
                ? sagas::RetrySaga(ctx.store, req.matches[1], req.matches[2], clock)
                : sagas::AbortSaga(ctx.store, req.matches[1], req.matches[2], reason, clock);
        RETURN_IF_ERROR(row.status());
        WriteJson(res, 200, core::DumpJson(row->ToJson()));
        return Status::Ok();
      }());
    };
  };
  router.Post(R"(/v1/sagas/([^/]+)/([^/]+)/retry)", by_hand("retry"));
  router.Post(R"(/v1/sagas/([^/]+)/([^/]+)/abort)", by_hand("abort"));
}

}  // namespace rivulet::server
