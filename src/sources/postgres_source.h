#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "sources/ingestor.h"
#include "sources/pgoutput.h"

typedef struct pg_conn PGconn;

namespace rivulet::sources {

// A `postgres` source (SPEC 2.7): logical replication with pgoutput through libpq.
//
// Run connects, creates the publication (for `tables`, or all tables) and the slot if
// they are missing, copies the existing rows from the slot's exported snapshot when
// `snapshot: initial` and nothing is stored yet (one unit of work with the slot's
// starting LSN: an interrupted copy leaves nothing, and the slot is made again), then
// streams. Each source transaction becomes one atomic group of appends, stored with
// the commit's end LSN as the checkpoint; several transactions may share a unit of
// work, stored when the data read so far is used up (or at 5000 changes), so a source
// that falls behind stores larger units. The standby status reports as written what
// is received and as flushed only what is stored; a keepalive's end with no
// transaction open is received (the WAL up to it holds nothing more for us), and is
// stored with the next unit, or alone when a reply is asked for or every `heartbeat`
// while nothing waits, so the slot does not hold WAL back.
//
// A fast shutdown of PostgreSQL ends the plain sessions first, then waits for every
// walsender's client to confirm all WAL sent. When the SQL session ends while the
// source streams, the replication socket is shut down at once (from a thread of its
// own, also while a unit is being stored): nothing more is confirmed, what was received
// and not stored comes again, and a shutdown never waits for a source that is behind.
// Run returns when a connection ends, with why (the runner reconnects), or when `stop`
// is set.
class PostgresSource {
 public:
  PostgresSource(eventstore::EventStore& store, Ingestor& ingestor, config::SourceConfig source,
                 core::MetricsRegistry* metrics);
  ~PostgresSource();

  Status Run(const std::atomic<bool>& stop, const std::function<void()>& on_progress);

 private:
  struct Txn {
    uint32_t xid = 0;
    int64_t commit_time = 0;  // microseconds since 2000-01-01
    std::string origin;
    std::vector<Change> changes;
  };

  Status Connect();
  void Disconnect();
  Status EnsurePublication();
  // Creates the slot (and copies the snapshot) when needed; sets stored_lsn_.
  Status PrepareSlot();
  Status CopySnapshot(const std::string& snapshot, uint64_t consistent_lsn);
  Status Stream(const std::atomic<bool>& stop, const std::function<void()>& on_progress);
  Status StreamChanges(const std::atomic<bool>& stop, const std::function<void()>& on_progress);
  Status Handle(const std::string& payload);
  // Key columns of a table (its primary key), by relation oid; cached.
  Result<std::set<std::string>> KeyColumns(uint32_t relation_oid, const pg::Relation& relation);
  core::Json Row(const pg::Relation& relation, const pg::Tuple& tuple,
                 std::vector<std::string>* unchanged_toast);
  Status AddChange(const pg::Message& m);
  // Stores the committed transactions not stored yet (with their end LSN).
  Status StorePending();
  Status StoreCheckpoint(uint64_t lsn);
  Status SendStatus(bool reply_requested);
  // A keepalive: what it says is received, stored when a reply is asked for.
  Status HandleKeepalive(uint64_t wal_end, bool reply, int64_t heartbeat_ms);
  // Why PostgreSQL ended the SQL session (it does so first when it shuts down).
  std::string SqlSessionEnded();
  void UpdateLag();

  eventstore::EventStore& store_;
  Ingestor& ingestor_;
  config::SourceConfig source_;
  OrderedEventIds event_ids_;
  core::Gauge* lag_bytes_ = nullptr;
  core::Gauge* lag_seconds_ = nullptr;
  PGconn* sql_ = nullptr;          // plain connection: setup, keys, snapshot
  PGconn* replication_ = nullptr;  // replication=database
  std::string database_;

  uint64_t stored_lsn_ = 0;  // durably stored in the store
  // Every change up to here is received: the end of the last commit, or a keepalive's
  // end when no transaction was open. Reset on each connection.
  uint64_t received_lsn_ = 0;
  uint64_t server_wal_end_ = 0;
  std::map<uint32_t, pg::Relation> relations_;
  std::map<uint32_t, std::set<std::string>> keys_;
  std::set<uint32_t> warned_no_full_identity_;
  std::optional<Txn> open_;      // between Begin and Commit
  std::vector<Change> pending_;  // committed, not stored yet
  uint64_t pending_end_lsn_ = 0;
  int64_t oldest_pending_commit_ = 0;  // commit time of the oldest transaction not stored
  int64_t last_commit_time_ = 0;       // of the last transaction committed
  int64_t last_status_ms_ = 0;
  int64_t last_idle_store_ms_ = 0;
  // While the stream stays ahead of us (more data always buffered), a batch is stored
  // once it has been gathering for as long as the last store took: reading and storing
  // then take turns in equal shares, and a change waits about two stores, however fast
  // the machine (a fixed batch size waited seconds on a slow one).
  int64_t batch_started_us_ = 0;  // steady clock, when the oldest pending change came
  int64_t last_store_us_ = 0;     // how long the last StorePending took
  core::Logger log_;              // "source/<name>"
  // What the SQL session's notice receiver writes to.
  struct SqlNotices {
    std::string session_ended;          // the FATAL message PostgreSQL ended it with
    const core::Logger* log = nullptr;  // where the other notices go
  };
  SqlNotices sql_notices_;
};

}  // namespace rivulet::sources
