#include "bench/limits_bench.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "bench/bench_util.h"
#include "core/uuid.h"
#include "eventstore/sqlite/sqlite_schema.h"

namespace rivulet::bench {

namespace {

void Check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
  }
}

void Exec(sqlite3* db, const std::string& sql) {
  Check(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), db, sql.c_str());
}

// A database with the store's schema and pragmas, without the store.
sqlite3* OpenRaw(const std::string& path) {
  sqlite3* db = nullptr;
  Check(sqlite3_open(path.c_str(), &db), db, "open");
  Exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
  for (const auto& m : eventstore::sqlite::EventStoreMigrations()) Exec(db, m.sql);
  return db;
}

constexpr const char* kInsertSql =
    "INSERT INTO events (stream, version, id, type, data, metadata, recorded_at) VALUES (?1, ?2, "
    "?3, ?4, ?5, ?6, ?7)";

struct RawRow {
  BenchRow row;
  core::Uuid id;
};

// Rows and ids are made before the clock starts, as the store benchmarks do.
std::vector<RawRow> MakeRows(int64_t count, BenchRow (*make)(int64_t), int64_t now) {
  std::vector<RawRow> rows;
  rows.reserve(static_cast<size_t>(count));
  // Ids advance by a millisecond every 100 rows, like ids the store generates as it goes.
  for (int64_t i = 0; i < count; ++i) rows.push_back({make(i), core::Uuid::NewV7(now + i / 100)});
  return rows;
}

void InsertRow(sqlite3_stmt* insert, const RawRow& raw, int64_t now) {
  const BenchRow& row = raw.row;
  sqlite3_bind_text(insert, 1, row.stream.data(), static_cast<int>(row.stream.size()),
                    SQLITE_STATIC);
  sqlite3_bind_int64(insert, 2, row.version);
  sqlite3_bind_blob(insert, 3, raw.id.bytes().data(), 16, SQLITE_STATIC);
  sqlite3_bind_text(insert, 4, row.type.data(), static_cast<int>(row.type.size()), SQLITE_STATIC);
  sqlite3_bind_text(insert, 5, row.data.data(), static_cast<int>(row.data.size()), SQLITE_STATIC);
  sqlite3_bind_text(insert, 6, "{}", 2, SQLITE_STATIC);
  sqlite3_bind_int64(insert, 7, now);
  int rc = sqlite3_step(insert);
  sqlite3_reset(insert);
  if (rc != SQLITE_DONE) throw std::runtime_error("raw insert failed");
}

}  // namespace

core::Json MeasureRawInserts(const std::string& dir, int64_t batched_rows, double single_seconds) {
  core::Json out;
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  // 1,000-row transactions for both row shapes the store benchmarks write, and the
  // batched rows in 100-row transactions: what one synchronous appender of 100-event
  // batches could reach if the store cost nothing.
  struct Run {
    const char* name;
    BenchRow (*make)(int64_t);
    int per_tx;
  };
  const Run runs[] = {{"1000_per_tx_scattered", &MakeRow, 1000},
                      {"1000_per_tx_batched", &MakeBatchRow, 1000},
                      {"100_per_tx_batched", &MakeBatchRow, 100}};
  for (const Run& run : runs) {
    sqlite3* db = OpenRaw(dir + "/raw-" + run.name + ".db");
    sqlite3_stmt* insert = nullptr;
    Check(sqlite3_prepare_v2(db, kInsertSql, -1, &insert, nullptr), db, "prepare");
    std::vector<RawRow> rows = MakeRows(batched_rows, run.make, now);
    auto start = Clock::now();
    for (int64_t i = 0; i < batched_rows;) {
      Exec(db, "BEGIN IMMEDIATE");
      for (int k = 0; k < run.per_tx && i < batched_rows; ++k, ++i) {
        InsertRow(insert, rows[static_cast<size_t>(i)], now);
      }
      Exec(db, "COMMIT");
    }
    out[std::string("insert_") + run.name + "_rows_per_s"] =
        static_cast<double>(batched_rows) / SecondsSince(start);
    sqlite3_finalize(insert);
    sqlite3_close(db);
  }
  {
    sqlite3* db = OpenRaw(dir + "/raw-single.db");
    sqlite3_stmt* insert = nullptr;
    Check(sqlite3_prepare_v2(db, kInsertSql, -1, &insert, nullptr), db, "prepare");
    std::vector<RawRow> rows =
        MakeRows(static_cast<int64_t>(single_seconds * 50'000), &MakeRow, now);
    auto start = Clock::now();
    size_t i = 0;
    while (SecondsSince(start) < single_seconds && i < rows.size()) {
      Exec(db, "BEGIN IMMEDIATE");
      InsertRow(insert, rows[i++], now);
      Exec(db, "COMMIT");
    }
    out["insert_1_per_tx_rows_per_s"] = static_cast<double>(i) / SecondsSince(start);
    sqlite3_finalize(insert);
    sqlite3_close(db);
  }
  return out;
}

core::Json MeasureRawRead(const std::string& db_path) {
  sqlite3* db = nullptr;
  Check(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), db, "open");
  Exec(db, "PRAGMA mmap_size=268435456");
  sqlite3_stmt* stmt = nullptr;
  Check(sqlite3_prepare_v2(
            db,
            "SELECT position, stream, version, id, type, data, metadata, recorded_at FROM events "
            "ORDER BY position",
            -1, &stmt, nullptr),
        db, "prepare");
  double best = 0;
  int64_t rows = 0;
  for (int round = 0; round < 3; ++round) {
    rows = 0;
    size_t bytes = 0;
    auto start = Clock::now();
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      ++rows;
      bytes += static_cast<size_t>(sqlite3_column_int64(stmt, 0));
      for (int c : {1, 4, 5, 6}) {
        bytes += std::strlen(reinterpret_cast<const char*>(sqlite3_column_text(stmt, c)));
      }
      bytes += static_cast<size_t>(sqlite3_column_bytes(stmt, 3)) +
               static_cast<size_t>(sqlite3_column_int64(stmt, 2)) +
               static_cast<size_t>(sqlite3_column_int64(stmt, 7));
    }
    double rate = static_cast<double>(rows) / SecondsSince(start);
    best = std::max(best, rate);
    sqlite3_reset(stmt);
    if (bytes == 0) throw std::runtime_error("read nothing");
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return core::Json{{"read_rows_per_s", best}, {"rows", rows}};
}

core::Json MeasureFsyncs(const std::string& dir, double seconds) {
  std::string path = dir + "/fsync-probe";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + path);
  char block[4096];
  std::memset(block, 'x', sizeof(block));
  int64_t count = 0;
  auto start = Clock::now();
  while (SecondsSince(start) < seconds) {
    if (pwrite(fd, block, sizeof(block), static_cast<off_t>((count % 256) * 4096)) != sizeof(block))
      break;
    if (fsync(fd) != 0) break;
    ++count;
  }
  double rate = static_cast<double>(count) / SecondsSince(start);
  close(fd);
  unlink(path.c_str());
  return core::Json{{"fsyncs_per_s", rate}};
}

}  // namespace rivulet::bench
