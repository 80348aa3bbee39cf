#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <map>

#include "config/config_loader.h"
#include "core/uuid.h"
#include "sources/change_event.h"
#include "sources/ingestor.h"
#include "sources/jsonl_source.h"
#include "tests/support/faulty_vfs.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_store.h"

using namespace rivulet;
using namespace rivulet::testing;
using core::Json;

namespace {

config::Config Load(const std::string& yaml) {
  auto config = config::LoadConfigString(yaml, "rivulet.yaml", "/tmp");
  INFO(config.status());
  REQUIRE(config.ok());
  return *config;
}

const char* kConfig = R"(
sources:
  - { name: api, type: http }
  - { name: other, type: http }
mappings:
  - source: api
    match: { ns.coll: orders }
    stream: "order-${documentKey.id}"
    type: "Order${operationType|pascal}"
    data: { after: "${fullDocument}", changes: "${updateDescription}" }
    metadata: { tenant: '${fullDocument.tenant ?? "none"}' }
  - source: api
    match: { ns.coll: customers }
)";

Json Change(const std::string& id, const std::string& op, const std::string& coll, Json key,
            Json doc = nullptr) {
  return Json{{"_id", {{"_data", id}}},
              {"operationType", op},
              {"ns", {{"db", "shop"}, {"coll", coll}}},
              {"documentKey", key},
              {"fullDocument", doc}};
}

sources::IngestBatch Batch(const std::string& source, const std::vector<Json>& changes) {
  sources::IngestBatch batch;
  batch.source = source;
  for (const Json& c : changes) {
    sources::Change change;
    change.event = c;
    change.position = c.contains("_id") ? c["_id"] : Json();
    batch.changes.push_back(std::move(change));
  }
  return batch;
}

std::vector<eventstore::RecordedEvent> Log(eventstore::EventStore& store) {
  eventstore::LogReadOptions options;
  options.limit = 100000;
  auto events = store.ReadLog(options);
  REQUIRE(events.ok());
  return events->events;
}

// A store with the source tables, and an ingestor with the mappings of `yaml`.
struct Ingesting {
  explicit Ingesting(const std::string& yaml, const TestStoreOptions& options = {})
      : store(OpenTestStore("sqlite", dir, options)),
        config(Load(yaml)),
        mapper(config.mappings),
        ingestor(*store, mapper) {
    REQUIRE(sources::Ingestor::Migrate(*store).ok());
  }
  TempDir dir;
  std::unique_ptr<eventstore::EventStore> store;
  config::Config config;
  sources::Mapper mapper;
  sources::Ingestor ingestor;
};

}  // namespace

TEST_CASE("mappings: templates, defaults, metadata, unmatched and ignored changes", "[sources]") {
  Ingesting f(kConfig);

  Json update = Change("t2", "update", "orders", {{"id", 42}});
  update["updateDescription"] = {{"updatedFields", {{"status", "paid"}}},
                                 {"removedFields", Json::array()}};
  update["clusterTime"] = {{"$timestamp", {{"t", 1700000000}, {"i", 1}}}};
  auto stats = f.ingestor.Ingest(Batch(
      "api",
      {Change("t1", "insert", "orders", {{"id", 42}}, {{"id", 42}, {"tenant", "acme"}}), update,
       Change("t3", "insert", "customers", {{"region", "eu"}, {"id", "c-1"}},
              {{"id", "c-1"}, {"region", "eu"}}),
       Change("t4", "insert", "invoices", {{"id", 1}}, {{"id", 1}}),  // no mapping
       Json{{"_id", "t5"}, {"operationType", "drop"}, {"ns", {{"coll", "orders"}}}}}));
  INFO(stats.status());
  REQUIRE(stats.ok());
  CHECK(stats->ingested == 3);
  CHECK(stats->unmatched == 1);
  CHECK(stats->ignored == 1);

  auto log = Log(*f.store);
  REQUIRE(log.size() == 3);
  Json first = log[0].ToJson();
  CHECK(first["stream"] == "order-42");
  CHECK(first["type"] == "OrderInsert");
  CHECK(first["data"] == Json{{"after", {{"id", 42}, {"tenant", "acme"}}}, {"changes", nullptr}});
  CHECK(first["metadata"]["tenant"] == "acme");
  CHECK(first["metadata"]["source"] == "api");
  CHECK(first["metadata"]["source_position"] == Json{{"_data", "t1"}});
  CHECK(first["metadata"].contains("cluster_time"));
  Json second = log[1].ToJson();
  CHECK(second["type"] == "OrderUpdate");
  CHECK(second["data"]["changes"]["updatedFields"]["status"] == "paid");
  CHECK(second["metadata"]["tenant"] == "none");
  CHECK(second["metadata"]["cluster_time"] == Json{{"t", 1700000000}, {"i", 1}});
  // Defaults: <coll>-<documentKey values>, <coll>.<operationType>, the documents.
  Json third = log[2].ToJson();
  CHECK(third["stream"] == "customers-c-1-eu");  // documentKey values in key order
  CHECK(third["type"] == "customers.insert");
  CHECK(third["data"]["fullDocument"]["region"] == "eu");
  CHECK(third["data"]["documentKey"] == Json{{"id", "c-1"}, {"region", "eu"}});
  CHECK(third["data"]["fullDocumentBeforeChange"].is_null());

  // A mapping for another source does not apply.
  auto other = f.ingestor.Ingest(
      Batch("other", {Change("t1", "insert", "orders", {{"id", 7}}, {{"id", 7}})}));
  REQUIRE(other.ok());
  CHECK(other->ingested == 0);
  CHECK(other->unmatched == 1);
}

