// Sources with `on_error: dead_letter`: a change that cannot be ingested is parked in
// the unit that moves the checkpoint past it, the rest of its batch goes on, and a retry
// through a fixed config applies it exactly once (SPEC 2.7, 4 `on_error`).
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "config/config_loader.h"
#include "eventstore/dead_letters.h"
#include "sources/ingestor.h"
#include "sources/jsonl_source.h"
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

// The stream needs fullDocument.number: a change without it fails its mapping.
const char* kStrict = R"(
sources: [{ name: api, type: http, on_error: dead_letter }]
mappings:
  - match: { ns.coll: orders }
    stream: "order-${fullDocument.number}"
)";
// The same, fixed: a change without a number goes to order-unknown.
const char* kFixed = R"(
sources: [{ name: api, type: http, on_error: dead_letter }]
mappings:
  - match: { ns.coll: orders }
    stream: "order-${fullDocument.number ?? \"unknown\"}"
)";

Json Change(const std::string& id, Json doc) {
  return Json{{"_id", id},
              {"operationType", "insert"},
              {"ns", {{"db", "shop"}, {"coll", "orders"}}},
              {"documentKey", {{"id", id}}},
              {"fullDocument", std::move(doc)}};
}

sources::IngestBatch Batch(const std::vector<Json>& changes,
                           eventstore::OnError on_error = eventstore::OnError::kDeadLetter) {
  sources::IngestBatch batch;
  batch.source = "api";
  batch.on_error = on_error;
  for (const Json& c : changes) {
    sources::Change change;
    change.event = c;
    change.position = c.contains("_id") ? c["_id"] : Json();
    batch.changes.push_back(std::move(change));
  }
  batch.checkpoint = Json{{"last_id", batch.changes.back().position}};
  return batch;
}

std::vector<Json> Events(eventstore::EventStore& store) {
  eventstore::LogReadOptions options;
  options.limit = 100000;
  auto log = store.ReadLog(options);
  REQUIRE(log.ok());
  std::vector<Json> out;
  for (const auto& e : log->events) out.push_back(e.ToJson());
  return out;
}

std::vector<eventstore::DeadLetter> Letters(eventstore::EventStore& store) {
  auto letters = eventstore::DeadLetters::List(store, {});
  REQUIRE(letters.ok());
  return *letters;
}

struct Ingesting {
  explicit Ingesting(const std::string& yaml)
      : store(OpenTestStore(Backend(), dir)),
        config(Load(yaml)),
        mapper(config.mappings),
        ingestor(*store, mapper) {
    REQUIRE(sources::Ingestor::Migrate(*store).ok());
  }
  static std::string Backend() { return StoreBackends().front(); }
  TempDir dir;
  std::unique_ptr<eventstore::EventStore> store;
  config::Config config;
  sources::Mapper mapper;
  sources::Ingestor ingestor;
};

}  // namespace

TEST_CASE("dead letters: a bad change mid-batch is parked and the rest arrives once",
          "[sources][dead_letters]") {
  Ingesting f(kStrict);
  auto batch = Batch({Change("a", {{"number", 1}}), Change("b", {{"other", 1}}),
                      Json{{"_id", "c"}, {"operationType", "insert"}},  // no ns, no key
                      Change("d", {{"number", 4}})});
  auto stats = f.ingestor.Ingest(batch);
  INFO(stats.status());
  REQUIRE(stats.ok());
  CHECK(stats->ingested == 2);
  CHECK(stats->dead_lettered == 2);
  REQUIRE(stats->dead_letters.size() == 2);
  CHECK(stats->dead_letters[0]["index"] == 1);
  CHECK(stats->dead_letters[1]["index"] == 2);

  auto events = Events(*f.store);
  REQUIRE(events.size() == 2);
  CHECK(events[0]["stream"] == "order-1");
  CHECK(events[1]["stream"] == "order-4");
  // The checkpoint moved past both, in the same unit.
  CHECK(sources::Ingestor::Checkpoint(*f.store, "api").value() == Json{{"last_id", "d"}});

  auto letters = Letters(*f.store);
  REQUIRE(letters.size() == 2);
  CHECK(letters[0].kind == "source");
  CHECK(letters[0].component == "api");
  CHECK(letters[0].position == "b");
  CHECK(letters[0].payload == Change("b", {{"other", 1}}));
  CHECK_THAT(letters[0].error, Catch::Contains("fullDocument.number"));
  CHECK_THAT(letters[1].error, Catch::Contains("ns"));
  CHECK(letters[0].ToJson()["source"] == "api");

  // Sent again, the changes that could be read are duplicates, the parked "b" too (it was
  // received); "c" could not be read as a change event, so it is parked again.
  auto again = f.ingestor.Ingest(batch);
  REQUIRE(again.ok());
  CHECK(again->ingested == 0);
  CHECK(again->duplicates == 3);
  CHECK(again->dead_lettered == 1);
  CHECK(Events(*f.store).size() == 2);
}

