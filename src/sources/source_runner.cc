#include "sources/source_runner.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/log.h"
#include "core/trouble_log.h"
#include "sources/jsonl_source.h"
#include "sources/postgres_source.h"

namespace rivulet::sources {

namespace {

// A person must act before another try makes sense: the source stops trying.
bool NeedsAPerson(const Status& status) {
  return status.code() == StatusCode::kFailedPrecondition || status.code() == StatusCode::kDataLoss;
}

// How a failed run is said: what happened, what the source does next.
void SayFailed(core::TroubleLog& trouble, const Status& why, int64_t retry_ms) {
  trouble.Report(why.message() + "; trying again until it works",
                 {{"code", StatusCodeName(why.code())}, {"retry_in_ms", retry_ms}});
}

}  // namespace

SourceRunner::SourceRunner(eventstore::EventStore& store, Ingestor& ingestor,
                           std::vector<config::SourceConfig> sources,
                           core::MetricsRegistry* metrics)
    : store_(store), ingestor_(ingestor), sources_(std::move(sources)), metrics_(metrics) {}

SourceRunner::~SourceRunner() { Stop(); }

Status SourceRunner::Start() {
  for (const config::SourceConfig& source : sources_) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      core::ComponentState& c = states_[source.name];
      c.kind = "source";
      c.name = source.name;
      if (source.type != config::SourceConfig::Type::kHttp) {
        c.health = core::ComponentHealth::kDegraded;
        c.detail = "starting";
      }
    }
    if (source.type == config::SourceConfig::Type::kJsonl)
      threads_.emplace_back([this, &source] { RunJsonl(source); });
    if (source.type == config::SourceConfig::Type::kPostgres)
      threads_.emplace_back([this, &source] { RunPostgres(source); });
  }
  return Status::Ok();
}

void SourceRunner::Stop() {
  if (stopping_.exchange(true)) return;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

bool SourceRunner::Pause(int64_t ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!stopping_.load() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return !stopping_.load();
}

void SourceRunner::SetState(const config::SourceConfig& source, const Status& ended) {
  std::lock_guard<std::mutex> lock(mu_);
  core::ComponentState& c = states_[source.name];
  c.detail = ended.ok() ? "" : ended.message();
  switch (ended.code()) {
    case StatusCode::kOk:
      c.health = core::ComponentHealth::kOk;
      break;
    case StatusCode::kInvalidArgument:  // a change it cannot ingest, under on_error: stop
      c.health = core::ComponentHealth::kStopped;
      c.detail = "stopped at a change it cannot ingest: " + ended.message() +
                 "; fix the mappings or the input, or set on_error: dead_letter";
      break;
    case StatusCode::kFailedPrecondition:
    case StatusCode::kDataLoss:
      c.health = core::ComponentHealth::kFailed;
      break;
    default:
      c.health = core::ComponentHealth::kDegraded;
  }
}

bool SourceRunner::Reading(const config::SourceConfig& source, bool progressed) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const core::ComponentHealth health = states_[source.name].health;
    // Reconnected, but not past what stopped it yet: the state stays until it is.
    if (!progressed &&
        (health == core::ComponentHealth::kStopped || health == core::ComponentHealth::kFailed))
      return false;
    if (health == core::ComponentHealth::kOk) return false;
  }
  SetState(source, Status::Ok());
  return true;
}

void SourceRunner::Park(const config::SourceConfig& source, const Status& why) {
  std::string detail = why.message();
  if (detail.find("restart") == std::string::npos) detail += "; restart rivulet once it is fixed";
  SetState(source, Status(why.code(), detail));
  core::Logger("source/" + source.name)
      .Error(detail + " (the source stops trying until rivulet restarts)",
             {{"code", StatusCodeName(why.code())}});
  // A restart after the fix resumes the source; until then its thread waits for the stop.
  while (Pause(1000)) {
  }
}

