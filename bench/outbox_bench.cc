#include "bench/outbox_bench.h"

#include <fcntl.h>
#include <httplib.h>
#include <nats/nats.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "bench/bench_util.h"
#include "core/status_macros.h"
#include "outbox/outbox_store.h"
#include "outbox/publisher.h"
#include "outbox/relay.h"
#include "tests/support/nats_server.h"
#include "tests/support/webhook_receiver.h"

namespace rivulet::bench {

namespace {

outbox::OutboxSettings Settings(const outbox::Destination& d) {
  outbox::OutboxSettings s;
  s.destinations = {d};
  outbox::PublishRule rule;
  rule.match = core::Filter::Parse(core::Json::parse(R"({"type": "Msg"})")).value();
  rule.to = {d.name};
  s.publish = {rule};
  return s;
}

void Fill(eventstore::EventStore& store, int messages, int keys) {
  for (int start = 0; start < messages; start += 1000) {
    Status written = store.Write([&](eventstore::Transaction& tx) -> Status {
      for (int i = start; i < std::min(messages, start + 1000); ++i) {
        eventstore::AppendRequest a;
        a.stream = "k-" + std::to_string(i % keys);
        a.events.push_back(
            {"", "Msg", core::Json{{"n", i}, {"text", "some payload"}}, core::Json::object()});
        RETURN_IF_ERROR(tx.Append(a).status());
      }
      return Status::Ok();
    });
    if (!written.ok()) throw std::runtime_error(written.ToString());
  }
}

// Cheap enough to poll while the relay works: one probe of the pending index.
bool AnyPending(eventstore::EventStore& store, const std::string& destination) {
  auto rows = store.Query(
      "SELECT 1 FROM outbox_messages WHERE destination = $1 AND status = 'pending' LIMIT 1",
      {destination});
  if (!rows.ok()) throw std::runtime_error(rows.status().ToString());
  return !rows->empty();
}

int64_t Pending(eventstore::EventStore& store) {
  auto counts = outbox::OutboxStore::Counts(store);
  if (!counts.ok()) throw std::runtime_error(counts.status().ToString());
  int64_t pending = 0;
  for (const auto& [d, status, n] : *counts) {
    if (status == "pending") pending += n;
    if (status == "dead") throw std::runtime_error("outbox messages went dead in the bench");
  }
  return pending;
}

// Drains `messages` through the relay; returns messages/s.
double Drain(const std::string& path, const outbox::Destination& d, int messages, int keys) {
  auto store = OpenStore(path);
  auto settings = Settings(d);
  if (!outbox::InstallPublisher(*store, settings).ok()) throw std::runtime_error("publisher");
  Fill(*store, messages, keys);
  outbox::Relay relay(*store, settings, {});
  auto start = Clock::now();
  if (!relay.Start().ok()) throw std::runtime_error("relay did not start");
  while (AnyPending(*store, d.name)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (SecondsSince(start) > 300) throw std::runtime_error("the outbox did not drain");
  }
  const double seconds = SecondsSince(start);
  if (Pending(*store) != 0) throw std::runtime_error("outbox messages left pending");
  relay.Stop();
  return messages / seconds;
}

}  // namespace

core::Json MeasureOutbox(const std::string& dir, int messages, int keys, int steady_rate) {
  core::Json out{{"messages", messages}, {"keys", keys}};

  // jsonl, and the file's own limit: the same lines written and fsynced in 5,000s.
  {
    outbox::Destination d;
    d.name = "audit";
    d.type = outbox::Destination::Type::kJsonl;
    d.path = dir + "/outbox.jsonl";
    out["jsonl_per_s"] = Drain(dir + "/outbox-jsonl.db", d, messages, keys);
    int fd = ::open((dir + "/raw.jsonl").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const std::string line =
        R"({"id":"01234567-89ab-cdef-0123-456789abcdef","payload":{"data":{"n":1,"text":"some payload"},"type":"Msg"}})"
        "\n";
    std::string chunk;
    for (int i = 0; i < 5000; ++i) chunk += line;
    auto start = Clock::now();
    for (int written = 0; written < messages; written += 5000) {
      if (::write(fd, chunk.data(), chunk.size()) < 0 || ::fsync(fd) != 0) break;
    }
    out["jsonl_raw_per_s"] = messages / SecondsSince(start);
    ::close(fd);
  }

  // A local webhook receiver, 16 connections; its own limit from 16 plain clients.
  {
    testing::WebhookReceiver receiver;
    outbox::Destination d;
    d.name = "hooks";
    d.type = outbox::Destination::Type::kHttp;
    d.url = receiver.url();
    d.secret = "bench-secret";
    out["webhook_per_s"] = Drain(dir + "/outbox-http.db", d, messages, keys);
    std::atomic<int64_t> done{0};
    std::vector<std::thread> clients;
    auto start = Clock::now();
    for (int c = 0; c < 16; ++c) {
      clients.emplace_back([&] {
        httplib::Client client("127.0.0.1", receiver.port());
        client.set_keep_alive(true);
        client.set_tcp_nodelay(true);
        while (SecondsSince(start) < 2.0) {
          if (client.Post("/hooks", R"({"n": 1})", "application/json")) done.fetch_add(1);
        }
      });
    }
    for (auto& t : clients) t.join();
    out["webhook_raw_per_s"] = static_cast<double>(done.load()) / 2.0;

    // Commit-to-delivery latency at a steady rate (delivered_at - created_at, in ms).
    auto store = OpenStore(dir + "/outbox-latency.db");
    auto settings = Settings(d);
    if (!outbox::InstallPublisher(*store, settings).ok()) throw std::runtime_error("publisher");
    outbox::Relay relay(*store, settings, {});
    if (!relay.Start().ok()) throw std::runtime_error("relay did not start");
    // Eight appenders, one event per append, as applications publish: one appender
    // alone waits for an fsync per append and falls short of the rate.
    const int total = steady_rate * 3;
    constexpr int kAppenders = 8;
    auto steady = Clock::now();
    std::vector<std::thread> appenders;
    for (int w = 0; w < kAppenders; ++w) {
      appenders.emplace_back([&, w] {
        for (int sent = w; sent < total;) {
          const int due = std::min(total, static_cast<int>(SecondsSince(steady) * steady_rate));
          for (; sent < due; sent += kAppenders) {
            eventstore::AppendRequest a;
            a.stream = "k-" + std::to_string(sent % keys);
            a.events.push_back({"", "Msg", core::Json{{"n", sent}}, core::Json::object()});
            (void)store->Append(a);
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      });
    }
    for (auto& t : appenders) t.join();
    const double achieved = total / SecondsSince(steady);
    while (Pending(*store) > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    relay.Stop();
    auto rows = store->Query(
        "SELECT delivered_at - created_at FROM outbox_messages WHERE status = 'delivered'");
    std::vector<double> latencies;
    if (rows.ok()) {
      for (const auto& row : *rows)
        latencies.push_back(static_cast<double>(std::get<int64_t>(row[0])));
    }
    out["latency_ms"] = {{"rate_per_s", steady_rate},
                         {"achieved_per_s", achieved},
                         {"p50", Percentile(latencies, 50)},
                         {"p99", Percentile(latencies, 99)}};
  }

  // A private JetStream, and its own limit: async publishes of the same payloads.
  {
    testing::NatsServer server;
    const std::string url = server.url();
    natsConnection* nc = nullptr;
    if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK)
      throw std::runtime_error("cannot connect to " + url);
    outbox::Destination d;
    d.name = "bus";
    d.type = outbox::Destination::Type::kNats;
    d.url = url;
    d.stream = "BENCH";
    d.subject = core::Template::Parse("bench.${type}").value();
    out["jetstream_per_s"] = Drain(dir + "/outbox-nats.db", d, messages, keys);

    jsCtx* js = nullptr;
    natsConnection_JetStream(&js, nc, nullptr);
    const std::string payload = R"({"data":{"n":1,"text":"some payload"},"type":"Msg"})";
    auto start = Clock::now();
    for (int i = 0; i < messages; ++i) {
      jsPubOptions options;
      jsPubOptions_Init(&options);
      const std::string id = "raw-" + std::to_string(i);
      options.MsgId = id.c_str();
      js_PublishAsync(js, "bench.Raw", payload.data(), static_cast<int>(payload.size()), &options);
    }
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 60'000;
    js_PublishAsyncComplete(js, &wait);
    out["jetstream_raw_per_s"] = messages / SecondsSince(start);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
  }
  return out;
}

}  // namespace rivulet::bench
