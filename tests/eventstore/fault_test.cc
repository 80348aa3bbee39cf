#include <catch2/catch.hpp>

#include "eventstore/sqlite/sqlite_event_store.h"
#include "tests/support/faulty_vfs.h"
#include "tests/support/test_store.h"

using namespace rivulet;
using namespace rivulet::eventstore;
using rivulet::testing::FaultyVfs;
using rivulet::testing::MakeAppend;
using rivulet::testing::TempDir;

namespace {
// Resets the injected faults even when an assertion fails.
struct FaultGuard {
  ~FaultGuard() {
    FaultyVfs::FailSyncs(false);
    FaultyVfs::FailWrites(false);
  }
};

void CheckReadOnlyAfterFault(void (*inject)(bool)) {
  TempDir dir;
  FaultGuard guard;
  testing::TestStoreOptions options;
  options.vfs = FaultyVfs::Name();
  auto store = testing::OpenTestStore("sqlite", dir, options);
  auto before = store->Append(MakeAppend("acked", 3));
  REQUIRE(before.ok());

  inject(true);
  auto failed = store->Append(MakeAppend("doomed", 1));
  inject(false);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().code() == StatusCode::kUnavailable);

  // The disk works again, but the store cannot know what the failed commit left behind.
  auto refused = store->Append(MakeAppend("later", 1));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == StatusCode::kFailedPrecondition);
  CHECK_THAT(refused.status().message(), Catch::Contains("refuses writes"));
  Status unit = store->Write([](Transaction&) { return Status::Ok(); });
  CHECK(unit.code() == StatusCode::kFailedPrecondition);
  CHECK_FALSE(store->Health().ok());
  // Reads still answer.
  auto slice = store->ReadStream({"acked", false, 0, 10});
  REQUIRE(slice.ok());
  CHECK(slice->events.size() == 3);

  // Reopening recovers: acknowledged writes are there, and writes work again.
  store.reset();
  store = testing::OpenTestStore("sqlite", dir, options);
  CHECK(store->Health().ok());
  CHECK(store->ReadStream({"acked", false, 0, 10})->events.size() == 3);
  CHECK(store->Append(MakeAppend("later", 1)).ok());
}
}  // namespace

TEST_CASE("a failed fsync puts the store in read-only mode until it is reopened",
          "[fault][durability]") {
  CheckReadOnlyAfterFault(&FaultyVfs::FailSyncs);
}

TEST_CASE("a failed write (disk full) puts the store in read-only mode until it is reopened",
          "[fault]") {
  CheckReadOnlyAfterFault(&FaultyVfs::FailWrites);
}

TEST_CASE("appends are fsynced before they are acknowledged", "[fault][durability]") {
  TempDir dir;
  testing::TestStoreOptions options;
  options.vfs = FaultyVfs::Name();
  auto store = testing::OpenTestStore("sqlite", dir, options);
  uint64_t before = FaultyVfs::syncs();
  REQUIRE(store->Append(MakeAppend("s", 1)).ok());
  CHECK(FaultyVfs::syncs() > before);
}