std::vector<core::ComponentState> SourceRunner::Components() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<core::ComponentState> out;
  for (const config::SourceConfig& source : sources_) {
    auto it = states_.find(source.name);
    if (it != states_.end()) {
      out.push_back(it->second);
    } else {
      out.push_back({"source", source.name, core::ComponentHealth::kStopped, "not started"});
    }
  }
  return out;
}

core::Gauge* SourceRunner::UpGauge(const config::SourceConfig& source) {
  if (metrics_ == nullptr) return nullptr;
  return &metrics_->GetGauge("rivulet_source_up",
                             "1 while the source reads, 0 while it waits to try again",
                             {{"source", source.name}});
}

core::Counter* SourceRunner::AttemptsCounter(const config::SourceConfig& source) {
  if (metrics_ == nullptr) return nullptr;
  return &metrics_->GetCounter(
      "rivulet_source_attempts_total",
      "Times the source opened its file or connected to its database, retries included",
      {{"source", source.name}});
}

void SourceRunner::RunJsonl(const config::SourceConfig& source) {
  core::Gauge* up = UpGauge(source);
  core::Counter* attempts = AttemptsCounter(source);
  core::TroubleLog trouble("source/" + source.name);
  int64_t backoff = 1000;
  while (!stopping_.load()) {
    Status failed = [&]() -> Status {
      Result<JsonlPosition> start = JsonlResumePosition(store_, source.name, source.path);
      if (!start.ok()) return start.status();
      if (attempts != nullptr) attempts->Inc();
      const int fd = ::open(source.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EISDIR || errno == ELOOP)) {
        return Status::FailedPrecondition("cannot read " + source.path + ": " +
                                          std::strerror(errno) +
                                          "; give the user rivulet runs as read access to a "
                                          "regular file there, then restart rivulet");
      }
      if (fd < 0) {
        return Status::Unavailable("cannot open " + source.path + ": " + std::strerror(errno) +
                                   " (waiting for it)");
      }
      if (up != nullptr) up->Set(1);
      if (Reading(source, false)) trouble.Resolved("reading again");
      JsonlOptions options;
      options.source = source.name;
      options.path = source.path;
      options.start = *start;
      options.follow = true;
      options.on_error = source.on_error;
      options.stop = &stopping_;
      options.on_batch = [&](const JsonlPosition&, const IngestStats&) {
        backoff = 1000;
        if (Reading(source, true)) trouble.Resolved("reading again");
      };
      Result<IngestStats> done = IngestJsonl(ingestor_, fd, options);
      ::close(fd);
      return done.status();
    }();
    if (up != nullptr) up->Set(0);
    if (stopping_.load()) break;
    if (NeedsAPerson(failed)) return Park(source, failed);
    SetState(source, failed);
    SayFailed(trouble, failed, backoff);
    if (!Pause(backoff)) break;
    backoff = std::min<int64_t>(backoff * 2, 60'000);
  }
}

void SourceRunner::RunPostgres(const config::SourceConfig& source) {
  PostgresSource postgres(store_, ingestor_, source, metrics_);
  core::Gauge* up = UpGauge(source);
  core::Counter* attempts = AttemptsCounter(source);
  core::TroubleLog trouble("source/" + source.name);
  int64_t backoff = 500;
  while (!stopping_.load()) {
    bool streaming = false;  // the first call says the stream started, later ones that it moved
    if (attempts != nullptr) attempts->Inc();
    Status ended = postgres.Run(stopping_, [&] {
      if (up != nullptr) up->Set(1);
      if (Reading(source, streaming)) trouble.Resolved("reading again");
      if (streaming) backoff = 500;
      streaming = true;
    });
    if (up != nullptr) up->Set(0);
    if (stopping_.load()) break;
    if (NeedsAPerson(ended)) return Park(source, ended);
    SetState(source, ended);
    SayFailed(trouble, ended, backoff);
    if (!Pause(backoff)) break;
    backoff = std::min<int64_t>(backoff * 2, 30'000);
  }
}

}  // namespace rivulet::sources
