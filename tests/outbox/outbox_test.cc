#include <nats/nats.h>

#include <catch2/catch.hpp>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/clock.h"
#include "core/http_rules.h"
#include "core/status_macros.h"
#include "core/uuid.h"
#include "outbox/outbox_store.h"
#include "outbox/publisher.h"
#include "outbox/relay.h"
#include "tests/support/log_capture.h"
#include "tests/support/nats_server.h"
#include "tests/support/raw_http_server.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_store.h"
#include "tests/support/webhook_receiver.h"

using namespace rivulet;
using namespace rivulet::testing;
using core::Json;
using std::chrono::milliseconds;

namespace {

outbox::OutboxSettings Settings(const std::vector<outbox::Destination>& destinations,
                                const std::string& match = R"({"type": "OrderShipped"})") {
  outbox::OutboxSettings s;
  s.destinations = destinations;
  outbox::PublishRule rule;
  rule.match = core::Filter::Parse(Json::parse(match)).value();
  for (const auto& d : destinations) rule.to.push_back(d.name);
  s.publish.push_back(std::move(rule));
  s.retry = core::RetryPolicy{3, milliseconds(100), 2.0, milliseconds(1000),
                              core::RetryPolicy::Jitter::kNone};
  return s;
}

outbox::Destination Jsonl(const std::string& path) {
  outbox::Destination d;
  d.name = "audit";
  d.type = outbox::Destination::Type::kJsonl;
  d.path = path;
  return d;
}

eventstore::AppendRequest Event(const std::string& stream, const std::string& type, int n) {
  eventstore::AppendRequest a;
  a.stream = stream;
  a.events.push_back({"", type, Json{{"n", n}}, Json::object()});
  return a;
}

std::vector<outbox::Message> All(eventstore::EventStore& store, const std::string& status = "") {
  auto list = outbox::OutboxStore::List(store, status, "", 0, 100000);
  REQUIRE(list.ok());
  return *list;
}

std::vector<Json> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<Json> out;
  std::string line;
  while (std::getline(in, line)) {
    Json parsed = Json::parse(line, nullptr, false);
    if (!parsed.is_discarded()) out.push_back(std::move(parsed));  // skips a torn line
  }
  return out;
}

template <class Predicate>
void WaitUntil(Predicate done, core::ManualClock* clock = nullptr) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done()) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    if (clock != nullptr) clock->Advance(milliseconds(100));
    std::this_thread::sleep_for(milliseconds(5));
  }
}

// An http destination delivering to `receiver`.
outbox::Destination Webhook(const WebhookReceiver& receiver, const std::string& secret) {
  outbox::Destination d;
  d.name = "hooks";
  d.type = outbox::Destination::Type::kHttp;
  d.url = receiver.url();
  d.secret = secret;
  d.timeout = milliseconds(2000);
  return d;
}

// A nats destination "bus": stream RIVULET, subjects rivulet.<type>.
outbox::Destination Bus(const std::string& url) {
  outbox::Destination d;
  d.name = "bus";
  d.type = outbox::Destination::Type::kNats;
  d.url = url;
  d.stream = "RIVULET";
  d.subject = core::Template::Parse("rivulet.${type}").value();
  return d;
}

// The store stamps messages with the real time; a manual clock that starts there makes
// fresh messages due at once.
core::TimePoint StoreTime() {
  return std::chrono::time_point_cast<core::TimePoint::duration>(std::chrono::system_clock::now());
}

}  // namespace

TEST_CASE("outbox rows commit with their append, or not at all", "[outbox]") {
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  REQUIRE(outbox::InstallPublisher(*store, Settings({Jsonl(dir.File("out.jsonl"))})).ok());

  REQUIRE(store->Append(Event("order-1", "OrderShipped", 1)).ok());
  REQUIRE(store->Append(Event("order-1", "OrderPlaced", 2)).ok());  // matches no rule
  // A unit that appends a matching event and then fails: neither event nor row remains.
  Status failed = store->Write([&](eventstore::Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Append(Event("order-2", "OrderShipped", 3)).status());
    return Status::Unavailable("injected failure after the append");
  });
  CHECK_FALSE(failed.ok());
  auto rows = All(*store);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].key == "order-1");
  CHECK(rows[0].status == "pending");
  CHECK(rows[0].Headers()["Rivulet-Event-Type"] == "OrderShipped");
  CHECK(Json::parse(rows[0].payload)["data"]["n"] == 1);
  CHECK(rows[0].id.size() == 36);
}

