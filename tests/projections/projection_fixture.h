#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/status_macros.h"
#include "projections/projection_engine.h"
#include "projections/projection_query.h"
#include "tests/support/test_store.h"

namespace rivulet::testing {

inline projections::ProjectionDefinition Projection(const std::string& json) {
  auto def = projections::CompileProjection(core::Json::parse(json));
  INFO(def.status());
  REQUIRE(def.ok());
  return std::move(def).value();
}

// Appends `count` events of `type` with data {"n": i, ...extra} spread over `streams`
// streams named prefix-0..; many appends per unit of work, for speed.
inline void AppendMany(eventstore::EventStore& store, int count, int streams,
                       const std::string& type = "Tick", const std::string& prefix = "s-") {
  for (int start = 0; start < count; start += 500) {
    Status written = store.Write([&](eventstore::Transaction& tx) -> Status {
      for (int i = start; i < std::min(count, start + 500); ++i) {
        eventstore::AppendRequest request;
        request.stream = prefix + std::to_string(i % streams);
        eventstore::EventData e;
        e.type = type;
        e.data = core::Json{{"n", i}, {"amount", i % 7}};
        request.events.push_back(std::move(e));
        RETURN_IF_ERROR(tx.Append(request).status());
      }
      return Status::Ok();
    });
    REQUIRE(written.ok());
  }
}

// Waits until `name`'s live copy has applied `position` (or fails the test).
inline projections::ProjectionStatus WaitForLive(
    projections::ProjectionEngine& engine, const std::string& name, int64_t position,
    std::chrono::seconds timeout = std::chrono::seconds(60)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto status = engine.Describe(name);
    REQUIRE(status.ok());
    if (status->position >= position && status->state == "running") return *status;
    if (status->state == "failed") return *status;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

inline core::Json Doc(eventstore::EventStore& store, const std::string& name,
                      const std::string& key) {
  auto doc = projections::GetDocument(store, name, key);
  REQUIRE(doc.ok());
  if (!*doc) return nullptr;
  return core::Json::parse(**doc);
}

inline const char* kCountPerStream =
    R"({"name": "counts", "key": "${stream}", "on": {"Tick": {"inc": {"count": 1, "sum": "${data.n}"}}},
        "indexes": ["count"]})";

}  // namespace rivulet::testing