TEST_CASE("Extended JSON becomes plain JSON, a malformed one is refused", "[sources]") {
  auto converted = sources::FromExtendedJson(Json::parse(R"({
    "_id": {"$oid": "65a1b2c3d4e5f60718293a4b"},
    "n": {"$numberLong": "9007199254740993"},
    "i": {"$numberInt": "7"},
    "d": {"$numberDouble": "1.5"},
    "price": {"$numberDecimal": "19.990"},
    "at": {"$date": "2024-03-01T12:00:00.5Z"},
    "at_ms": {"$date": {"$numberLong": "1709294400000"}},
    "ts": {"$timestamp": {"t": 1709294400, "i": 3}},
    "list": [{"$numberLong": "1"}, {"nested": {"$oid": "aa"}}],
    "plain": {"a": 1, "b": "x"}
  })"));
  INFO(converted.status());
  REQUIRE(converted.ok());
  const Json& c = *converted;
  CHECK(c["_id"] == "65a1b2c3d4e5f60718293a4b");
  CHECK(c["n"] == 9007199254740993LL);
  CHECK(c["i"] == 7);
  CHECK(c["d"] == 1.5);
  CHECK(c["price"] == "19.990");
  CHECK(c["at"] == "2024-03-01T12:00:00.500Z");
  CHECK(c["at_ms"] == "2024-03-01T12:00:00.000Z");
  CHECK(c["ts"] == Json{{"t", 1709294400}, {"i", 3}});
  CHECK(c["list"] == Json::parse(R"([1, {"nested": "aa"}])"));
  CHECK(c["plain"] == Json{{"a", 1}, {"b", "x"}});

  for (const char* bad : {R"({"n": {"$numberLong": "12x"}})", R"({"d": {"$date": true}})",
                          R"({"t": {"$timestamp": {"t": 1}}})", R"({"o": {"$oid": 5}})"}) {
    auto refused = sources::FromExtendedJson(Json::parse(bad));
    INFO(bad);
    CHECK(refused.status().code() == StatusCode::kInvalidArgument);
  }
  CHECK_THAT(sources::FromExtendedJson(Json::parse(R"({"a": {"b": {"$numberLong": "x"}}})"))
                 .status()
                 .message(),
             Catch::Contains("a.b.$numberLong"));
}

