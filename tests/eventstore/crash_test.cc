#include <signal.h>

#include <catch2/catch.hpp>
#include <map>

#include "core/random.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_store.h"

using namespace rivulet;
using namespace rivulet::eventstore;
using rivulet::testing::Subprocess;
using rivulet::testing::TempDir;

namespace {
struct Ack {
  std::string stream;
  int64_t first, last, position;
  std::vector<std::string> ids;
};

std::optional<Ack> ParseAck(const std::string& line) {
  auto j = core::Json::parse(line, nullptr, false);
  if (!j.is_object() || !j.contains("ids")) return std::nullopt;  // a line cut by the kill
  Ack ack{j["stream"], j["first"], j["last"], j["position"], {}};
  for (const auto& id : j["ids"]) ack.ids.push_back(id);
  return ack;
}
}  // namespace

TEST_CASE("every acknowledged append survives kill -9 of the writer, and none is half-written",
          "[crash][durability]") {
  TempDir dir;
  const std::string db = testing::SqlitePath(dir);
  std::vector<Ack> acked;
  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    {
      Subprocess writer({CRASH_WRITER, db, "forever", "4"}, dir.File("writer.stderr"));
      const size_t target = acked.size() + 100 + core::RandomBelow(600);
      while (acked.size() < target) {
        auto line = writer.ReadLine(std::chrono::seconds(60));
        REQUIRE(line);  // the writer keeps acknowledging
        if (auto ack = ParseAck(*line)) acked.push_back(std::move(*ack));
      }
      writer.Signal(SIGKILL);  // mid-append: four threads have writes in flight
      REQUIRE(writer.Wait() == 128 + SIGKILL);
      while (auto line = writer.ReadLine(std::chrono::seconds(5))) {
        if (auto ack = ParseAck(*line)) acked.push_back(std::move(*ack));
      }
    }

    auto store = testing::OpenTestStore("sqlite", dir);
    for (const Ack& ack : acked) {
      auto slice = store->ReadStream(
          {ack.stream, false, ack.first, static_cast<size_t>(ack.last - ack.first + 1)});
      REQUIRE(slice.ok());
      REQUIRE(slice->events.size() == ack.ids.size());
      for (size_t i = 0; i < ack.ids.size(); ++i)
        REQUIRE(slice->events[i].id.ToString() == ack.ids[i]);
      REQUIRE(slice->events.back().position == ack.position);
    }
    // Atomicity: each append either left all of its events, at consecutive versions, or none.
    std::map<std::string, std::vector<RecordedEvent>> batches;
    LogReadOptions options;
    options.limit = 10'000;
    int64_t expected_position = 1;
    while (true) {
      auto batch = store->ReadLog(options);
      REQUIRE(batch.ok());
      if (batch->events.empty()) break;
      for (auto& e : batch->events) {
        REQUIRE(e.position == expected_position++);
        batches[core::Json::parse(e.data)["batch"]].push_back(std::move(e));
      }
      options.after = batch->resume;
    }
    for (const auto& [name, events] : batches) {
      INFO("batch " << name);
      REQUIRE(static_cast<size_t>(core::Json::parse(events[0].data)["n"].get<int>()) ==
              events.size());
      for (size_t i = 1; i < events.size(); ++i) {
        REQUIRE(events[i].stream == events[0].stream);
        REQUIRE(events[i].version == events[i - 1].version + 1);
      }
    }
  }
}