TEST_CASE("jsonl: every message once, in order per key, never twice after a crash", "[outbox]") {
  TempDir dir;
  const std::string path = dir.File("out.jsonl");
  auto store = OpenTestStore("sqlite", dir);
  auto settings = Settings({Jsonl(path)});
  REQUIRE(outbox::InstallPublisher(*store, settings).ok());
  for (int i = 0; i < 300; ++i)
    REQUIRE(store->Append(Event("order-" + std::to_string(i % 7), "OrderShipped", i)).ok());

  // As if a relay wrote the first 5 messages and died before marking them delivered
  // (with a torn line after them).
  auto pending = All(*store, "pending");
  {
    std::ofstream out(path);
    for (int i = 0; i < 5; ++i) {
      out << Json{{"id", pending[static_cast<size_t>(i)].id},
                  {"payload", Json::parse(pending[static_cast<size_t>(i)].payload)}}
                 .dump()
          << "\n";
    }
    out << "{\"id\": \"torn";
  }
  outbox::Relay relay(*store, settings, {});
  REQUIRE(relay.Start().ok());
  WaitUntil([&] { return All(*store, "pending").empty(); });
  relay.Stop();

  std::map<std::string, int> seen;
  std::map<std::string, int> last_n;
  for (const Json& line : Lines(path)) {
    if (!line.contains("payload")) continue;
    ++seen[line["id"].get<std::string>()];
    const Json& event = line["payload"];
    const std::string key = event["stream"];
    const int previous = last_n.count(key) ? last_n[key] : -1;
    CHECK(event["data"]["n"].get<int>() > previous);
    last_n[key] = event["data"]["n"];
  }
  CHECK(seen.size() == 300);
  for (const auto& [id, count] : seen) CHECK(count == 1);
  CHECK(All(*store, "delivered").size() == 300);
}

TEST_CASE("http: signed, in order per key while keys go in parallel, after an outage", "[outbox]") {
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  WebhookReceiver receiver("s3cret");
  std::atomic<bool> down{true};
  receiver.set_answer([&](const Json&) { return down.load() ? 503 : 200; });
  core::ManualClock clock(StoreTime());
  auto settings = Settings({Webhook(receiver, "s3cret")});
  settings.retry.max_attempts = 1000;
  REQUIRE(outbox::InstallPublisher(*store, settings).ok());
  outbox::Relay::Options options;
  options.clock = &clock;
  outbox::Relay relay(*store, settings, options);
  REQUIRE(relay.Start().ok());
  for (int i = 0; i < 200; ++i)
    REQUIRE(store->Append(Event("order-" + std::to_string(i % 10), "OrderShipped", i)).ok());
  WaitUntil([&] { return receiver.seen().requests.size() >= 10; },  // each key's first tried
            &clock);
  down.store(false);  // back
  WaitUntil([&] { return All(*store, "pending").empty(); }, &clock);
  relay.Stop();

  const WebhookReceiver::Seen seen = receiver.seen();
  CHECK(seen.firsts.size() == 200);
  CHECK(seen.bad_signatures == 0);
  std::map<std::string, int> last;
  for (const Json& event : seen.firsts) {
    const std::string key = event["stream"];
    if (last.count(key)) CHECK(event["data"]["n"].get<int>() > last[key]);
    last[key] = event["data"]["n"];
  }
  auto delivered = All(*store, "delivered");
  CHECK(delivered.size() == 200);
}

