#include "outbox/relay.h"

#include <algorithm>
#include <future>
#include <map>
#include <unordered_set>

#include "core/log.h"
#include "core/random.h"
#include "core/status_macros.h"
#include "core/trouble_log.h"
#include "outbox/outbox_store.h"

namespace rivulet::outbox {

namespace {

// A person must act before another try makes sense: the destination stops trying.
bool NeedsAPerson(const Status& status) {
  return status.code() == StatusCode::kFailedPrecondition || status.code() == StatusCode::kDataLoss;
}

}  // namespace

Relay::Relay(eventstore::EventStore& store, OutboxSettings settings, Options options)
    : store_(store), settings_(std::move(settings)), options_(options) {
  if (options_.clock == nullptr) options_.clock = core::SystemClock::Default();
}

Relay::~Relay() { Stop(); }

Status Relay::Start() {
  if (settings_.destinations.empty()) return Status::Ok();
  RETURN_IF_ERROR(OutboxStore::Migrate(store_));
  for (const Destination& d : settings_.destinations) {
    std::unique_ptr<Sink> sink;
    if (d.type == Destination::Type::kJsonl) sink = MakeJsonlSink(d);
    if (d.type == Destination::Type::kHttp) sink = MakeHttpSink(d, options_.http_connections);
    if (d.type == Destination::Type::kNats) sink = MakeNatsSink(d);
    // A destination that is down at start is opened again by its thread; one that needs
    // a person (a stream not covering the subjects, a directory that is not there) is
    // failed, and its thread waits for the restart that follows the fix.
    Status opened = sink->Open();
    if (!opened.ok() && opened.code() != StatusCode::kUnavailable && !NeedsAPerson(opened))
      return opened;
    opened_.push_back(opened);
    health_.push_back(std::make_unique<Health>());
    if (!opened.ok()) {
      health_.back()->Set(
          NeedsAPerson(opened) ? core::ComponentHealth::kFailed : core::ComponentHealth::kDegraded,
          NeedsAPerson(opened) ? opened.message()
                               : opened.message() + "; trying again every second");
    }
    sinks_.push_back(std::move(sink));
  }
  if (options_.metrics != nullptr) {
    latency_ = &options_.metrics->GetHistogram(
        "rivulet_outbox_delivery_latency_seconds",
        "From an outbox message's commit to its delivery acknowledgement",
        core::Histogram::LatencyBounds());
    attempts_ =
        &options_.metrics->GetCounter("rivulet_outbox_attempts_total", "Outbox delivery attempts");
    std::map<std::pair<std::string, std::string>, core::Gauge*> gauges;
    for (const Destination& d : settings_.destinations) {
      for (const char* status : {"pending", "dead"}) {
        gauges[{d.name, status}] = &options_.metrics->GetGauge(
            std::string("rivulet_outbox_") + status, std::string("Outbox messages ") + status,
            {{"destination", d.name}});
      }
    }
    collector_ = options_.metrics->AddCollector([this, gauges] {
      auto counts = OutboxStore::Counts(store_);
      if (!counts.ok()) return;
      for (const auto& [key, gauge] : gauges) gauge->Set(0);
      for (const auto& [destination, status, n] : *counts) {
        if (auto it = gauges.find({destination, status}); it != gauges.end()) it->second->Set(n);
      }
    });
  }
  for (size_t i = 0; i < settings_.destinations.size(); ++i) {
    threads_.emplace_back(
        [this, i] { Run(settings_.destinations[i], *sinks_[i], opened_[i], *health_[i]); });
  }
  threads_.emplace_back([this] { Prune(); });
  return Status::Ok();
}

void Relay::Stop() {
  if (stopping_.exchange(true)) return;
  store_.WakeWaiters();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  if (options_.metrics != nullptr && collector_ != 0) options_.metrics->RemoveCollector(collector_);
}

std::vector<core::ComponentState> Relay::Components() {
  std::map<std::string, int64_t> dead;
  if (auto counts = OutboxStore::Counts(store_); counts.ok()) {
    for (const auto& [destination, status, n] : *counts) {
      if (status == "dead") dead[destination] = n;
    }
  }
  std::vector<core::ComponentState> out;
  for (size_t i = 0; i < settings_.destinations.size(); ++i) {
    core::ComponentState c;
    c.kind = "destination";
    c.name = settings_.destinations[i].name;
    if (i < health_.size()) {
      std::lock_guard<std::mutex> lock(health_[i]->mu);
      c.health = health_[i]->health;
      c.detail = health_[i]->detail;
    } else {
      c.health = core::ComponentHealth::kStopped;
      c.detail = "not started";
    }
    if (auto it = dead.find(c.name); it != dead.end() && it->second > 0) {
      if (c.health == core::ComponentHealth::kOk) c.health = core::ComponentHealth::kDegraded;
      c.detail += (c.detail.empty() ? "" : "; ") + std::to_string(it->second) +
                  " dead messages (GET /v1/outbox?status=dead)";
    }
    out.push_back(std::move(c));
  }
  return out;
}

namespace {

// A batch of ordered sinks is cut at this many bytes, so that the two batches that can
// be in flight (one delivered, one being marked) stay within the 32 MiB the jsonl sink
// reads back on start.
constexpr size_t kOrderedBatchBytes = 12 << 20;
constexpr int kOrderedBatchMessages = 20'000;
constexpr int kHeadsPerRound = 1000;

}  // namespace

Result<Relay::Batch> Relay::NextBatch(const Destination& destination, bool ordered,
                                      int64_t after_seq, int64_t now) {
  Batch batch;
  if (!ordered) {
    ASSIGN_OR_RETURN(batch.messages,
                     OutboxStore::Deliverable(store_, destination.name, now, kHeadsPerRound));
    return batch;
  }
  // In seq order, several per key; a key whose oldest pending message is not due yet
  // waits entirely.
  ASSIGN_OR_RETURN(
      std::vector<Message> pending,
      OutboxStore::PendingInOrder(store_, destination.name, after_seq, kOrderedBatchMessages));
  std::unordered_set<std::string> blocked;
  size_t bytes = 0;
  for (Message& m : pending) {
    if (blocked.count(m.key)) continue;
    if (m.next_attempt_at > now) {
      blocked.insert(m.key);
      continue;
    }
    bytes += m.payload.size() + m.id.size() + m.key.size() + 64;
    if (bytes > kOrderedBatchBytes && !batch.messages.empty()) {
      batch.cut = true;
      break;
    }
    batch.messages.push_back(std::move(m));
  }
  batch.blocked = !blocked.empty();
  return batch;
}

Status Relay::Mark(const Batch& batch, const std::vector<Delivery>& outcomes, int64_t done) {
  const core::RetryPolicy& policy = settings_.retry;
  const std::vector<Message>& messages = batch.messages;
  Status marked = store_.Write([&](eventstore::Transaction& tx) -> Status {
    std::vector<int64_t> delivered;
    for (size_t i = 0; i < messages.size(); ++i) {
      const Message& m = messages[i];
      const Delivery& d = outcomes[i];
      if (!d.attempted) continue;
      if (d.delivered) {
        delivered.push_back(m.seq);
        continue;
      }
      std::optional<int64_t> retry_at;
      if (d.retryable && policy.AttemptsLeft(static_cast<int>(m.attempts + 1))) {
        retry_at = done + policy.Delay(static_cast<int>(m.attempts + 1), core::RandomU64()).count();
      }
      RETURN_IF_ERROR(OutboxStore::MarkFailed(tx, m.seq, d.error, retry_at));
    }
    return OutboxStore::MarkDelivered(tx, delivered, done);
  });
  if (marked.ok() && latency_ != nullptr) {
    for (size_t i = 0; i < messages.size(); ++i) {
      if (outcomes[i].delivered)
        latency_->Observe(static_cast<double>(done - messages[i].created_at) / 1000.0);
    }
  }
  return marked;
}

void Relay::Park(const core::Logger& log, const Status& why, Health& health) {
  std::string detail = why.message();
  if (detail.find("restart") == std::string::npos) detail += "; restart rivulet once it is fixed";
  health.Set(core::ComponentHealth::kFailed, detail);
  log.Error(detail + " (the destination stops trying until rivulet restarts; its messages wait)",
            {{"code", StatusCodeName(why.code())}});
  while (!stopping_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

void Relay::Run(const Destination& destination, Sink& sink, Status opened, Health& health) {
  // Each trouble once when it begins (or, for opening, changes), once when it is over.
  core::TroubleLog connecting("destination/" + destination.name);
  core::TroubleLog outage("destination/" + destination.name);
  core::TroubleLog reading("destination/" + destination.name);
  core::TroubleLog marking_trouble("destination/" + destination.name);
  const core::Logger& log = connecting.log();
  if (NeedsAPerson(opened)) return Park(log, opened, health);
  while (!opened.ok() && !stopping_.load()) {
    connecting.Report(opened.message() + "; trying again every second",
                      {{"code", StatusCodeName(opened.code())}});
    std::this_thread::sleep_for(std::chrono::seconds(1));
    if (stopping_.load()) return;
    opened = sink.Open();
    if (NeedsAPerson(opened)) return Park(log, opened, health);
    if (opened.ok()) {
      health.Set(core::ComponentHealth::kOk, "");
      connecting.Resolved("opened");
    } else {
      health.Set(core::ComponentHealth::kDegraded,
                 opened.message() + "; trying again every second");
    }
  }
  // Ordered sinks deliver the next batch while the last one is being marked when that
  // batch was full and went out whole (every message delivered, no key held back): the
  // next read starts after its seq. Otherwise the marking comes first, and the next
  // read starts from the beginning.
  std::future<Status> marking;
  int64_t after_seq = 0;
  auto finish_marking = [&] {
    if (!marking.valid()) return true;
    Status marked = marking.get();
    if (!marked.ok()) {
      marking_trouble.Report("marking deliveries: " + marked.message(),
                             {{"code", StatusCodeName(marked.code())}});
    } else {
      marking_trouble.Resolved("marking deliveries again");
    }
    return marked.ok();
  };
  while (!stopping_.load()) {
    const int64_t seen = store_.HeadPosition();
    const int64_t now = options_.clock->NowMillis();
    Result<Batch> batch = NextBatch(destination, sink.ordered_batches(), after_seq, now);
    if (!batch.ok()) {
      reading.Report("reading the outbox: " + batch.status().message(),
                     {{"code", StatusCodeName(batch.status().code())}});
      finish_marking();
      after_seq = 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    reading.Resolved("reading the outbox again");
    if (batch->messages.empty()) {
      const bool marked = finish_marking();
      if (after_seq != 0 || !marked) {
        after_seq = 0;  // read again from the start, after the marking
        continue;
      }
      // Wait for a commit (new messages come with appends) or the next retry time.
      auto next = OutboxStore::NextDue(store_, destination.name);
      int64_t wait_ms = 1000;
      if (next.ok() && *next) wait_ms = std::clamp<int64_t>(**next - now, 1, 1000);
      store_.WaitForPositionAfter(
          seen, std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms));
      continue;
    }
    std::vector<Delivery> outcomes = sink.Deliver(batch->messages);
    const auto failed = std::find_if(outcomes.begin(), outcomes.end(),
                                     [](const Delivery& d) { return d.attempted && !d.delivered; });
    const auto attempted = std::count_if(outcomes.begin(), outcomes.end(),
                                         [](const Delivery& d) { return d.attempted; });
    if (std::any_of(outcomes.begin(), outcomes.end(),
                    [](const Delivery& d) { return d.delivered; })) {
      health.Set(core::ComponentHealth::kOk, "");
      outage.Resolved("delivering again");
    } else if (failed != outcomes.end()) {
      health.Set(core::ComponentHealth::kDegraded, "deliveries fail: " + failed->error);
      // One outage, whatever each attempt says; its end says how long and how many.
      outage.Repeat("deliveries fail: " + failed->error + "; retrying per the retry policy",
                    {{"attempts", static_cast<int64_t>(attempted)}});
    }

    const int64_t done = options_.clock->NowMillis();
    if (attempts_ != nullptr) attempts_->Inc(attempted);
    const bool whole =
        !batch->blocked && std::all_of(outcomes.begin(), outcomes.end(),
                                       [](const Delivery& d) { return d.delivered; });
    const bool marked = finish_marking();
    // Only a full batch is marked in the background: more messages wait behind it, read
    // after its seq. One that was not full means the relay has caught up; it is marked
    // before the next read, which starts from the beginning again (and so also picks
    // up a dead message put back by retry). Reading from the start while a batch is
    // still being marked would deliver that batch again.
    const bool full = batch->cut || batch->messages.size() >= kOrderedBatchMessages;
    if (sink.ordered_batches() && whole && marked && full) {
      after_seq = batch->messages.back().seq;
      marking = std::async(std::launch::async,
                           [this, batch = std::move(*batch), outcomes = std::move(outcomes), done] {
                             return Mark(batch, outcomes, done);
                           });
      continue;
    }
    after_seq = 0;
    Status marked_now = Mark(*batch, outcomes, done);
    if (!marked_now.ok()) {
      marking_trouble.Report("marking deliveries: " + marked_now.message(),
                             {{"code", StatusCodeName(marked_now.code())}});
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    } else {
      marking_trouble.Resolved("marking deliveries again");
    }
  }
  finish_marking();
}

void Relay::Prune() {
  auto last = std::chrono::steady_clock::now() - std::chrono::hours(1);
  while (!stopping_.load()) {
    if (std::chrono::steady_clock::now() - last >= options_.prune_every) {
      last = std::chrono::steady_clock::now();
      const int64_t before = options_.clock->NowMillis() - settings_.retention.count();
      // Small units, so appends never wait long behind a prune.
      for (int round = 0; round < 1000 && !stopping_.load(); ++round) {
        auto deleted = OutboxStore::Prune(store_, before, 500);
        if (!deleted.ok() || *deleted < 500) break;
      }
    }
    std::this_thread::sleep_for(
        std::min<std::chrono::milliseconds>(options_.prune_every, std::chrono::milliseconds(200)));
  }
}

}  // namespace rivulet::outbox