TEST_CASE("dead letters: retry through a fixed config applies once, discard drops",
          "[sources][dead_letters]") {
  Ingesting f(kStrict);
  REQUIRE(f.ingestor
              .Ingest(Batch({Change("a", {{"number", 1}}), Change("b", {{"other", 2}}),
                             Change("c", {{"other", 3}})}))
              .ok());
  auto letters = Letters(*f.store);
  REQUIRE(letters.size() == 2);
  const int64_t b = letters[0].id, c = letters[1].id;

  // Through the same config it fails again: the letter stays, the attempt is counted.
  auto still = f.ingestor.RetryDeadLetter(b);
  CHECK(still.status().code() == StatusCode::kAborted);
  CHECK_THAT(still.status().message(), Catch::Contains("still fails"));
  letters = Letters(*f.store);
  REQUIRE(letters.size() == 2);
  CHECK(letters[0].attempts == 2);
  CHECK(Events(*f.store).size() == 1);

  // Through the fixed mappings: applied, once.
  config::Config fixed = Load(kFixed);
  sources::Mapper fixed_mapper(fixed.mappings);
  sources::Ingestor fixed_ingestor(*f.store, fixed_mapper);
  auto applied = fixed_ingestor.RetryDeadLetter(b);
  INFO(applied.status());
  REQUIRE(applied.ok());
  CHECK(applied->ingested == 1);
  auto events = Events(*f.store);
  REQUIRE(events.size() == 2);
  CHECK(events[1]["stream"] == "order-unknown");
  CHECK(events[1]["metadata"]["source_position"] == "b");
  // A second retry finds nothing: the letter went with the append.
  CHECK(fixed_ingestor.RetryDeadLetter(b).status().code() == StatusCode::kNotFound);
  CHECK(Events(*f.store).size() == 2);

  // Discard drops the other; it never becomes an event.
  bool removed = false;
  REQUIRE(f.store
              ->Write([&](eventstore::Transaction& tx) -> Status {
                auto r = eventstore::DeadLetters::Remove(tx, c);
                if (!r.ok()) return r.status();
                removed = *r;
                return Status::Ok();
              })
              .ok());
  CHECK(removed);
  CHECK(Letters(*f.store).empty());
  CHECK(fixed_ingestor.RetryDeadLetter(c).status().code() == StatusCode::kNotFound);
  CHECK(Events(*f.store).size() == 2);
}

TEST_CASE("dead letters: an append the store refuses is parked alone, its neighbours stay",
          "[sources][dead_letters]") {
  Ingesting f(R"(
sources: [{ name: api, type: http, on_error: dead_letter }]
mappings:
  - match: { ns.coll: orders }
    stream: "order-${fullDocument.number}"
)");
  // An event already holds the id that change "b"'s event gets, in another stream: the
  // store refuses that append (a reused id) while "a" and "c" go to the same stream.
  auto probe = f.ingestor.Ingest(Batch({Change("b", {{"number", 9}})}));
  REQUIRE(probe.ok());
  REQUIRE(Events(*f.store).size() == 1);
  // A batch that does not skip seen ids sends "b" again, now into stream order-1.
  sources::IngestBatch batch = Batch(
      {Change("a", {{"number", 1}}), Change("b", {{"number", 1}}), Change("c", {{"number", 1}})});
  batch.skip_seen_ids = false;
  auto stats = f.ingestor.Ingest(batch);
  INFO(stats.status());
  REQUIRE(stats.ok());
  CHECK(stats->ingested == 2);
  CHECK(stats->dead_lettered == 1);
  auto events = Events(*f.store);
  REQUIRE(events.size() == 3);
  CHECK(events[1]["stream"] == "order-1");
  CHECK(events[1]["version"] == 0);
  CHECK(events[2]["version"] == 1);
  auto letters = Letters(*f.store);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].position == "b");
}

