#include <fcntl.h>
#include <linux/fs.h>
#include <sqlite3.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

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

// Corruption, read-only files, and the serve lock: the store's behaviour when the
// file itself is damaged or shared.

namespace {

// A store of `count` events of ~500 bytes, closed again (its WAL copied back).
void FillStore(const TempDir& dir, int count) {
  auto store = testing::OpenTestStore("sqlite", dir);
  std::string padding(400, 'x');
  for (int done = 0; done < count; done += 500) {
    AppendRequest request = MakeAppend("filled-" + std::to_string(done / 500), 500);
    for (auto& e : request.events) e.data["padding"] = padding;
    REQUIRE(store->Append(request).ok());
  }
}

// The number of a page in the middle of `table`'s leaves (SQLite's dbstat table).
int64_t MiddleLeafPage(const std::string& path, const std::string& table) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  std::string sql = "SELECT pageno FROM dbstat WHERE name = '" + table +
                    "' AND pagetype = 'leaf' ORDER BY pageno";
  std::vector<int64_t> pages;
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  while (sqlite3_step(stmt) == SQLITE_ROW) pages.push_back(sqlite3_column_int64(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  REQUIRE(pages.size() > 10);
  return pages[pages.size() / 2];
}

// Overwrites one 4 KiB page with garbage, as a bad disk block or a stray write would.
void CorruptPage(const std::string& path, int64_t page) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(file);
  file.seekp((page - 1) * 4096);
  std::string garbage(4096, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 131 + 7) % 251);
  file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  file.flush();
  REQUIRE(file);
}

// Reads the whole log; the first error, if any.
Status ReadEverything(EventStore& store) {
  LogReadOptions read;
  read.limit = 1000;
  while (true) {
    auto batch = store.ReadLog(read);
    if (!batch.ok()) return batch.status();
    read.after = batch->resume;
    if (batch->reached_head) return Status::Ok();
  }
}

std::unique_ptr<EventStore> OpenWith(const TempDir& dir, sqlite::SqliteStoreOptions options,
                                     Status* error = nullptr) {
  options.path = testing::SqlitePath(dir);
  auto store = sqlite::OpenSqliteEventStore(options);
  if (error != nullptr) *error = store.ok() ? Status::Ok() : store.status();
  return store.ok() ? std::move(store).value() : nullptr;
}

// Makes a file immutable (chattr +i) for its life: even root cannot write it, as with
// a read-only file for any other user. Tests run as root, which ignores permissions.
class Immutable {
 public:
  explicit Immutable(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY)) {
    if (fd_ >= 0 && ::ioctl(fd_, FS_IOC_GETFLAGS, &flags_) == 0) {
      int flags = flags_ | FS_IMMUTABLE_FL;
      set_ = ::ioctl(fd_, FS_IOC_SETFLAGS, &flags) == 0;
    }
  }
  ~Immutable() {
    if (set_) ::ioctl(fd_, FS_IOC_SETFLAGS, &flags_);
    if (fd_ >= 0) ::close(fd_);
  }
  // False where the file system or the capabilities do not allow it.
  bool ok() const { return set_; }

 private:
  int fd_;
  int flags_ = 0;
  bool set_ = false;
};

}  // namespace

TEST_CASE("a database corrupted mid-file is refused at open with DataLoss when checked",
          "[fault][corruption]") {
  TempDir dir;
  FillStore(dir, 5000);
  CorruptPage(testing::SqlitePath(dir), MiddleLeafPage(testing::SqlitePath(dir), "events"));

  sqlite::SqliteStoreOptions checked;
  checked.check_integrity = true;
  Status error;
  CHECK(OpenWith(dir, checked, &error) == nullptr);
  CHECK(error.code() == StatusCode::kDataLoss);
  CHECK_THAT(error.message(), Catch::Contains("is corrupt"));
  CHECK_THAT(error.message(), Catch::Contains(testing::SqlitePath(dir)));
}

TEST_CASE("a file too large to check before opening is checked in the background",
          "[fault][corruption]") {
  TempDir dir;
  FillStore(dir, 5000);
  sqlite::SqliteStoreOptions checked;
  checked.check_integrity = true;
  checked.check_before_open_bytes = 0;
  {
    // Writes go on while the check runs; closing the store interrupts it.
    auto store = OpenWith(dir, checked);
    REQUIRE(store != nullptr);
    CHECK(store->Append(MakeAppend("during", 1)).ok());
  }
  CorruptPage(testing::SqlitePath(dir), MiddleLeafPage(testing::SqlitePath(dir), "events"));
  auto store = OpenWith(dir, checked);
  REQUIRE(store != nullptr);  // opens at once
  Status health;
  for (int i = 0; i < 600 && health.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    health = store->Health();
  }
  CHECK(health.code() == StatusCode::kDataLoss);
  CHECK_THAT(health.message(), Catch::Contains("is corrupt ("));
  auto append = store->Append(MakeAppend("after", 1));
  REQUIRE_FALSE(append.ok());
  CHECK(append.status().code() == StatusCode::kDataLoss);
}

