#include "server/dead_letter_routes.h"

#include <cstdlib>
#include <limits>

#include "core/status_macros.h"
#include "server/api_error.h"
#include "server/query_params.h"

namespace rivulet::server {

namespace {

constexpr int64_t kMaxListLimit = 1000;
// How long a retry waits for a projection's builder to run it.
constexpr std::chrono::milliseconds kRetryWait{10'000};

Result<int64_t> ParseId(const std::string& text) {
  char* end = nullptr;
  const long long id = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || id <= 0)
    return Status::NotFound("no dead letter " + text.substr(0, 64));
  return static_cast<int64_t>(id);
}

}  // namespace

void RegisterDeadLetterRoutes(Router& router, ServerContext& ctx,
                              runtime::DeadLetterActions& actions) {
  router.Get("/v1/dead-letters", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Answer(res, [&]() -> Status {
      ASSIGN_OR_RETURN(QueryParams params,
                       QueryParams::Parse(req, {"source", "projection", "limit", "cursor"}));
      eventstore::DeadLetters::ListOptions list;
      const auto source = params.Get("source");
      const auto projection = params.Get("projection");
      if (source && projection)
        return Status::InvalidArgument("source", "give source or projection, not both");
      if (source) {
        list.kind = "source";
        list.component = *source;
      } else if (projection) {
        list.kind = "projection";
        list.component = *projection;
      }
      ASSIGN_OR_RETURN(int64_t limit, params.Int("limit", 1, kMaxListLimit, 100));
      ASSIGN_OR_RETURN(std::optional<int64_t> cursor,
                       params.OptionalInt("cursor", 0, std::numeric_limits<int64_t>::max()));
      list.after_id = cursor.value_or(0);
      list.limit = static_cast<size_t>(limit) + 1;
      RETURN_IF_ERROR(eventstore::DeadLetters::Migrate(ctx.store));
      ASSIGN_OR_RETURN(std::vector<eventstore::DeadLetter> letters,
                       eventstore::DeadLetters::List(ctx.store, list));
      core::Json items = core::Json::array();
      core::Json next;
      for (size_t i = 0; i < letters.size(); ++i) {
        if (static_cast<int64_t>(i) == limit) {
          next = std::to_string(letters[i - 1].id);
          break;
        }
        items.push_back(letters[i].ToJson());
      }
      WriteJson(res, 200, core::DumpJson(core::Json{{"items", items}, {"next_cursor", next}}));
      return Status::Ok();
    }());
  });

  auto action = [&actions](bool retry) {
    return [&actions, retry](const httplib::Request& req, httplib::Response& res) {
      Answer(res, [&]() -> Status {
        ASSIGN_OR_RETURN(QueryParams params, QueryParams::Parse(req, {}));
        static_cast<void>(params);
        ASSIGN_OR_RETURN(int64_t id, ParseId(req.matches[1]));
        ASSIGN_OR_RETURN(core::Json answer,
                         retry ? actions.Retry(id, kRetryWait) : actions.Discard(id));
        WriteJson(res, 200, core::DumpJson(answer));
        return Status::Ok();
      }());
    };
  };
  router.Post(R"(/v1/dead-letters/([^/]+)/retry)", action(true));
  router.Post(R"(/v1/dead-letters/([^/]+)/discard)", action(false));
}

}  // namespace rivulet::server