TEST_CASE("a $date outside years 0000-9999 is refused, not stored as garbage", "[sources]") {
  CHECK(*sources::FromExtendedJson(Json::parse(R"({"at": {"$date": 253402300799999}})")) ==
        Json{{"at", "9999-12-31T23:59:59.999Z"}});
  for (const char* bad : {R"({"at": {"$date": 253402300800000}})",
                          R"({"at": {"$date": {"$numberLong": "-62167219200001"}}})",
                          R"({"at": {"$date": {"$numberLong": "9223372036854775807"}}})",
                          R"({"at": {"$date": 18446744073709551615}})"}) {
    INFO(bad);
    auto refused = sources::FromExtendedJson(Json::parse(bad));
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.status().message(), Catch::Contains("at.$date"));
    CHECK_THAT(refused.status().message(), Catch::Contains("outside years 0000-9999"));
  }
}

TEST_CASE("a change _id already ingested is skipped, also within one batch", "[sources]") {
  Ingesting f(kConfig);
  auto batch = Batch("api", {Change("a", "insert", "orders", {{"id", 1}}, {{"id", 1}}),
                             Change("b", "insert", "orders", {{"id", 2}}, {{"id", 2}}),
                             Change("a", "insert", "orders", {{"id", 1}}, {{"id", 1}})});
  auto first = f.ingestor.Ingest(batch);
  REQUIRE(first.ok());
  CHECK(first->ingested == 2);
  CHECK(first->duplicates == 1);
  auto again = f.ingestor.Ingest(batch);  // a retried request
  REQUIRE(again.ok());
  CHECK(again->ingested == 0);
  CHECK(again->duplicates == 3);
  CHECK(Log(*f.store).size() == 2);
  // The same _id from another source is another change.
  auto other = f.ingestor.Ingest(
      Batch("other", {Change("a", "insert", "orders", {{"id", 1}}, {{"id", 1}})}));
  REQUIRE(other.ok());
  CHECK(other->duplicates == 0);
}

TEST_CASE("a malformed change or a failing template writes nothing of its batch", "[sources]") {
  Ingesting f(R"(
sources: [{ name: api, type: http }]
mappings:
  - match: { ns.coll: orders }
    stream: "order-${fullDocument.number}"
)");
  const Json good = Change("g", "insert", "orders", {{"id", 1}}, {{"number", 1}});
  const std::vector<std::pair<Json, std::string>> bad = {
      {Json::array(), "a change event must be a JSON object"},
      {Json{{"operationType", "insert"}}, "_id"},
      {Json{{"_id", 1}}, "operationType"},
      {Json{{"_id", 1}, {"operationType", "insert"}, {"documentKey", {{"id", 1}}}}, "ns.coll"},
      {Json{{"_id", 1}, {"operationType", "insert"}, {"ns", {{"coll", "orders"}}}}, "documentKey"},
      {Change("x", "insert", "orders", {{"id", 1}}), "fullDocument"},
      {Change("x", "insert", "orders", {{"id", 1}}, {{"other", 1}}), "fullDocument.number"},
      {Change("x", "insert", "orders", {{"id", 1}}, {{"number", "a/b"}}), "stream"},
      {Json{{"_id", {{"$numberLong", "zz"}}}, {"operationType", "insert"}}, "$numberLong"},
  };
  for (const auto& [change, reason] : bad) {
    INFO(change.dump() << " should be refused for " << reason);
    auto refused = f.ingestor.Ingest(Batch("api", {good, change, good}));
    REQUIRE(refused.status().code() == StatusCode::kInvalidArgument);
    CHECK_THAT(refused.status().message(), Catch::Contains(reason));
    const Json& errors = refused.status().details()["errors"];
    REQUIRE(errors.size() == 1);
    CHECK(errors[0]["index"] == 1);
  }
  CHECK(Log(*f.store).empty());
  CHECK(sources::Ingestor::Checkpoint(*f.store, "api").value().is_null());
}