TEST_CASE("http: a 4xx is dead at once, retries end dead, and retry delivers", "[outbox]") {
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  WebhookReceiver receiver;
  std::atomic<int> status{400};
  receiver.set_answer([&](const Json&) { return status.load(); });
  core::ManualClock clock(StoreTime());
  auto settings = Settings({Webhook(receiver, "")});
  REQUIRE(outbox::InstallPublisher(*store, settings).ok());
  outbox::Relay::Options options;
  options.clock = &clock;
  outbox::Relay relay(*store, settings, options);
  REQUIRE(relay.Start().ok());

  REQUIRE(store->Append(Event("order-1", "OrderShipped", 1)).ok());
  REQUIRE(store->Append(Event("order-1", "OrderShipped", 2)).ok());
  // The first is refused for good; the second of the same key then proceeds (refused too).
  WaitUntil([&] { return All(*store, "dead").size() == 2; }, &clock);
  auto dead = All(*store, "dead");
  CHECK(dead[0].attempts == 1);
  CHECK(dead[0].last_error.find("answered 400") != std::string::npos);

  status.store(503);  // retryable: 3 attempts, then dead
  REQUIRE(store->Append(Event("order-2", "OrderShipped", 3)).ok());
  WaitUntil([&] { return All(*store, "dead").size() == 3; }, &clock);
  CHECK(All(*store, "dead")[2].attempts == 3);

  status.store(200);
  auto retried = outbox::OutboxStore::Retry(*store, dead[0].id, clock.NowMillis());
  REQUIRE(retried.ok());
  CHECK(retried->status == "pending");
  CHECK(outbox::OutboxStore::Retry(*store, dead[0].id, clock.NowMillis()).status().reason() ==
        "conflict");
  CHECK(outbox::OutboxStore::Retry(*store, "nope", clock.NowMillis()).status().code() ==
        StatusCode::kNotFound);
  WaitUntil([&] { return All(*store, "delivered").size() == 1; }, &clock);
  relay.Stop();
  const auto firsts = receiver.seen().firsts;
  REQUIRE(firsts.size() == 1);
  CHECK(firsts[0]["data"]["n"] == 1);
}

TEST_CASE("nats: JetStream receives every message once, also after a forced re-delivery",
          "[outbox][nats]") {
  NatsServer nats;
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  outbox::Destination d = Bus(nats.url());
  auto settings = Settings({d});
  REQUIRE(outbox::InstallPublisher(*store, settings).ok());
  for (int i = 0; i < 200; ++i)
    REQUIRE(store->Append(Event("order-" + std::to_string(i % 10), "OrderShipped", i)).ok());
  {
    outbox::Relay relay(*store, settings, {});
    REQUIRE(relay.Start().ok());  // creates the stream
    WaitUntil([&] { return All(*store, "delivered").size() == 200; });
  }
  CHECK(nats.Count("RIVULET") == 200);

  // As if the relay died before marking: everything pending again, sent again.
  REQUIRE(store
              ->Write([](eventstore::Transaction& tx) {
                return tx.Execute("UPDATE outbox_messages SET status = 'pending'");
              })
              .ok());
  {
    outbox::Relay relay(*store, settings, {});
    REQUIRE(relay.Start().ok());  // the stream exists and covers rivulet.>
    WaitUntil([&] { return All(*store, "delivered").size() == 200; });
  }
  CHECK(nats.Count("RIVULET") == 200);  // JetStream dropped the duplicates by Nats-Msg-Id
}

