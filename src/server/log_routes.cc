#include "server/log_routes.h"

#include <chrono>
#include <memory>

#include "core/status_macros.h"
#include "eventstore/log_position.h"
#include "server/api_error.h"
#include "server/query_params.h"

namespace rivulet::server {

namespace {

using eventstore::EventFilter;
using eventstore::LogBatch;
using eventstore::LogPosition;
using eventstore::LogReadOptions;
using Millis = std::chrono::milliseconds;

constexpr Millis kEventStreamHeartbeat{10'000};
constexpr Millis kEventStreamPoll{1'000};

Result<EventFilter> FilterFromParams(const QueryParams& params) {
  EventFilter filter;
  ASSIGN_OR_RETURN(filter.types, params.List("types"));
  ASSIGN_OR_RETURN(filter.streams, params.List("streams"));
  ASSIGN_OR_RETURN(filter.match, params.FilterParam("match"));
  return filter;
}

std::string BatchJson(const LogBatch& batch) {
  std::string body = "{\"events\":[";
  for (size_t i = 0; i < batch.events.size(); ++i) {
    if (i > 0) body.push_back(',');
    eventstore::AppendEventJson(body, batch.events[i]);
  }
  body += "],\"resume_token\":\"";
  body += eventstore::EncodeResumeToken(batch.resume);
  body += "\"}";
  return body;
}

// A position past the end of the log names no event: reading after it would return
// nothing until the log grew past it, and then skip the events in between. `after` is
// where a read would continue; `what` names where it came from.
Status CheckWithinLog(ServerContext& ctx, const LogPosition& after, const std::string& what) {
  const int64_t head = ctx.store.HeadPosition();
  if (after.position <= head) return Status::Ok();
  // This process learns of another process's commits within ~50 ms only while someone
  // waits; the store itself is the judge.
  LogReadOptions probe;
  probe.after = LogPosition{after.position - 1, after.txid};
  probe.limit = 1;
  probe.max_scan = 1;
  probe.max_bytes = 0;
  ASSIGN_OR_RETURN(LogBatch batch, ctx.store.ReadLog(probe));
  if (batch.resume.position >= after.position) return Status::Ok();
  return Status::InvalidArgument(what, "points past the end of the log (position " +
                                           std::to_string(after.position) + "; the log ends at " +
                                           std::to_string(head) +
                                           "); use a token from an answer of this store");
}

void HandleEvents(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  auto run = [&]() -> Status {
    ASSIGN_OR_RETURN(QueryParams params,
                     QueryParams::Parse(req, {"after", "limit", "types", "streams", "match"}));
    LogReadOptions options;
    if (auto after = params.Get("after")) {
      ASSIGN_OR_RETURN(options.after, eventstore::DecodeResumeToken(*after));
      RETURN_IF_ERROR(CheckWithinLog(ctx, options.after, "after"));
    }
    ASSIGN_OR_RETURN(int64_t limit, params.Int("limit", 1, 10'000, 1000));
    options.limit = static_cast<size_t>(limit);
    options.max_bytes = ctx.max_answer_bytes;
    ASSIGN_OR_RETURN(options.filter, FilterFromParams(params));
    ASSIGN_OR_RETURN(LogBatch batch, ctx.store.ReadLog(options));
    WriteJson(res, 200, BatchJson(batch));
    return Status::Ok();
  };
  Answer(res, run());
}

// Where a change stream starts: after a resume token (Last-Event-ID or resume_after),
// at a position (start_at, inclusive), or, like MongoDB's watch(), at the current end
// of the log so that only new events arrive.
Result<LogPosition> StartPosition(ServerContext& ctx, const httplib::Request& req,
                                  const QueryParams& params) {
  std::optional<std::string> token = params.Get("resume_after");
  std::string source = "resume_after";
  if (req.has_header("Last-Event-ID")) {
    token = req.get_header_value("Last-Event-ID");
    source = "Last-Event-ID";
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> start_at,
                   params.OptionalInt("start_at", 1, std::numeric_limits<int64_t>::max() / 2));
  if (token && start_at)
    return Status::InvalidArgument("give either resume_after or start_at, not both");
  if (token) {
    ASSIGN_OR_RETURN(LogPosition after, eventstore::DecodeResumeToken(*token));
    RETURN_IF_ERROR(CheckWithinLog(ctx, after, source));
    return after;
  }
  if (start_at) {
    // The next position to be written is a valid start; anything later is not.
    LogPosition after{*start_at - 1, 0};
    RETURN_IF_ERROR(CheckWithinLog(ctx, after, "start_at"));
    return after;
  }
  return LogPosition{ctx.store.HeadPosition(), 0};
}

bool WantsEventStream(const httplib::Request& req) {
  return req.get_header_value("Accept").find("text/event-stream") != std::string::npos;
}

// The state of one Server-Sent Events response, shared with httplib's content provider.
struct EventStreamState {
  ServerContext* ctx;
  LogReadOptions options;
  std::chrono::steady_clock::time_point last_write;
  bool started = false;
  ~EventStreamState() { ctx->event_streams.fetch_sub(1); }
};

bool WriteAll(httplib::DataSink& sink, const std::string& text) {
  return sink.write(text.data(), text.size());
}

// Called by httplib repeatedly until it returns false or calls sink.done(). Each call
// waits up to a second for events, so shutdown and dead clients are noticed quickly.
bool PumpEventStream(const std::shared_ptr<EventStreamState>& state, httplib::DataSink& sink) {
  ServerContext& ctx = *state->ctx;
  auto now = std::chrono::steady_clock::now();
  if (!state->started) {
    state->started = true;
    state->last_write = now;
    // Tells the client the stream is live, and where it starts.
    if (!WriteAll(sink, ": rivulet change stream\nid: " +
                            eventstore::EncodeResumeToken(state->options.after) +
                            "\nretry: 1000\n\n")) {
      return false;
    }
  }
  if (ctx.stopping.load()) {
    sink.done();
    return true;
  }
  auto cancelled = [&ctx] { return ctx.stopping.load(); };
  auto batch = ctx.store.ReadChanges(state->options, kEventStreamPoll, cancelled);
  if (!batch.ok()) {
    HttpError e = ToHttpError(batch.status());
    core::Json error{{"error", e.code}, {"message", batch.status().message()}};
    WriteAll(sink, "event: error\ndata: " + core::DumpJson(error) + "\n\n");
    sink.done();
    return true;
  }
  std::string out;
  for (const auto& event : batch->events) {
    out += "id: ";
    out += eventstore::EncodeResumeToken(LogPosition{event.position, 0});
    out += "\ndata: ";
    eventstore::AppendEventJson(out, event);
    out += "\n\n";
  }
  bool advanced = batch->resume != state->options.after;
  if (batch->events.empty() && advanced) {
    // An id with no data moves the client's Last-Event-ID past filtered-out events
    // without dispatching anything (HTML Living Standard, "dispatch the event").
    out += "id: " + eventstore::EncodeResumeToken(batch->resume) + "\n\n";
  }
  state->options.after = batch->resume;
  now = std::chrono::steady_clock::now();
  if (out.empty() && now - state->last_write >= kEventStreamHeartbeat) out = ": keep-alive\n\n";
  if (out.empty()) return true;
  state->last_write = now;
  return WriteAll(sink, out);
}

// One of ServerContext::max_long_polls, held while a long poll waits.
class LongPollSlot {
 public:
  LongPollSlot(ServerContext& ctx, bool wanted) : ctx_(ctx) {
    if (wanted && ctx_.long_polls.fetch_add(1) >= ctx_.max_long_polls) {
      ctx_.long_polls.fetch_sub(1);
      wanted = false;
    }
    held_ = wanted;
  }
  ~LongPollSlot() {
    if (held_) ctx_.long_polls.fetch_sub(1);
  }
  LongPollSlot(const LongPollSlot&) = delete;
  LongPollSlot& operator=(const LongPollSlot&) = delete;
  bool held() const { return held_; }

 private:
  ServerContext& ctx_;
  bool held_;
};

void HandleChanges(ServerContext& ctx, core::Counter& shortened, const httplib::Request& req,
                   httplib::Response& res) {
  auto run = [&]() -> Status {
    ASSIGN_OR_RETURN(QueryParams params,
                     QueryParams::Parse(req, {"resume_after", "start_at", "match", "batch_size",
                                              "max_await_ms", "types", "streams"}));
    LogReadOptions options;
    ASSIGN_OR_RETURN(options.after, StartPosition(ctx, req, params));
    ASSIGN_OR_RETURN(int64_t batch_size, params.Int("batch_size", 1, 1000, 100));
    options.limit = static_cast<size_t>(batch_size);
    options.max_bytes = ctx.max_answer_bytes;
    ASSIGN_OR_RETURN(int64_t max_await_ms, params.Int("max_await_ms", 0, 60'000, 1000));
    ASSIGN_OR_RETURN(options.filter, FilterFromParams(params));

    if (WantsEventStream(req)) {
      if (ctx.event_streams.fetch_add(1) >= ctx.max_event_streams) {
        ctx.event_streams.fetch_sub(1);
        return Status::Unavailable("too many event streams are open (" +
                                   std::to_string(ctx.max_event_streams) +
                                   "); use long polling, or try again later");
      }
      auto state = std::make_shared<EventStreamState>();
      state->ctx = &ctx;
      state->options = std::move(options);
      res.status = 200;
      res.set_header("Cache-Control", "no-cache");
      res.set_header("X-Accel-Buffering", "no");
      res.set_chunked_content_provider(
          "text/event-stream",
          [state](size_t, httplib::DataSink& sink) { return PumpEventStream(state, sink); });
      return Status::Ok();
    }

    // A waiting long poll holds a server thread: past the cap it answers at once with
    // what there is and its token, and the client simply polls again.
    LongPollSlot slot(ctx, max_await_ms > 0);
    if (max_await_ms > 0 && !slot.held()) {
      shortened.Inc();
      max_await_ms = 0;
    }
    auto cancelled = [&ctx] { return ctx.stopping.load(); };
    ASSIGN_OR_RETURN(LogBatch batch,
                     ctx.store.ReadChanges(options, Millis(max_await_ms), cancelled));
    WriteJson(res, 200, BatchJson(batch));
    return Status::Ok();
  };
  Answer(res, run());
}

}  // namespace

void RegisterLogRoutes(Router& router, ServerContext& ctx) {
  router.Get("/v1/events", [&ctx](const httplib::Request& req, httplib::Response& res) {
    HandleEvents(ctx, req, res);
  });
  core::Counter& shortened = ctx.metrics.GetCounter(
      "rivulet_http_long_polls_shortened_total",
      "Long polls answered at once because the most that may wait were waiting");
  router.Get("/v1/changes",
             [&ctx, &shortened](const httplib::Request& req, httplib::Response& res) {
               HandleChanges(ctx, shortened, req, res);
             });
}

}  // namespace rivulet::server