TEST_CASE("corruption met by any statement refuses writes with DataLoss and shows in Health",
          "[fault][corruption]") {
  TempDir dir;
  FillStore(dir, 5000);
  CorruptPage(testing::SqlitePath(dir), MiddleLeafPage(testing::SqlitePath(dir), "events"));

  // Without the check at open (as CLI commands open), the damage shows when a read
  // reaches the page.
  auto store = OpenWith(dir, {});
  REQUIRE(store != nullptr);
  CHECK(store->Health().ok());
  Status read = ReadEverything(*store);
  CHECK(read.code() == StatusCode::kDataLoss);
  CHECK_THAT(read.message(), Catch::Contains("is corrupt"));

  // From then on: no writes (an append would only touch the intact last pages), and
  // Health says why.
  auto append = store->Append(MakeAppend("after", 1));
  REQUIRE_FALSE(append.ok());
  CHECK(append.status().code() == StatusCode::kDataLoss);
  Status unit = store->Write([](Transaction&) { return Status::Ok(); });
  CHECK(unit.code() == StatusCode::kDataLoss);
  Status health = store->Health();
  CHECK(health.code() == StatusCode::kDataLoss);
  CHECK_THAT(health.message(), Catch::Contains("is corrupt"));
  CHECK(store->ReadStream({"after", false, 0, 10}).status().code() == StatusCode::kNotFound);
}

TEST_CASE("a file that is not a database at all is DataLoss, not a generic error",
          "[fault][corruption]") {
  TempDir dir;
  testing::WriteFile(testing::SqlitePath(dir), std::string(8192, 'z'));
  Status error;
  CHECK(OpenWith(dir, {}, &error) == nullptr);
  CHECK(error.code() == StatusCode::kDataLoss);
  CHECK_THAT(error.message(), Catch::Contains("is corrupt"));
}

TEST_CASE(
    "a database file that cannot be written serves reads and refuses appends as "
    "FailedPrecondition",
    "[fault][read_only]") {
  TempDir dir;
  FillStore(dir, 500);
  Immutable immutable(testing::SqlitePath(dir));
  if (!immutable.ok()) {
    WARN("chattr +i is not available here; skipped");
    return;
  }
  Status error;
  auto store = OpenWith(dir, {}, &error);
  INFO(error.ToString());
  REQUIRE(store != nullptr);
  CHECK(store->ReadStream({"filled-0", false, 0, 10}).ok());
  auto append = store->Append(MakeAppend("refused", 1));
  REQUIRE_FALSE(append.ok());
  CHECK(append.status().code() == StatusCode::kFailedPrecondition);
  CHECK(append.status().reason() == "read_only");
  CHECK_THAT(append.status().message(), Catch::Contains("cannot be written"));
  CHECK(store->Health().code() == StatusCode::kFailedPrecondition);
}

TEST_CASE("one store at a time holds the serve lock, whatever path names the file",
          "[serve_lock]") {
  TempDir dir;
  std::filesystem::create_directories(dir.File("sub"));
  std::filesystem::create_symlink(testing::SqlitePath(dir), dir.File("link.db"));
  sqlite::SqliteStoreOptions serving;
  serving.serve_lock = true;
  auto first = OpenWith(dir, serving);
  REQUIRE(first != nullptr);
  REQUIRE(first->Append(MakeAppend("s", 1)).ok());

  for (const std::string& path :
       {testing::SqlitePath(dir), dir.File("link.db"), dir.File("sub/../rivulet.db")}) {
    INFO(path);
    sqlite::SqliteStoreOptions second = serving;
    second.path = path;
    auto refused = sqlite::OpenSqliteEventStore(second);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().code() == StatusCode::kFailedPrecondition);
    CHECK_THAT(refused.status().message(), Catch::Contains("already served by another"));
    CHECK_THAT(refused.status().message(), Catch::Contains("(pid " + std::to_string(::getpid())));
  }
  // Opening without the lock (as the CLI does) works beside it.
  auto command = OpenWith(dir, {});
  REQUIRE(command != nullptr);
  CHECK(command->Append(MakeAppend("s", 1)).ok());
  CHECK(first->Append(MakeAppend("s", 1)).ok());

  first.reset();
  CHECK(OpenWith(dir, serving) != nullptr);
}