TEST_CASE(
    "nats: a stream that does not cover the subjects fails the destination, said once, "
    "never retried",
    "[outbox][nats][log]") {
  NatsServer nats;
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  LogCapture log;
  outbox::Destination d = Bus(nats.url());
  d.stream = "OTHER";
  d.subject = core::Template::Parse("other.${type}").value();
  REQUIRE(nats.AddStream("OTHER", "elsewhere.>"));
  auto settings = Settings({d});
  REQUIRE(outbox::InstallPublisher(*store, settings).ok());
  outbox::Relay relay(*store, settings, {});
  REQUIRE(relay.Start().ok());  // the rest of the process goes on
  for (int i = 0; i < 5; ++i) REQUIRE(store->Append(Event("order-1", "OrderShipped", i)).ok());

  auto components = relay.Components();
  REQUIRE(components.size() == 1);
  CHECK(components[0].health == core::ComponentHealth::kFailed);
  CHECK_THAT(components[0].detail, Catch::Contains("does not cover the subjects other.>") &&
                                       Catch::Contains("then restart rivulet"));
  std::this_thread::sleep_for(milliseconds(2500));  // a retry would come every second
  INFO(log.Text());
  const auto said = log.Matching("destination/bus", "");
  REQUIRE(said.size() == 1);
  CHECK(said[0]["level"] == "error");
  CHECK(said[0]["code"] == "failed_precondition");
  CHECK_THAT(said[0]["msg"].get<std::string>(), Catch::Contains("does not cover the subjects"));
  CHECK(All(*store, "pending").size() == 5);  // they wait for the fix
  CHECK(nats.Count("OTHER") == 0);
}

TEST_CASE("nats: refused credentials fail the destination, said once, never retried",
          "[outbox][nats][log]") {
  NatsServer nats(FreeLoopbackPort(), "rivulet", "right");
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  LogCapture log;
  outbox::Destination d = Bus("nats://rivulet:wrong@127.0.0.1:" + std::to_string(nats.port()));
  auto settings = Settings({d});
  REQUIRE(outbox::InstallPublisher(*store, settings).ok());
  outbox::Relay relay(*store, settings, {});
  REQUIRE(relay.Start().ok());
  REQUIRE(store->Append(Event("order-1", "OrderShipped", 1)).ok());
  auto components = relay.Components();
  REQUIRE(components.size() == 1);
  CHECK(components[0].health == core::ComponentHealth::kFailed);
  CHECK_THAT(components[0].detail,
             Catch::Contains("refused the login") && Catch::Contains("correct the credentials"));
  std::this_thread::sleep_for(milliseconds(2500));
  INFO(log.Text());
  const auto said = log.Matching("destination/bus", "");
  REQUIRE(said.size() == 1);
  CHECK(said[0]["level"] == "error");
  CHECK(All(*store, "pending").size() == 1);
  CHECK(nats.Count("RIVULET") == -1);  // never created: the destination never got in
}

TEST_CASE("jsonl: a destination whose directory is missing fails, said once, until a restart",
          "[outbox][log]") {
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  LogCapture log;
  const std::string path = dir.File("missing/audit.jsonl");
  auto settings = Settings({Jsonl(path)});
  REQUIRE(outbox::InstallPublisher(*store, settings).ok());
  {
    outbox::Relay relay(*store, settings, {});
    REQUIRE(relay.Start().ok());
    for (int i = 0; i < 3; ++i) REQUIRE(store->Append(Event("order-1", "OrderShipped", i)).ok());
    auto components = relay.Components();
    REQUIRE(components.size() == 1);
    CHECK(components[0].health == core::ComponentHealth::kFailed);
    CHECK_THAT(components[0].detail, Catch::Contains("No such file or directory") &&
                                         Catch::Contains("create its directory") &&
                                         Catch::Contains("restart rivulet"));
    // Fixed behind its back: it does not look again by itself.
    std::filesystem::create_directories(dir.File("missing"));
    std::this_thread::sleep_for(milliseconds(2500));
    CHECK_FALSE(std::filesystem::exists(path));
    INFO(log.Text());
    const auto said = log.Matching("destination/audit", "");
    REQUIRE(said.size() == 1);
    CHECK(said[0]["level"] == "error");
    CHECK(All(*store, "pending").size() == 3);
  }
  // The restart after the fix delivers everything.
  outbox::Relay relay(*store, settings, {});
  REQUIRE(relay.Start().ok());
  WaitUntil([&] { return All(*store, "delivered").size() == 3; });
  CHECK(Lines(path).size() == 3);
}