TEST_CASE("dead letters: under on_error: stop nothing is parked and nothing written",
          "[sources][dead_letters]") {
  Ingesting f(kStrict);
  auto refused = f.ingestor.Ingest(Batch(
      {Change("a", {{"number", 1}}), Change("b", {{"other", 1}})}, eventstore::OnError::kStop));
  CHECK(refused.status().code() == StatusCode::kInvalidArgument);
  CHECK(Events(*f.store).empty());
  CHECK(Letters(*f.store).empty());
}

TEST_CASE("dead letters: error lists in answers are bounded, counts are whole",
          "[sources][dead_letters]") {
  Ingesting f(kStrict);
  std::vector<Json> changes;
  for (int i = 0; i < 250; ++i) changes.push_back(Change("x" + std::to_string(i), {{"other", i}}));
  auto refused = f.ingestor.Ingest(Batch(changes, eventstore::OnError::kStop));
  REQUIRE(refused.status().code() == StatusCode::kInvalidArgument);
  CHECK(refused.status().details()["errors"].size() == sources::kMaxReportedErrors);
  CHECK(refused.status().details()["errors_total"] == 250);
  auto parked = f.ingestor.Ingest(Batch(changes));
  REQUIRE(parked.ok());
  CHECK(parked->dead_lettered == 250);
  CHECK(parked->dead_letters.size() == sources::kMaxReportedErrors);
  CHECK(Letters(*f.store).size() == 100);  // List's default page
}

TEST_CASE("dead letters: jsonl parks a line that is not JSON and a change that fails, then goes on",
          "[sources][dead_letters]") {
  Ingesting f(R"(
sources: [{ name: feed, type: jsonl, path: ./x.jsonl, on_error: dead_letter }]
mappings:
  - match: { ns.coll: orders }
    stream: "order-${fullDocument.number}"
)");
  std::string text;
  for (int i = 1; i <= 12; ++i) {
    if (i == 4) {
      text += "{\"_id\": \"broken\", \"operationType\": \n";  // line 4: not JSON
    } else if (i == 7) {
      text += Change("c7", {{"other", 7}}).dump() + "\n";  // line 7: fails its mapping
    } else {
      text += Change("c" + std::to_string(i), {{"number", i}}).dump() + "\n";
    }
  }
  const std::string path = f.dir.File("changes.jsonl");
  WriteFile(path, text);
  sources::JsonlOptions options;
  options.source = "feed";
  options.path = path;
  options.batch_lines = 5;
  options.on_error = eventstore::OnError::kDeadLetter;
  int fd = ::open(path.c_str(), O_RDONLY);
  auto stats = sources::IngestJsonl(f.ingestor, fd, options);
  ::close(fd);
  INFO(stats.status());
  REQUIRE(stats.ok());
  CHECK(stats->ingested == 10);
  CHECK(stats->dead_lettered == 2);
  CHECK(Events(*f.store).size() == 10);
  auto checkpoint = sources::Ingestor::Checkpoint(*f.store, "feed").value();
  CHECK(checkpoint["line"] == 12);

  auto letters = Letters(*f.store);
  REQUIRE(letters.size() == 2);
  CHECK(letters[0].payload == "{\"_id\": \"broken\", \"operationType\": ");
  CHECK_THAT(letters[0].error, Catch::Contains(path + ":4: not a JSON object"));
  CHECK_THAT(letters[1].error, Catch::Contains(path + ":7: "));
  CHECK(letters[1].payload["_id"] == "c7");

  // A line that is not JSON fails every retry; discard is the way out.
  auto still = f.ingestor.RetryDeadLetter(letters[0].id);
  CHECK(still.status().code() == StatusCode::kAborted);
  CHECK_THAT(still.status().message(), Catch::Contains(":4: not a JSON object"));

  // A rerun of the same file resumes after line 12: nothing is parked or written twice.
  fd = ::open(path.c_str(), O_RDONLY);
  auto start = sources::JsonlResumePosition(*f.store, "feed", path);
  REQUIRE(start.ok());
  options.start = *start;
  auto rerun = sources::IngestJsonl(f.ingestor, fd, options);
  ::close(fd);
  REQUIRE(rerun.ok());
  CHECK(rerun->ingested == 0);
  CHECK(Letters(*f.store).size() == 2);
}
