#include "outbox/relay.h"

#include <cstdio>
#include <map>
#include <set>

#include "core/random.h"
#include "core/status_macros.h"
#include "outbox/outbox_store.h"

namespace rivulet::outbox {

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
    // A destination that is down at start is opened again by its thread; one that is
    // misconfigured (a stream not covering the subjects) stops the start.
    Status opened = sink->Open();
    if (!opened.ok() && opened.code() != StatusCode::kUnavailable) return opened;
    open_.push_back(opened.ok());
    if (!opened.ok()) {
      std::fprintf(stderr, "rivulet: %s; retrying every second\n", opened.message().c_str());
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
    threads_.emplace_back([this, i] { Run(settings_.destinations[i], *sinks_[i], open_[i]); });
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

void Relay::Run(const Destination& destination, Sink& sink, bool open) {
  const core::RetryPolicy& policy = settings_.retry;
  while (!open && !stopping_.load()) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    Status opened = sink.Open();
    open = opened.ok();
    if (!open && opened.code() != StatusCode::kUnavailable) {
      std::fprintf(stderr, "rivulet: %s\n", opened.message().c_str());
    }
  }
  while (!stopping_.load()) {
    const int64_t seen = store_.HeadPosition();
    const int64_t now = options_.clock->NowMillis();
    Result<std::vector<Message>> batch = std::vector<Message>();
    if (sink.ordered_batches()) {
      // In seq order; a key whose oldest pending message is not due yet waits entirely.
      batch = OutboxStore::PendingInOrder(store_, destination.name, 20'000);
      if (batch.ok()) {
        std::set<std::string> blocked;
        std::vector<Message> due;
        for (Message& m : *batch) {
          if (blocked.count(m.key)) continue;
          if (m.next_attempt_at > now) {
            blocked.insert(m.key);
            continue;
          }
          due.push_back(std::move(m));
        }
        batch = std::move(due);
      }
    } else {
      batch = OutboxStore::Deliverable(store_, destination.name, now, 1000);
    }
    if (!batch.ok()) {
      std::fprintf(stderr, "rivulet: outbox %s: %s\n", destination.name.c_str(),
                   batch.status().ToString().c_str());
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    if (batch->empty()) {
      // Wait for a commit (new messages come with appends) or the next retry time.
      auto next = OutboxStore::NextDue(store_, destination.name);
      int64_t wait_ms = 1000;
      if (next.ok() && *next) wait_ms = std::clamp<int64_t>(**next - now, 1, 1000);
      store_.WaitForPositionAfter(
          seen, std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms));
      continue;
    }
    std::vector<Delivery> outcomes = sink.Deliver(*batch);
    const int64_t done = options_.clock->NowMillis();
    if (attempts_ != nullptr) attempts_->Inc(batch->size());
    Status marked = store_.Write([&](eventstore::Transaction& tx) -> Status {
      std::vector<int64_t> delivered;
      for (size_t i = 0; i < batch->size(); ++i) {
        const Message& m = (*batch)[i];
        const Delivery& d = outcomes[i];
        if (d.delivered) {
          delivered.push_back(m.seq);
          continue;
        }
        std::optional<int64_t> retry_at;
        if (d.retryable && policy.AttemptsLeft(static_cast<int>(m.attempts + 1))) {
          retry_at =
              done + policy.Delay(static_cast<int>(m.attempts + 1), core::RandomU64()).count();
        }
        RETURN_IF_ERROR(OutboxStore::MarkFailed(tx, m.seq, d.error, retry_at));
      }
      return OutboxStore::MarkDelivered(tx, delivered, done);
    });
    if (!marked.ok()) {
      std::fprintf(stderr, "rivulet: outbox %s: marking deliveries: %s\n", destination.name.c_str(),
                   marked.ToString().c_str());
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    if (latency_ != nullptr) {
      for (size_t i = 0; i < batch->size(); ++i) {
        if (outcomes[i].delivered)
          latency_->Observe(static_cast<double>(done - (*batch)[i].created_at) / 1000.0);
      }
    }
  }
}

void Relay::Prune() {
  auto last = std::chrono::steady_clock::now() - std::chrono::hours(1);
  while (!stopping_.load()) {
    if (std::chrono::steady_clock::now() - last >= std::chrono::seconds(60)) {
      last = std::chrono::steady_clock::now();
      const int64_t before = options_.clock->NowMillis() - settings_.retention.count();
      // Small units, so appends never wait long behind a prune.
      for (int round = 0; round < 1000 && !stopping_.load(); ++round) {
        auto deleted = OutboxStore::Prune(store_, before, 500);
        if (!deleted.ok() || *deleted < 500) break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace rivulet::outbox