TEST_CASE("http: an outage is said when it begins and when it ends, not once per retry",
          "[outbox][log]") {
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  LogCapture log;
  WebhookReceiver receiver;
  std::atomic<bool> down{true};
  receiver.set_answer([&](const Json&) { return down.load() ? 503 : 204; });
  core::ManualClock clock(StoreTime());
  auto settings = Settings({Webhook(receiver, "")});
  settings.retry.max_attempts = 1000;
  REQUIRE(outbox::InstallPublisher(*store, settings).ok());
  outbox::Relay::Options options;
  options.clock = &clock;
  outbox::Relay relay(*store, settings, options);
  REQUIRE(relay.Start().ok());
  for (int i = 0; i < 5; ++i)
    REQUIRE(store->Append(Event("order-" + std::to_string(i), "OrderShipped", i)).ok());
  auto requests = [&] {
    int n = 0;
    for (const auto& [id, count] : receiver.seen().requests) n += count;
    return n;
  };
  WaitUntil([&] { return requests() >= 40; }, &clock);  // many retries, all refused
  CHECK(relay.Components()[0].health == core::ComponentHealth::kDegraded);
  down.store(false);
  WaitUntil([&] { return All(*store, "pending").empty(); }, &clock);
  relay.Stop();

  INFO(log.Text());
  std::vector<Json> warnings;
  for (const Json& r : log.Matching("destination/hooks", "")) {
    if (r["level"] != "debug") warnings.push_back(r);
  }
  REQUIRE(warnings.size() == 2);
  CHECK(warnings[0]["level"] == "warn");
  CHECK_THAT(warnings[0]["msg"].get<std::string>(), Catch::Contains("answered 503"));
  CHECK(warnings[1]["level"] == "info");
  CHECK(warnings[1]["msg"] == "delivering again");
  CHECK(warnings[1]["retries"].get<int64_t>() >= 5);
  CHECK(warnings[1].contains("after_ms"));
}

TEST_CASE("nats: a server that is down at start is connected to later, and gets everything",
          "[outbox][nats]") {
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  const int port = FreeLoopbackPort();
  outbox::Destination d = Bus("nats://127.0.0.1:" + std::to_string(port));
  auto settings = Settings({d});
  REQUIRE(outbox::InstallPublisher(*store, settings).ok());
  outbox::Relay relay(*store, settings, {});
  REQUIRE(relay.Start().ok());  // nothing listens there yet
  for (int i = 0; i < 20; ++i) REQUIRE(store->Append(Event("order-1", "OrderShipped", i)).ok());
  std::this_thread::sleep_for(milliseconds(300));
  CHECK(All(*store, "pending").size() == 20);
  NatsServer nats(port);
  WaitUntil([&] { return All(*store, "delivered").size() == 20; });
  relay.Stop();
  CHECK(nats.Count("RIVULET") == 20);
}

