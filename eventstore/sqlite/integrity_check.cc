#include "eventstore/sqlite/integrity_check.h"

namespace rivulet::eventstore::sqlite {

Status QuickCheck(Connection& conn, const std::string& path) {
  std::string problems;
  int found = 0;
  // At most 5 problems: the first say enough, and a badly damaged file has thousands.
  Status checked = conn.QueryEach("PRAGMA quick_check(5)", {}, [&](const SqlRow& row) {
    const auto* text = std::get_if<std::string>(&row[0]);
    if (text != nullptr && *text != "ok") problems += (found++ > 0 ? "; " : "") + *text;
    return true;
  });
  if (!checked.ok()) return checked;  // DataLoss too when SQLite cannot even walk the file
  if (problems.empty()) return Status::Ok();
  return Status::DataLoss("the database file " + path + " is corrupt (quick_check: " + problems +
                          "); the store refuses writes. Stop rivulet, keep a copy of the file "
                          "and its -wal, and restore from a backup or an export "
                          "(docs/operations.md, \"Corruption\")");
}

BackgroundQuickCheck::BackgroundQuickCheck(std::unique_ptr<Connection> conn, std::string path,
                                           ReadOnlyLatch& latch)
    : conn_(std::move(conn)), path_(std::move(path)), latch_(latch) {
  thread_ = std::thread([this] {
    Status checked = QuickCheck(*conn_, path_);
    // An interrupted check found nothing; anything else that is not corruption (the
    // disk, a lock) is not evidence of damage either.
    if (!stopping_.load() && checked.code() == StatusCode::kDataLoss) latch_.Set(checked);
    done_.store(true, std::memory_order_release);
  });
}

BackgroundQuickCheck::~BackgroundQuickCheck() {
  stopping_.store(true);
  // Safe from another thread while the statement runs; it then ends with SQLITE_INTERRUPT.
  sqlite3_interrupt(conn_->db());
  thread_.join();
}

}  // namespace rivulet::eventstore::sqlite
