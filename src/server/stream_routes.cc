#include "server/stream_routes.h"

#include "core/status_macros.h"
#include "eventstore/stream_name.h"
#include "server/api_error.h"
#include "server/query_params.h"
#include "server/request_body.h"

namespace rivulet::server {

namespace {

using eventstore::AppendRequest;
using eventstore::EventData;

Status CheckKeys(const core::Json& object, const std::string& where,
                 std::initializer_list<const char*> allowed) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    bool known = false;
    for (const char* a : allowed) known = known || it.key() == a;
    if (!known) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return Status::InvalidArgument(where + (where.empty() ? "" : ": ") + "unknown field \"" +
                                     it.key().substr(0, 64) + "\" (known: " + list + ")");
    }
  }
  return Status::Ok();
}

// The append body of SPEC section 5 as an AppendRequest; errors name the field.
Result<AppendRequest> ParseAppend(const std::string& stream, const core::Json& body,
                                  const std::string& correlation_id) {
  if (!body.is_object()) {
    return Status::InvalidArgument(std::string("body: expected an object, got ") +
                                   core::JsonTypeName(body));
  }
  RETURN_IF_ERROR(CheckKeys(body, "body", {"expected_version", "events"}));
  AppendRequest request;
  request.stream = stream;
  if (auto it = body.find("expected_version"); it != body.end()) {
    ASSIGN_OR_RETURN(request.expected, eventstore::ExpectedVersion::FromJson(*it));
  }
  auto events = body.find("events");
  if (events == body.end()) return Status::InvalidArgument("events: required");
  if (!events->is_array()) {
    return Status::InvalidArgument(std::string("events: expected an array, got ") +
                                   core::JsonTypeName(*events));
  }
  request.events.reserve(events->size());
  for (size_t i = 0; i < events->size(); ++i) {
    const core::Json& e = (*events)[i];
    std::string where = "events[" + std::to_string(i) + "]";
    if (!e.is_object()) {
      return Status::InvalidArgument(
          where, std::string("expected an object, got ") + core::JsonTypeName(e));
    }
    RETURN_IF_ERROR(CheckKeys(e, where, {"id", "type", "data", "metadata"}));
    EventData event;
    if (auto id = e.find("id"); id != e.end()) {
      if (!id->is_string()) return Status::InvalidArgument(where + ".id", "expected a UUID string");
      event.id = id->get<std::string>();
    }
    auto type = e.find("type");
    if (type == e.end()) return Status::InvalidArgument(where + ".type", "required");
    if (!type->is_string()) return Status::InvalidArgument(where + ".type", "expected a string");
    event.type = type->get<std::string>();
    auto data = e.find("data");
    if (data == e.end()) return Status::InvalidArgument(where + ".data", "required");
    event.data = *data;
    if (auto metadata = e.find("metadata"); metadata != e.end()) event.metadata = *metadata;
    if (!correlation_id.empty() && event.metadata.is_object() &&
        !event.metadata.contains("correlation_id")) {
      event.metadata["correlation_id"] = correlation_id;
    }
    request.events.push_back(std::move(event));
  }
  return request;
}

void HandleAppend(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::string stream = req.matches[1];
  auto params = QueryParams::Parse(req, {});
  if (!params.ok()) return WriteError(res, params.status());
  Status name = eventstore::ValidateStreamName(stream, false);
  if (!name.ok()) return WriteError(res, name);
  auto body = ParseJsonBody(req);
  if (!body.ok()) return WriteError(res, body.status());
  auto request = ParseAppend(stream, *body, req.get_header_value("Rivulet-Correlation-Id"));
  if (!request.ok()) return WriteError(res, request.status());
  auto result = ctx.store.Append(*request);
  if (!result.ok()) return WriteError(res, result.status());
  if (result->deduplicated) res.set_header("Rivulet-Deduplicated", "true");
  WriteJson(res, 201, core::DumpJson(eventstore::AppendResultToJson(*result)));
}

void HandleRead(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::string stream = req.matches[1];
  auto run = [&]() -> Status {
    ASSIGN_OR_RETURN(QueryParams params, QueryParams::Parse(req, {"from", "limit", "direction"}));
    RETURN_IF_ERROR(eventstore::ValidateStreamName(stream, true));
    eventstore::StreamReadOptions options;
    options.stream = stream;
    std::string direction = params.Get("direction").value_or("forward");
    if (direction != "forward" && direction != "backward") {
      return Status::InvalidArgument(
          "direction", "expected forward or backward, got \"" + direction.substr(0, 32) + "\"");
    }
    options.backward = direction == "backward";
    ASSIGN_OR_RETURN(options.from,
                     params.OptionalInt("from", 0, std::numeric_limits<int64_t>::max() / 2));
    ASSIGN_OR_RETURN(int64_t limit, params.Int("limit", 1, 1000, 100));
    options.limit = static_cast<size_t>(limit);
    options.max_bytes = ctx.max_answer_bytes;
    ASSIGN_OR_RETURN(eventstore::StreamSlice slice, ctx.store.ReadStream(options));
    std::string body = "{\"events\":[";
    for (size_t i = 0; i < slice.events.size(); ++i) {
      if (i > 0) body.push_back(',');
      eventstore::AppendEventJson(body, slice.events[i]);
    }
    body += "],\"next\":";
    body += slice.next ? std::to_string(*slice.next) : "null";
    body += "}";
    WriteJson(res, 200, std::move(body));
    return Status::Ok();
  };
  Answer(res, run());
}

}  // namespace

void RegisterStreamRoutes(Router& router, ServerContext& ctx) {
  // `.+` rather than `[^/]+`: a name with an encoded '/' reaches validation and gets a
  // 400 that says why, instead of a 404.
  router.Post(R"(/v1/streams/(.+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    HandleAppend(ctx, req, res);
  });
  router.Get(R"(/v1/streams/(.+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    HandleRead(ctx, req, res);
  });
}

}  // namespace rivulet::server