namespace {

// Holds a receiver's answers until opened (or two minutes pass).
class Gate {
 public:
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::minutes(2), [&] { return open_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

size_t Count(eventstore::EventStore& store, const std::string& destination,
             const std::string& status) {
  auto list = outbox::OutboxStore::List(store, status, destination, 0, 100000);
  REQUIRE(list.ok());
  return list->size();
}

// Every n of `events` (objects with stream and data.n) once, increasing per stream.
void CheckOnceInOrderPerKey(const std::vector<Json>& events, int n) {
  std::map<std::string, int> last;
  std::set<int> seen;
  for (const Json& event : events) {
    const std::string key = event["stream"];
    const int value = event["data"]["n"];
    CHECK(seen.insert(value).second);
    if (last.count(key)) CHECK(value > last[key]);
    last[key] = value;
  }
  CHECK(seen.size() == static_cast<size_t>(n));
}

}  // namespace

TEST_CASE("per-key order holds in every destination while one of them is held up",
          "[outbox][nats]") {
  NatsServer nats;
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  Gate gate;
  WebhookReceiver slow_receiver;
  slow_receiver.set_answer([&](const Json&) {
    gate.Wait();
    return 204;
  });
  WebhookReceiver fast_receiver;
  outbox::Destination slow = Webhook(slow_receiver, "");
  slow.name = "slow";
  slow.timeout = milliseconds(180'000);
  outbox::Destination fast = Webhook(fast_receiver, "");
  outbox::Destination bus = Bus(nats.url());
  auto settings = Settings({slow, fast, Jsonl(dir.File("out.jsonl")), bus});
  REQUIRE(outbox::InstallPublisher(*store, settings).ok());
  outbox::Relay relay(*store, settings, {});
  struct OpenOnExit {  // the relay's slow thread must not wait at the gate while it stops
    Gate& gate;
    ~OpenOnExit() { gate.Open(); }
  } open_on_exit{gate};
  REQUIRE(relay.Start().ok());

  const int n = 400;
  for (int i = 0; i < n; ++i)
    REQUIRE(store->Append(Event("order-" + std::to_string(i % 20), "OrderShipped", i)).ok());
  // The other three deliver everything while the slow one has not finished one message.
  WaitUntil([&] {
    return Count(*store, "hooks", "delivered") == n && Count(*store, "audit", "delivered") == n &&
           Count(*store, "bus", "delivered") == n;
  });
  CHECK(Count(*store, "slow", "delivered") == 0);
  CHECK(Count(*store, "slow", "pending") == n);
  gate.Open();
  WaitUntil([&] { return Count(*store, "slow", "delivered") == n; });
  relay.Stop();

  CheckOnceInOrderPerKey(slow_receiver.seen().firsts, n);
  CheckOnceInOrderPerKey(fast_receiver.seen().firsts, n);
  std::vector<Json> lines;
  for (const Json& line : Lines(dir.File("out.jsonl"))) lines.push_back(line["payload"]);
  CheckOnceInOrderPerKey(lines, n);
  std::vector<Json> published;
  for (const std::string& payload : nats.Payloads("RIVULET"))
    published.push_back(Json::parse(payload));
  CheckOnceInOrderPerKey(published, n);
}

TEST_CASE("nats: a key's later messages wait while an earlier one is retried", "[outbox][nats]") {
  NatsServer nats;
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  REQUIRE(nats.AddStream("RIVULET", "rivulet.>", 1000));  // refuses messages over 1,000 bytes
  outbox::Destination d = Bus(nats.url());
  auto settings = Settings({d});
  REQUIRE(outbox::InstallPublisher(*store, settings).ok());
  REQUIRE(store->Append(Event("order-a", "OrderShipped", 1)).ok());
  eventstore::AppendRequest big = Event("order-a", "OrderShipped", 2);
  big.events[0].data["note"] = std::string(1000, 'x');  // over the stream's limit
  REQUIRE(store->Append(big).ok());
  REQUIRE(store->Append(Event("order-a", "OrderShipped", 3)).ok());
  REQUIRE(store->Append(Event("order-b", "OrderShipped", 4)).ok());
  core::ManualClock clock(StoreTime());  // after the appends: all of them are due
  outbox::Relay::Options options;
  options.clock = &clock;
  outbox::Relay relay(*store, settings, options);
  REQUIRE(relay.Start().ok());

  // 1 and 4 go; 2 is refused and waits for its retry; 3 waits behind it, untried.
  WaitUntil([&] { return Count(*store, "bus", "delivered") >= 2; });
  auto messages = All(*store);
  REQUIRE(messages.size() == 4);
  CHECK(messages[1].attempts == 1);
  CHECK_THAT(messages[1].last_error, Catch::Contains("JetStream"));
  std::this_thread::sleep_for(milliseconds(200));  // rounds of the relay, clock held
  messages = All(*store);
  CHECK(messages[2].status == "pending");
  CHECK(messages[2].attempts == 0);

  // Its attempts run out (3): dead, and 3 then proceeds.
  WaitUntil([&] { return Count(*store, "bus", "delivered") == 3; }, &clock);
  relay.Stop();
  messages = All(*store);
  CHECK(messages[1].status == "dead");
  CHECK(messages[1].attempts == 3);
  std::vector<int> order_a;
  for (const std::string& payload : nats.Payloads("RIVULET")) {
    Json event = Json::parse(payload);
    if (event["stream"] == "order-a") order_a.push_back(event["data"]["n"]);
  }
  CHECK(order_a == std::vector<int>{1, 3});
}

TEST_CASE("delivered messages are pruned after the retention, dead ones stay", "[outbox]") {
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  WebhookReceiver receiver;
  receiver.set_answer([](const Json&) { return 400; });  // dead at once
  auto settings = Settings({Jsonl(dir.File("out.jsonl")), Webhook(receiver, "")});
  settings.publish[0].to = {"audit"};
  outbox::PublishRule refused;
  refused.match = core::Filter::Parse(Json::parse(R"({"type": "OrderRefused"})")).value();
  refused.to = {"hooks"};
  settings.publish.push_back(std::move(refused));
  settings.retention = std::chrono::hours(1);
  REQUIRE(outbox::InstallPublisher(*store, settings).ok());
  REQUIRE(
      store
          ->Write([&](eventstore::Transaction& tx) -> Status {
            for (int i = 0; i < 1200; ++i)  // more than one prune unit of 500
              RETURN_IF_ERROR(
                  tx.Append(Event("order-" + std::to_string(i % 7), "OrderShipped", i)).status());
            return tx.Append(Event("order-x", "OrderRefused", 0)).status();
          })
          .ok());
  core::ManualClock clock(StoreTime());
  outbox::Relay::Options options;
  options.clock = &clock;
  options.prune_every = milliseconds(20);
  outbox::Relay relay(*store, settings, options);
  REQUIRE(relay.Start().ok());
  WaitUntil([&] {
    return Count(*store, "audit", "delivered") == 1200 && Count(*store, "hooks", "dead") == 1;
  });

  clock.Advance(std::chrono::minutes(50));  // within the retention
  std::this_thread::sleep_for(milliseconds(200));
  CHECK(Count(*store, "audit", "delivered") == 1200);
  clock.Advance(std::chrono::minutes(20));  // past it
  WaitUntil([&] { return Count(*store, "audit", "delivered") == 0; });
  relay.Stop();
  CHECK(All(*store).size() == 1);
  CHECK(Count(*store, "hooks", "dead") == 1);
}

TEST_CASE("jsonl and nats: each message is attempted once when nothing fails", "[outbox][nats]") {
  NatsServer nats;
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  auto settings = Settings({Jsonl(dir.File("out.jsonl")), Bus(nats.url())});
  REQUIRE(outbox::InstallPublisher(*store, settings).ok());
  core::MetricsRegistry metrics;
  outbox::Relay::Options options;
  options.metrics = &metrics;
  outbox::Relay relay(*store, settings, options);
  REQUIRE(relay.Start().ok());
  for (int i = 0; i < 40; ++i) {  // a trickle: the relay is caught up between messages
    REQUIRE(store->Append(Event("order-" + std::to_string(i % 3), "OrderShipped", i)).ok());
    std::this_thread::sleep_for(milliseconds(5));
  }
  WaitUntil([&] {
    return Count(*store, "audit", "delivered") == 40 && Count(*store, "bus", "delivered") == 40;
  });
  std::this_thread::sleep_for(milliseconds(200));
  relay.Stop();
  CHECK(metrics.GetCounter("rivulet_outbox_attempts_total", "").value() == 80);
  CHECK(nats.Count("RIVULET") == 40);
}

TEST_CASE("nats: a message whose subject NATS cannot take is dead, and only that one",
          "[outbox][nats]") {
  NatsServer nats;
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  outbox::Destination d = Bus(nats.url());  // subject rivulet.${type}
  d.timeout = milliseconds(2000);
  auto settings = Settings({d}, R"({"type": {"$regex": "^Order"}})");
  REQUIRE(outbox::InstallPublisher(*store, settings).ok());
  const std::map<int, std::string> bad = {
      {100, "Order Shipped"}, {150, "Order*"}, {200, "Order."}, {250, "Order.>"}};
  for (int i = 0; i < 300; ++i) {
    const std::string type = bad.count(i) ? bad.at(i) : "OrderShipped";
    REQUIRE(store->Append(Event("order-" + std::to_string(i % 30), type, i)).ok());
  }
  outbox::Relay relay(*store, settings, {});
  REQUIRE(relay.Start().ok());
  WaitUntil(
      [&] { return Count(*store, "bus", "delivered") + Count(*store, "bus", "dead") == 300; });
  relay.Stop();
  CHECK(Count(*store, "bus", "delivered") == 296);
  CHECK(nats.Count("RIVULET") == 296);
  auto dead = All(*store, "dead");
  REQUIRE(dead.size() == 4);
  const char* reasons[] = {"space or control character", "wildcard", "empty token", "wildcard"};
  for (size_t i = 0; i < dead.size(); ++i) {
    INFO(dead[i].last_error);
    CHECK(dead[i].attempts == 1);
    CHECK_THAT(dead[i].last_error, Catch::StartsWith("subject: subject \"rivulet.Order"));
    CHECK_THAT(dead[i].last_error, Catch::Contains(reasons[i]));
  }
}

TEST_CASE("http: header injection, trickled and oversized answers fail the attempt",
          "[outbox][http]") {
  RawHttpServer raw([](const std::string& request, RawHttpServer::Connection& c) {
    if (request.find("\"stream\":\"slow\"") != std::string::npos) {
      // 200 and 100 bytes, one every 100 ms: 10 s, each read well within the timeout.
      if (!c.Write("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 100\r\n\r\n")) return;
      for (int i = 0; i < 100; ++i) {
        if (!c.Pause(milliseconds(100)) || !c.Write(" ")) return;
      }
    } else if (request.find("\"stream\":\"big\"") != std::string::npos) {
      c.Write(RawHttpServer::Response(200, std::string(core::kMaxAnswerBytes + 1, ' ')));
    } else {
      c.Write(RawHttpServer::Response(200, "{}"));
    }
  });
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  outbox::Destination d;
  d.name = "hooks";
  d.type = outbox::Destination::Type::kHttp;
  d.url = raw.url() + "/hooks";
  d.timeout = milliseconds(1000);
  auto settings = Settings({d});
  settings.retry.max_attempts = 1;
  REQUIRE(outbox::InstallPublisher(*store, settings).ok());
  for (const char* stream : {"slow", "big", "fine"})
    REQUIRE(store->Append(Event(stream, "OrderShipped", 1)).ok());
  // A row whose header would end the header block early (event types cannot carry a
  // control character; a row written otherwise must not either).
  REQUIRE(store
              ->Write([](eventstore::Transaction& tx) {
                outbox::Message m;
                m.id = core::Uuid::NewV4().ToString();
                m.destination = "hooks";
                m.key = "injected";
                m.headers = Json{{"Rivulet-Event-Type", "A\r\nX-Injected: 1"}}.dump();
                m.payload = "{}";
                m.created_at = tx.now_millis();
                return outbox::OutboxStore::Insert(tx, m);
              })
              .ok());
  const auto started = std::chrono::steady_clock::now();
  outbox::Relay relay(*store, settings, {});
  REQUIRE(relay.Start().ok());
  WaitUntil([&] { return Count(*store, "hooks", "dead") == 3; });
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  WaitUntil([&] { return Count(*store, "hooks", "delivered") == 1; });
  relay.Stop();
  CHECK(took < 8.0);  // loosely: the trickle alone lasts 10 s

  std::map<std::string, std::string> errors;
  for (const auto& m : All(*store, "dead")) errors[m.key] = m.last_error;
  CHECK_THAT(errors["slow"], Catch::Contains("no complete answer within the timeout of 1000ms"));
  CHECK_THAT(errors["big"], Catch::Contains("answered 200 with a body over 4194304 bytes"));
  CHECK_THAT(errors["injected"],
             Catch::Contains("header Rivulet-Event-Type: control character 0x0d at byte 1"));
  const auto requests = raw.requests();
  CHECK(requests.size() == 3);  // slow, big, fine: the injected row never went out
  for (const std::string& r : requests) CHECK(r.find("X-Injected") == std::string::npos);
}