TEST_CASE(
    "jsonl: batches commit with the offset, a bad line stops with its number, a rerun "
    "resumes",
    "[sources]") {
  Ingesting f(kConfig);
  std::string text;
  for (int i = 1; i <= 25; ++i) {
    text +=
        Change("c" + std::to_string(i), "insert", "orders", {{"id", i}}, {{"id", i}}).dump() + "\n";
    if (i == 10) text += "\n";  // blank lines are skipped
  }
  const std::string good_part = text;
  text += "{\"_id\": \"broken\", \"operationType\": \n";  // line 27
  text += Change("c99", "insert", "orders", {{"id", 99}}, {{"id", 99}}).dump() + "\n";
  const std::string path = f.dir.File("changes.jsonl");
  WriteFile(path, text);

  auto run = [&](size_t batch_lines) {
    sources::JsonlOptions options;
    options.source = "api";
    options.path = path;
    options.batch_lines = batch_lines;
    auto start = sources::JsonlResumePosition(*f.store, "api", path);
    REQUIRE(start.ok());
    options.start = *start;
    int fd = ::open(path.c_str(), O_RDONLY);
    auto stats = sources::IngestJsonl(f.ingestor, fd, options);
    ::close(fd);
    return stats;
  };
  auto stopped = run(10);
  REQUIRE(stopped.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(stopped.status().message(), Catch::Contains(path + ":27:"));
  CHECK(Log(*f.store).size() == 25);  // the batches before the bad line
  auto checkpoint = sources::Ingestor::Checkpoint(*f.store, "api");
  REQUIRE(checkpoint.ok());
  CHECK((*checkpoint)["offset"] == static_cast<int64_t>(good_part.size()));
  CHECK((*checkpoint)["line"] == 26);

  // Fixed: the rerun starts after line 26 and writes only the rest.
  WriteFile(path, good_part + Change("c98", "insert", "orders", {{"id", 98}}, {{"id", 98}}).dump() +
                      "\n" + Change("c99", "insert", "orders", {{"id", 99}}, {{"id", 99}}).dump());
  auto rest = run(10);
  INFO(rest.status());
  REQUIRE(rest.ok());
  CHECK(rest->ingested == 2);
  CHECK(rest->duplicates == 0);  // not even read again
  auto log = Log(*f.store);
  REQUIRE(log.size() == 27);
  CHECK(log.back().ToJson()["stream"] == "order-99");
  CHECK(log.back().ToJson()["metadata"]["source_position"].is_number());
}

TEST_CASE("event ids of positioned changes follow the log and stay apart per source", "[sources]") {
  using sources::OrderedEventId;
  const std::vector<std::string> ordered = {
      OrderedEventId("shop", 0x16B3748, true, 0),
      OrderedEventId("shop", 0x16B3748, true, 1),
      OrderedEventId("shop", 0x16B3750, false, 0),
      OrderedEventId("shop", 0x16B3750, false, 7),
      OrderedEventId("shop", 0x16B3750, false, 4096),
      OrderedEventId("shop", 0x16B4000, false, 0),
      OrderedEventId("shop", 0x1'0000'0000, false, 0),
      OrderedEventId("shop", 0x0FFF'FFFF'FFFF'FFFF, false, 0)};
  for (size_t i = 0; i < ordered.size(); ++i) {
    INFO(ordered[i]);
    auto uuid = core::Uuid::Parse(ordered[i]);
    REQUIRE(uuid.ok());
    CHECK(ordered[i][14] == '8');                                          // version 8
    CHECK(std::string("89ab").find(ordered[i][19]) != std::string::npos);  // RFC 4122 variant
    if (i > 0) CHECK(ordered[i - 1] < ordered[i]);
  }
  // The same change gets the same id; another source, or a snapshot row, another one.
  CHECK(OrderedEventId("shop", 0x16B3750, false, 3) == OrderedEventId("shop", 0x16B3750, false, 3));
  CHECK(OrderedEventId("shop", 0x16B3750, false, 3) != OrderedEventId("crm", 0x16B3750, false, 3));
  CHECK(OrderedEventId("shop", 0x16B3750, false, 3) != OrderedEventId("shop", 0x16B3750, true, 3));
  // Out of range: a hashed id, still a valid and stable one.
  const std::string far = OrderedEventId("shop", uint64_t{1} << 60, false, 0);
  CHECK(core::Uuid::Parse(far).ok());
  CHECK(far == OrderedEventId("shop", uint64_t{1} << 60, false, 0));
  CHECK(far != OrderedEventId("shop", 0, false, 0));
  CHECK(core::Uuid::Parse(OrderedEventId("shop", 1, false, uint64_t{1} << 33)).ok());
}

TEST_CASE("a unit that fails halfway leaves no events, no _ids and no checkpoint behind",
          "[sources][fault]") {
  Ingesting f(kConfig);
  // An event already holds the id the second change derives, in another stream: its
  // append is a conflict after the first change's append succeeded in the same unit.
  const Json second = Change("c2", "insert", "orders", {{"id", 2}}, {{"id", 2}});
  eventstore::AppendRequest squatter;
  squatter.stream = "elsewhere";
  squatter.events.push_back({});
  squatter.events[0].id = sources::DerivedEventId(
      "api\n" + sources::ChangeIdKey(sources::NormalizeChangeEvent(second).value()));
  squatter.events[0].type = "Squatter";
  squatter.events[0].data = Json::object();
  REQUIRE(f.store->Append(squatter).ok());

  auto batch = Batch("api", {Change("c1", "insert", "orders", {{"id", 1}}, {{"id", 1}}), second,
                             Change("c3", "insert", "orders", {{"id", 3}}, {{"id", 3}})});
  batch.checkpoint = Json{{"offset", 300}};
  auto failed = f.ingestor.Ingest(batch);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().code() == StatusCode::kAborted);
  CHECK(Log(*f.store).size() == 1);  // the squatter alone: order-1's append rolled back
  CHECK(sources::Ingestor::Checkpoint(*f.store, "api").value().is_null());
  // c1's _id was not remembered: sent again, it is ingested, not a duplicate.
  auto again = f.ingestor.Ingest(Batch("api", {batch.changes[0].event}));
  REQUIRE(again.ok());
  CHECK(again->ingested == 1);
  CHECK(again->duplicates == 0);
}

TEST_CASE("jsonl: a failed fsync mid-ingest loses nothing and doubles nothing on the rerun",
          "[sources][fault]") {
  struct FaultGuard {
    ~FaultGuard() { FaultyVfs::FailSyncs(false); }
  } guard;
  TestStoreOptions faulty;
  faulty.vfs = FaultyVfs::Name();
  Ingesting f(kConfig, faulty);
  std::string text;
  for (int i = 1; i <= 30; ++i)
    text +=
        Change("c" + std::to_string(i), "insert", "orders", {{"id", i}}, {{"id", i}}).dump() + "\n";
  const std::string path = f.dir.File("changes.jsonl");
  WriteFile(path, text);

  sources::JsonlOptions options;
  options.source = "api";
  options.path = path;
  options.batch_lines = 10;
  options.on_batch = [](const sources::JsonlPosition&, const sources::IngestStats&) {
    FaultyVfs::FailSyncs(true);  // the disk fails after the first batch
  };
  int fd = ::open(path.c_str(), O_RDONLY);
  auto failed = sources::IngestJsonl(f.ingestor, fd, options);
  ::close(fd);
  FaultyVfs::FailSyncs(false);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().code() == StatusCode::kUnavailable);

  // Restarted: the store holds the first batch and its checkpoint, nothing of the second.
  f.store.reset();
  f.store = OpenTestStore("sqlite", f.dir);
  sources::Ingestor ingestor(*f.store, f.mapper);
  CHECK(Log(*f.store).size() == 10);
  auto start = sources::JsonlResumePosition(*f.store, "api", path);
  REQUIRE(start.ok());
  CHECK(start->line == 10);
  options.start = *start;
  options.on_batch = nullptr;
  fd = ::open(path.c_str(), O_RDONLY);
  auto rest = sources::IngestJsonl(ingestor, fd, options);
  ::close(fd);
  INFO(rest.status());
  REQUIRE(rest.ok());
  CHECK(rest->ingested == 20);
  std::map<std::string, int> streams;
  for (const auto& e : Log(*f.store)) streams[e.ToJson()["stream"].get<std::string>()]++;
  CHECK(streams.size() == 30);
  for (const auto& [stream, count] : streams) {
    INFO(stream);
    CHECK(count == 1);
  }
}

TEST_CASE("the example's shop mappings: a new order is placed, a confirming update confirms it",
          "[sources]") {
  auto example =
      config::LoadConfigFile(RIVULET_SOURCE_DIR "/examples/order-fulfillment/rivulet.yaml");
  REQUIRE(example.ok());
  TempDir dir;
  auto store = OpenTestStore("sqlite", dir);
  REQUIRE(sources::Ingestor::Migrate(*store).ok());
  sources::Mapper mapper(example->mappings);
  sources::Ingestor ingestor(*store, mapper);
  Json update = Change("u", "update", "orders", {{"_id", "60"}},
                       {{"_id", "60"}, {"total", 25}, {"status", "confirmed"}});
  update["updateDescription"] = {{"updatedFields", {{"status", "confirmed"}}},
                                 {"removedFields", Json::array()}};
  Json other_update = update;
  other_update["_id"] = "v";
  other_update["updateDescription"]["updatedFields"] = {{"note", "gift"}};
  auto stats =
      ingestor.Ingest(Batch("shop", {Change("i", "insert", "orders", {{"_id", "60"}},
                                            {{"_id", "60"}, {"total", 25}, {"customer", "c-3"}}),
                                     update, other_update}));
  INFO(stats.status());
  REQUIRE(stats.ok());
  CHECK(stats->ingested == 2);
  CHECK(stats->unmatched == 1);
  auto log = Log(*store);
  REQUIRE(log.size() == 2);
  CHECK(log[0].ToJson()["stream"] == "order-60");
  CHECK(log[0].ToJson()["type"] == "OrderPlaced");
  CHECK(log[0].ToJson()["data"] == Json{{"total", 25}, {"customer", "c-3"}, {"region", "unknown"}});
  CHECK(log[1].ToJson()["type"] == "OrderConfirmed");  // what starts order_fulfillment
  CHECK(log[1].ToJson()["data"] == Json{{"total", 25}});
}

TEST_CASE(
    "a spooled copy goes in one unit, chunk by chunk: a bad change at the end writes "
    "nothing",
    "[sources]") {
  Ingesting f(kConfig);
  auto fill = [](sources::ChangeSpool& spool, int n, int bad_at) {
    for (int i = 0; i < n; ++i) {
      sources::Change change;
      change.event = i == bad_at ? Json{{"_id", i}, {"operationType", "insert"}}  // no ns
                                 : Change("s" + std::to_string(i), "insert", "orders", {{"id", i}},
                                          {{"id", i}, {"note", "é\n\"x\""}});
      change.position = i;
      change.extra = Json{{"snapshot", true}};
      change.event_id = sources::OrderedEventId("api", 100, true, static_cast<uint64_t>(i));
      REQUIRE(spool.Add(std::move(change)).ok());
    }
  };
  {
    sources::ChangeSpool spool;
    fill(spool, 25, 23);
    auto refused = f.ingestor.IngestSpool("api", spool, Json{{"lsn", "0/64"}}, 10);
    REQUIRE(refused.status().code() == StatusCode::kInvalidArgument);
    CHECK_THAT(refused.status().message(), Catch::Contains("item 23"));
    CHECK(Log(*f.store).empty());  // the two chunks before it were rolled back
    CHECK(sources::Ingestor::Checkpoint(*f.store, "api").value().is_null());
  }
  sources::ChangeSpool spool;
  fill(spool, 25, -1);
  CHECK(spool.size() == 25);
  auto stored = f.ingestor.IngestSpool("api", spool, Json{{"lsn", "0/64"}}, 10);
  INFO(stored.status());
  REQUIRE(stored.ok());
  CHECK(stored->ingested == 25);
  auto log = Log(*f.store);
  REQUIRE(log.size() == 25);
  for (int i = 0; i < 25; ++i) {
    const Json event = log[static_cast<size_t>(i)].ToJson();
    CHECK(event["stream"] == "order-" + std::to_string(i));
    CHECK(event["data"]["after"]["note"] == "é\n\"x\"");
    CHECK(event["metadata"]["snapshot"] == true);
    CHECK(event["id"] == sources::OrderedEventId("api", 100, true, static_cast<uint64_t>(i)));
  }
  CHECK(sources::Ingestor::Checkpoint(*f.store, "api").value() == Json{{"lsn", "0/64"}});
}
