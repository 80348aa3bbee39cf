#include "sources/postgres_source.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "core/status_macros.h"
#include "sources/pg_status.h"

namespace rivulet::sources {

namespace {

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A batch gathered while the stream stays ahead is stored at this many changes at most,
// and after at least this long (so that a fast store does not make batches of one).
constexpr size_t kMaxBatchChanges = 5000;
constexpr int64_t kMinBatchMicros = 1000;

int64_t PgNowMicros() {  // microseconds since 2000-01-01
  const int64_t unix_micros = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  return unix_micros - 946'684'800'000'000;
}

void PutU64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string Error(PGconn* conn) {
  std::string text = conn != nullptr ? PQerrorMessage(conn) : "no connection";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// A result that frees itself.
struct PgResult {
  explicit PgResult(PGresult* r) : r(r) {}
  ~PgResult() { PQclear(r); }
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ExecStatusType status() const { return PQresultStatus(r); }
  int rows() const { return PQntuples(r); }
  std::string get(int row, int col) const { return PQgetvalue(r, row, col); }
  bool null(int row, int col) const { return PQgetisnull(r, row, col) != 0; }
  PGresult* r;
};

Result<std::unique_ptr<PgResult>> Exec(PGconn* conn, const std::string& sql,
                                       const std::vector<std::string>& params = {}) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  auto result = std::make_unique<PgResult>(
      params.empty() ? PQexec(conn, sql.c_str())
                     : PQexecParams(conn, sql.c_str(), static_cast<int>(params.size()), nullptr,
                                    values.data(), nullptr, nullptr, 0));
  const ExecStatusType s = result->status();
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_COPY_BOTH) {
    std::string message = PQresultErrorMessage(result->r);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    const char* sqlstate = PQresultErrorField(result->r, PG_DIAG_SQLSTATE);
    return PgError(sqlstate != nullptr ? sqlstate : "", message.empty() ? Error(conn) : message);
  }
  return result;
}

std::string QuoteIdentifier(PGconn* conn, const std::string& name) {
  char* quoted = PQescapeIdentifier(conn, name.c_str(), name.size());
  std::string out = quoted != nullptr ? quoted : "\"" + name + "\"";
  PQfreemem(quoted);
  return out;
}

// "public.orders" -> "public"."orders"; "orders" -> "public"."orders".
std::string QuoteTable(PGconn* conn, const std::string& table) {
  const size_t dot = table.find('.');
  if (dot == std::string::npos)
    return QuoteIdentifier(conn, "public") + "." + QuoteIdentifier(conn, table);
  return QuoteIdentifier(conn, table.substr(0, dot)) + "." +
         QuoteIdentifier(conn, table.substr(dot + 1));
}

// Notices of the SQL session (arg: the source's SqlNotices, a template parameter since
// that type is private to the class). One that arrives while the session is idle may be
// the FATAL error PostgreSQL ends it with (a shutdown ends plain sessions first): that one
// is kept for SqlSessionEnded; the others are logged.
template <class Notices>
void OnSqlNotice(void* arg, const PGresult* notice) {
  auto* notices = static_cast<Notices*>(arg);
  const char* field = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
  const std::string severity = field != nullptr ? field : "";
  const char* message = PQresultErrorField(notice, PG_DIAG_MESSAGE_PRIMARY);
  if (severity == "FATAL" || severity == "PANIC") {
    notices->session_ended = severity + ": " + (message != nullptr ? message : "");
    return;
  }
  const core::LogLevel level = severity == "WARNING"                      ? core::LogLevel::kWarn
                               : severity == "DEBUG" || severity == "LOG" ? core::LogLevel::kDebug
                                                                          : core::LogLevel::kInfo;
  notices->log->Write(level, std::string("PostgreSQL: ") + (message != nullptr ? message : ""),
                      {{"severity", severity}});
}

// While the source streams, a thread of its own waits for PostgreSQL to close the SQL
// session's socket (a fast shutdown ends plain sessions first, see the class comment)
// and then shuts the replication socket down, so the walsender ends at once even while
// the source is busy storing a large unit. It works on duplicates of the two sockets
// (shutdown acts on the socket, which the duplicates share), so no descriptor libpq
// closes and the process reuses can be touched; no libpq state is touched either.
class SessionWatch {
 public:
  SessionWatch(int sql_socket, int replication_socket)
      : sql_(sql_socket >= 0 ? ::dup(sql_socket) : -1),
        replication_(replication_socket >= 0 ? ::dup(replication_socket) : -1),
        thread_([this] { Run(); }) {}
  ~SessionWatch() {
    done_.store(true);
    thread_.join();
    if (sql_ >= 0) ::close(sql_);
    if (replication_ >= 0) ::close(replication_);
  }
  SessionWatch(const SessionWatch&) = delete;
  SessionWatch& operator=(const SessionWatch&) = delete;

  bool fired() const { return fired_.load(); }

 private:
  void Run() {
    if (sql_ < 0 || replication_ < 0) return;  // nothing to watch: the stream ends as before
    while (!done_.load()) {
      pollfd pfd{sql_, POLLRDHUP, 0};
      if (::poll(&pfd, 1, 50) <= 0) continue;
      if ((pfd.revents & POLLNVAL) != 0) return;  // cannot happen on a dup; never spin
      if ((pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
        fired_.store(true);
        ::shutdown(replication_, SHUT_RDWR);
        return;
      }
    }
  }

  const int sql_;
  const int replication_;
  std::atomic<bool> done_{false};
  std::atomic<bool> fired_{false};
  std::thread thread_;  // last: it starts once the members exist
};

PGconn* ConnectTo(const std::string& url, bool replication) {
  // The URL is expanded; the session is in UTC so timestamptz values come as +00.
  const char* keys[] = {"dbname", "options", "connect_timeout", "replication", nullptr};
  const char* values[] = {url.c_str(), "-c TimeZone=UTC", "10", "database", nullptr};
  if (!replication) keys[3] = nullptr;  // the list ends there
  return PQconnectdbParams(keys, values, 1);
}

}  // namespace

PostgresSource::PostgresSource(eventstore::EventStore& store, Ingestor& ingestor,
                               config::SourceConfig source, core::MetricsRegistry* metrics)
    : store_(store),
      ingestor_(ingestor),
      source_(std::move(source)),
      event_ids_(source_.name),
      log_("source/" + source_.name) {
  sql_notices_.log = &log_;
  if (metrics != nullptr) {
    lag_bytes_ =
        &metrics->GetGauge("rivulet_source_lag_bytes", "WAL bytes the source has not stored yet",
                           {{"source", source_.name}});
    lag_seconds_ = &metrics->GetGauge("rivulet_source_lag_seconds",
                                      "Age of the oldest source change not stored yet",
                                      {{"source", source_.name}});
  }
}

PostgresSource::~PostgresSource() { Disconnect(); }

void PostgresSource::Disconnect() {
  if (replication_ != nullptr) PQfinish(replication_);
  if (sql_ != nullptr) PQfinish(sql_);
  replication_ = nullptr;
  sql_ = nullptr;
}

Status PostgresSource::Connect() {
  Disconnect();
  sql_ = ConnectTo(source_.url, false);
  if (PQstatus(sql_) != CONNECTION_OK)
    return PgConnectError("cannot connect to PostgreSQL", Error(sql_));
  sql_notices_.session_ended.clear();
  PQsetNoticeReceiver(sql_, OnSqlNotice<SqlNotices>, &sql_notices_);
  replication_ = ConnectTo(source_.url, true);
  if (PQstatus(replication_) != CONNECTION_OK)
    return PgConnectError("cannot open a replication connection", Error(replication_));
  database_ = PQdb(sql_);
  ASSIGN_OR_RETURN(auto level, Exec(sql_, "SHOW wal_level"));
  if (level->get(0, 0) != "logical") {
    return Status::FailedPrecondition("PostgreSQL runs with wal_level=" + level->get(0, 0) +
                                      "; logical replication needs wal_level=logical: set it "
                                      "(ALTER SYSTEM SET wal_level = logical) and restart "
                                      "PostgreSQL, then restart rivulet");
  }
  // The SQL session sits idle while the source streams, and its end is read as the
  // server shutting down (SessionWatch): an idle_session_timeout set by an
  // administrator must not end it (the setting exists from PostgreSQL 14).
  if (PQserverVersion(sql_) >= 140000)
    RETURN_IF_ERROR(Exec(sql_, "SET idle_session_timeout = 0").status());
  return Status::Ok();
}

Status PostgresSource::EnsurePublication() {
  ASSIGN_OR_RETURN(auto found, Exec(sql_, "SELECT 1 FROM pg_publication WHERE pubname = $1",
                                    {source_.publication}));
  if (found->rows() > 0) return Status::Ok();
  std::string sql = "CREATE PUBLICATION " + QuoteIdentifier(sql_, source_.publication);
  if (source_.tables.empty()) {
    sql += " FOR ALL TABLES";
  } else {
    sql += " FOR TABLE ";
    for (size_t i = 0; i < source_.tables.size(); ++i)
      sql += (i ? ", " : "") + QuoteTable(sql_, source_.tables[i]);
  }
  auto created = Exec(sql_, sql);
  if (!created.ok()) return PublicationNotCreated(source_.publication, sql, created.status());
  return Status::Ok();
}

Status PostgresSource::PrepareSlot() {
  ASSIGN_OR_RETURN(core::Json checkpoint, Ingestor::Checkpoint(store_, source_.name));
  const bool have_checkpoint = checkpoint.is_object() && checkpoint.contains("lsn");
  if (have_checkpoint) {
    ASSIGN_OR_RETURN(stored_lsn_, pg::ParseLsn(checkpoint["lsn"].get<std::string>()));
  }
  ASSIGN_OR_RETURN(auto slot, Exec(sql_,
                                   "SELECT coalesce(wal_status, ''), plugin FROM "
                                   "pg_replication_slots WHERE slot_name = $1",
                                   {source_.slot}));
  const std::string reset_hint =
      "; to copy the tables again, drop the slot (SELECT pg_drop_replication_slot('" +
      source_.slot +
      "')), delete the source's checkpoint (DELETE FROM source_checkpoints WHERE "
      "source = '" +
      source_.name + "') and restart";
  if (slot->rows() > 0 && slot->get(0, 0) == "lost") {
    return Status::FailedPrecondition("replication slot " + source_.slot +
                                      " was invalidated (the WAL it needed was removed), so "
                                      "changes were missed" +
                                      reset_hint);
  }
  if (slot->rows() > 0 && slot->get(0, 1) != "pgoutput") {
    return Status::FailedPrecondition("replication slot " + source_.slot + " uses plugin " +
                                      slot->get(0, 1) +
                                      ", not pgoutput: give the source another slot name, or "
                                      "drop that slot, then restart rivulet");
  }
  if (have_checkpoint) {
    if (slot->rows() == 0) {
      return Status::FailedPrecondition("replication slot " + source_.slot +
                                        " is missing while changes up to " +
                                        checkpoint["lsn"].get<std::string>() +
                                        " are stored; changes since may be lost" + reset_hint);
    }
    return Status::Ok();
  }
  // Nothing stored yet. A slot without a checkpoint is left from an interrupted copy.
  if (slot->rows() > 0) {
    if (!source_.snapshot_initial) return Status::Ok();  // stream from the slot's start
    RETURN_IF_ERROR(Exec(sql_, "SELECT pg_drop_replication_slot($1)", {source_.slot}).status());
  }
  ASSIGN_OR_RETURN(
      auto created,
      Exec(replication_, "CREATE_REPLICATION_SLOT " + QuoteIdentifier(replication_, source_.slot) +
                             " LOGICAL pgoutput " +
                             (source_.snapshot_initial ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT")));
  ASSIGN_OR_RETURN(uint64_t consistent, pg::ParseLsn(created->get(0, 1)));
  if (source_.snapshot_initial) {
    RETURN_IF_ERROR(CopySnapshot(created->get(0, 2), consistent));
  } else {
    RETURN_IF_ERROR(StoreCheckpoint(consistent));
  }
  stored_lsn_ = consistent;
  return Status::Ok();
}

Status PostgresSource::CopySnapshot(const std::string& snapshot, uint64_t consistent_lsn) {
  RETURN_IF_ERROR(Exec(sql_, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").status());
  RETURN_IF_ERROR(Exec(sql_, "SET TRANSACTION SNAPSHOT '" + snapshot + "'").status());
  ASSIGN_OR_RETURN(auto tables, Exec(sql_,
                                     "SELECT c.oid::text, t.schemaname, t.tablename FROM "
                                     "pg_publication_tables t JOIN pg_namespace n ON n.nspname = "
                                     "t.schemaname JOIN pg_class c ON c.relnamespace = n.oid AND "
                                     "c.relname = t.tablename WHERE t.pubname = $1 ORDER BY 2, 3",
                                     {source_.publication}));
  ChangeSpool spool;  // a table may not fit in memory
  const std::string position = pg::FormatLsn(consistent_lsn);
  for (int t = 0; t < tables->rows(); ++t) {
    pg::Relation relation;
    relation.oid = static_cast<uint32_t>(std::stoul(tables->get(t, 0)));
    relation.schema = tables->get(t, 1);
    relation.name = tables->get(t, 2);
    const std::string qualified = relation.schema + "." + relation.name;
    RETURN_IF_ERROR(Exec(sql_, "DECLARE rivulet_snapshot NO SCROLL CURSOR FOR SELECT * FROM " +
                                   QuoteTable(sql_, qualified))
                        .status());
    while (true) {
      ASSIGN_OR_RETURN(auto rows, Exec(sql_, "FETCH 10000 FROM rivulet_snapshot"));
      if (rows->rows() == 0) break;
      if (relation.columns.empty()) {
        for (int c = 0; c < PQnfields(rows->r); ++c)
          relation.columns.push_back({PQfname(rows->r, c), PQftype(rows->r, c), false});
      }
      ASSIGN_OR_RETURN(std::set<std::string> keys, KeyColumns(relation.oid, relation));
      for (int r = 0; r < rows->rows(); ++r) {
        core::Json document = core::Json::object();
        core::Json key = core::Json::object();
        for (size_t c = 0; c < relation.columns.size(); ++c) {
          const pg::Column& column = relation.columns[c];
          core::Json value =
              rows->null(r, static_cast<int>(c))
                  ? core::Json()
                  : pg::TextToJson(column.type_oid, rows->get(r, static_cast<int>(c)));
          if (keys.count(column.name)) key[column.name] = value;
          document[column.name] = std::move(value);
        }
        Change change;
        change.event = core::Json{
            {"_id", {{"snapshot", qualified}, {"key", key}}},
            {"operationType", "insert"},
            {"ns", {{"db", database_}, {"schema", relation.schema}, {"coll", relation.name}}},
            {"documentKey", key},
            {"fullDocument", std::move(document)}};
        change.position = position;
        change.extra = core::Json{{"snapshot", true}};
        change.extended_json = false;
        change.event_id = event_ids_(consistent_lsn, true, spool.size());
        RETURN_IF_ERROR(spool.Add(std::move(change)));
      }
    }
    RETURN_IF_ERROR(Exec(sql_, "CLOSE rivulet_snapshot").status());
  }
  RETURN_IF_ERROR(Exec(sql_, "COMMIT").status());
  ASSIGN_OR_RETURN(IngestStats stats,
                   ingestor_.IngestSpool(source_.name, spool,
                                         core::Json{{"lsn", position}, {"snapshot", "done"}},
                                         10'000, source_.on_error));
  log_.Info("copied " + std::to_string(stats.ingested) + " rows from the snapshot at " + position,
            {{"rows", stats.ingested}, {"lsn", position}});
  return Status::Ok();
}

Result<std::set<std::string>> PostgresSource::KeyColumns(uint32_t relation_oid,
                                                         const pg::Relation& relation) {
  if (auto it = keys_.find(relation_oid); it != keys_.end()) return it->second;
  ASSIGN_OR_RETURN(auto rows, Exec(sql_,
                                   "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON "
                                   "a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE "
                                   "i.indrelid = $1::oid AND i.indisprimary",
                                   {std::to_string(relation_oid)}));
  std::set<std::string> keys;
  for (int r = 0; r < rows->rows(); ++r) keys.insert(rows->get(r, 0));
  if (keys.empty()) {  // no primary key: the replica identity's columns, or all of them
    for (const pg::Column& c : relation.columns) {
      if (c.key) keys.insert(c.name);
    }
    if (keys.empty()) {
      for (const pg::Column& c : relation.columns) keys.insert(c.name);
    }
  }
  keys_[relation_oid] = keys;
  return keys;
}

core::Json PostgresSource::Row(const pg::Relation& relation, const pg::Tuple& tuple,
                               std::vector<std::string>* unchanged_toast) {
  core::Json row = core::Json::object();
  for (size_t c = 0; c < tuple.size() && c < relation.columns.size(); ++c) {
    const pg::Column& column = relation.columns[c];
    switch (tuple[c].kind) {
      case pg::TupleValue::Kind::kNull:
        row[column.name] = nullptr;
        break;
      case pg::TupleValue::Kind::kUnchangedToast:
        if (unchanged_toast != nullptr) unchanged_toast->push_back(column.name);
        break;
      case pg::TupleValue::Kind::kText:
        row[column.name] = pg::TextToJson(column.type_oid, tuple[c].text);
        break;
    }
  }
  return row;
}

Status PostgresSource::AddChange(const pg::Message& m) {
  if (!open_) return Status::Unavailable("pgoutput: a change outside a transaction");
  auto rel = relations_.find(m.relation_oid);
  if (rel == relations_.end())
    return Status::Unavailable("pgoutput: a change of relation " + std::to_string(m.relation_oid) +
                               " before its Relation message");
  const pg::Relation& relation = rel->second;
  ASSIGN_OR_RETURN(std::set<std::string> keys, KeyColumns(relation.oid, relation));
  std::vector<std::string> unchanged;
  core::Json after;
  core::Json before;
  if (m.new_tuple) after = Row(relation, *m.new_tuple, &unchanged);
  if (m.old_tuple) before = Row(relation, *m.old_tuple, nullptr);
  const core::Json& key_source = m.type == pg::Message::Type::kDelete ? before : after;
  core::Json key = core::Json::object();
  for (const std::string& k : keys) {
    if (key_source.is_object() && key_source.contains(k)) key[k] = key_source[k];
  }
  const char* operation = m.type == pg::Message::Type::kInsert   ? "insert"
                          : m.type == pg::Message::Type::kUpdate ? "update"
                                                                 : "delete";
  core::Json event{
      {"operationType", operation},
      {"ns", {{"db", database_}, {"schema", relation.schema}, {"coll", relation.name}}},
      {"documentKey", key},
      {"fullDocument", m.type == pg::Message::Type::kDelete ? core::Json() : after},
      {"fullDocumentBeforeChange", m.old_kind == 'O' ? before : core::Json()},
      {"clusterTime", pg::FormatPgTimestamp(open_->commit_time)},
      {"txnNumber", open_->xid}};
  core::Json extra = core::Json::object();
  if (m.type == pg::Message::Type::kUpdate) {
    core::Json updated = core::Json::object();
    if (m.old_kind == 'O') {  // REPLICA IDENTITY FULL: the fields that changed
      for (const auto& [name, value] : after.items()) {
        if (!before.contains(name) || before[name] != value) updated[name] = value;
      }
    } else {
      updated = after;  // no before-image: every column sent
      extra["update_description"] = "all_columns";
      if (warned_no_full_identity_.insert(relation.oid).second) {
        log_.Warn("table " + relation.schema + "." + relation.name +
                  " is not REPLICA IDENTITY FULL: updates carry no before-image, and "
                  "updatedFields lists every column");
      }
    }
    event["updateDescription"] = {{"updatedFields", updated},
                                  {"removedFields", core::Json::array()},
                                  {"truncatedArrays", core::Json::array()}};
  }
  if (!unchanged.empty()) extra["unchanged_toast_columns"] = unchanged;
  if (!open_->origin.empty()) extra["origin"] = open_->origin;
  Change change;
  change.event = std::move(event);
  change.extra = std::move(extra);
  change.extended_json = false;
  open_->changes.push_back(std::move(change));
  return Status::Ok();
}

Status PostgresSource::Handle(const std::string& payload) {
  ASSIGN_OR_RETURN(pg::Message m, pg::ParseMessage(payload));
  switch (m.type) {
    case pg::Message::Type::kBegin:
      open_ = Txn{m.xid, m.timestamp, "", {}};
      return Status::Ok();
    case pg::Message::Type::kOrigin:
      if (open_) open_->origin = m.origin;
      return Status::Ok();
    case pg::Message::Type::kRelation:
      keys_.erase(m.relation.oid);  // refreshed on change
      relations_[m.relation.oid] = m.relation;
      return Status::Ok();
    case pg::Message::Type::kInsert:
    case pg::Message::Type::kUpdate:
    case pg::Message::Type::kDelete:
      return AddChange(m);
    case pg::Message::Type::kTruncate:
      if (!open_) return Status::Unavailable("pgoutput: a Truncate outside a transaction");
      for (uint32_t oid : m.truncated) {
        auto rel = relations_.find(oid);
        Change change;
        change.event = core::Json{
            {"operationType", "truncate"},
            {"ns",
             {{"db", database_},
              {"schema", rel != relations_.end() ? rel->second.schema : ""},
              {"coll", rel != relations_.end() ? rel->second.name : std::to_string(oid)}}},
            {"clusterTime", pg::FormatPgTimestamp(open_->commit_time)},
            {"txnNumber", open_->xid}};
        open_->changes.push_back(std::move(change));
      }
      return Status::Ok();
    case pg::Message::Type::kCommit: {
      if (!open_) return Status::Unavailable("pgoutput: a Commit without a Begin");
      Txn txn = std::move(*open_);
      open_.reset();
      received_lsn_ = std::max(received_lsn_, m.end_lsn);
      if (m.end_lsn <= stored_lsn_) return Status::Ok();  // stored before a restart
      const std::string position = pg::FormatLsn(m.end_lsn);
      for (size_t i = 0; i < txn.changes.size(); ++i) {
        Change& c = txn.changes[i];
        c.event["_id"] = {{"lsn", position}, {"n", i}};
        c.position = position;
        c.event_id = event_ids_(m.end_lsn, false, i);
        pending_.push_back(std::move(c));
      }
      if (pending_end_lsn_ <= stored_lsn_) {
        oldest_pending_commit_ = txn.commit_time;
        batch_started_us_ = SteadyMicros();
      }
      pending_end_lsn_ = m.end_lsn;
      last_commit_time_ = txn.commit_time;
      return Status::Ok();
    }
    default:
      return Status::Ok();
  }
}

Status PostgresSource::StorePending() {
  if (pending_end_lsn_ <= stored_lsn_) return Status::Ok();
  // Past the last commit, up to what is received: a keepalive after it says the WAL
  // there holds nothing more for us.
  const uint64_t upto = std::max(pending_end_lsn_, received_lsn_);
  IngestBatch batch;
  batch.source = source_.name;
  batch.skip_seen_ids = false;
  batch.changes = std::move(pending_);
  batch.on_error = source_.on_error;
  pending_.clear();
  batch.checkpoint = core::Json{{"lsn", pg::FormatLsn(upto)}};
  const int64_t started = SteadyMicros();
  Result<IngestStats> stored = ingestor_.Ingest(batch);
  if (!stored.ok()) return stored.status();
  last_store_us_ = SteadyMicros() - started;
  stored_lsn_ = upto;
  UpdateLag();
  return SendStatus(false);
}

Status PostgresSource::StoreCheckpoint(uint64_t lsn) {
  IngestBatch batch;
  batch.source = source_.name;
  batch.skip_seen_ids = false;
  batch.checkpoint = core::Json{{"lsn", pg::FormatLsn(lsn)}};
  return ingestor_.Ingest(batch).status();
}

Status PostgresSource::SendStatus(bool reply_requested) {
  std::string msg = "r";
  PutU64(msg, std::max(received_lsn_, stored_lsn_));  // written: received
  PutU64(msg, stored_lsn_);                           // flushed: only what is stored
  PutU64(msg, stored_lsn_);                           // applied
  PutU64(msg, static_cast<uint64_t>(PgNowMicros()));
  msg += static_cast<char>(reply_requested ? 1 : 0);
  if (PQputCopyData(replication_, msg.data(), static_cast<int>(msg.size())) != 1 ||
      PQflush(replication_) != 0) {
    return Status::Unavailable("sending the standby status: " + Error(replication_));
  }
  last_status_ms_ = SteadyMillis();
  return Status::Ok();
}

Status PostgresSource::HandleKeepalive(uint64_t wal_end, bool reply, int64_t heartbeat_ms) {
  server_wal_end_ = std::max(server_wal_end_, wal_end);
  // A keepalive follows everything sent before it: with no transaction open, every
  // change up to wal_end is received.
  if (!open_) received_lsn_ = std::max(received_lsn_, wal_end);
  // A walsender sends one whenever it waits for WAL and our status is behind, i.e.
  // after nearly every transaction of a busy database; storing on each (one unit and
  // fsync per transaction) made a source fall behind a single writer. Only a reply
  // request stores at once: it is answered with all that can be stored (a shutdown
  // waits for it). Otherwise what is committed is stored when the data read is used up.
  if (reply) RETURN_IF_ERROR(StorePending());
  bool moved = false;
  if (pending_end_lsn_ <= stored_lsn_ && received_lsn_ > stored_lsn_ &&
      (reply || SteadyMillis() - last_idle_store_ms_ >= heartbeat_ms)) {
    // Nothing waits to be stored: the WAL up to received_lsn_ holds nothing for us.
    RETURN_IF_ERROR(StoreCheckpoint(received_lsn_));
    stored_lsn_ = received_lsn_;
    last_idle_store_ms_ = SteadyMillis();
    moved = true;
  }
  UpdateLag();
  // The status says what is received, so the walsender stops sending keepalives until it
  // sends more; while behind, one every 100 ms is enough.
  if (reply || moved || SteadyMillis() - last_status_ms_ >= 100) return SendStatus(false);
  return Status::Ok();
}

std::string PostgresSource::SqlSessionEnded() {
  // PQisBusy parses what was read, which hands the FATAL error to OnSqlNotice.
  PQconsumeInput(sql_);
  PQisBusy(sql_);
  return sql_notices_.session_ended.empty() ? Error(sql_) : sql_notices_.session_ended;
}

void PostgresSource::UpdateLag() {
  if (lag_bytes_ == nullptr) return;
  const uint64_t behind = server_wal_end_ > stored_lsn_ ? server_wal_end_ - stored_lsn_ : 0;
  lag_bytes_->Set(static_cast<double>(behind));
  // The oldest committed transaction not stored yet; when none is waiting but WAL is,
  // the time since the last stored commit.
  int64_t since = 0;
  if (pending_end_lsn_ > stored_lsn_) {
    since = oldest_pending_commit_;
  } else if (behind > 0) {
    since = last_commit_time_;
  }
  lag_seconds_->Set(since == 0 ? 0.0
                               : std::max(0.0, static_cast<double>(PgNowMicros() - since) / 1e6));
}

Status PostgresSource::Stream(const std::atomic<bool>& stop,
                              const std::function<void()>& on_progress) {
  const std::string start = "START_REPLICATION SLOT " +
                            QuoteIdentifier(replication_, source_.slot) + " LOGICAL " +
                            pg::FormatLsn(stored_lsn_) + " (proto_version '1', publication_names " +
                            "'" + QuoteIdentifier(replication_, source_.publication) + "')";
  RETURN_IF_ERROR(Exec(replication_, start).status());
  on_progress();
  SessionWatch watch(PQsocket(sql_), PQsocket(replication_));
  Status streamed = StreamChanges(stop, on_progress);
  // A shutdown explains a stream that broke (Unavailable), never an error of the source's
  // own (a change that cannot be mapped, a store that refused), which stays as it was.
  if (watch.fired() && (streamed.ok() || streamed.code() == StatusCode::kUnavailable)) {
    return Status::Unavailable("PostgreSQL ended the SQL session (" + SqlSessionEnded() +
                               "), as a shutdown does first; the stream was closed at once so "
                               "that the shutdown does not wait for changes not stored yet "
                               "(they come again)");
  }
  return streamed;
}

Status PostgresSource::StreamChanges(const std::atomic<bool>& stop,
                                     const std::function<void()>& on_progress) {
  const int64_t heartbeat_ms = std::max<int64_t>(source_.heartbeat.count(), 100);
  // Idle: the status goes out at least this often, asking for a keepalive reply.
  const int64_t status_every_ms = std::min<int64_t>(heartbeat_ms, 10'000);
  while (!stop.load()) {
    char* buffer = nullptr;
    const int n = PQgetCopyData(replication_, &buffer, 1);
    if (n > 0) {
      std::string data(buffer, static_cast<size_t>(n));
      PQfreemem(buffer);
      if (data[0] == 'w' && data.size() >= 25) {
        server_wal_end_ = std::max(server_wal_end_, GetU64(data.data() + 9));
        RETURN_IF_ERROR(Handle(data.substr(25)));
        const bool gathered_enough =
            pending_end_lsn_ > stored_lsn_ &&
            (pending_.size() >= kMaxBatchChanges ||
             SteadyMicros() - batch_started_us_ >= std::max(last_store_us_, kMinBatchMicros));
        if (gathered_enough) {
          RETURN_IF_ERROR(StorePending());
          on_progress();
        }
      } else if (data[0] == 'k' && data.size() >= 18) {
        RETURN_IF_ERROR(HandleKeepalive(GetU64(data.data() + 1), data[17] != 0, heartbeat_ms));
      }
      continue;
    }
    if (n == -1) {
      PGresult* r = PQgetResult(replication_);
      std::string why = r != nullptr ? PQresultErrorMessage(r) : "";
      const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
      const std::string sqlstate = state != nullptr ? state : "";
      PQclear(r);
      if (why.empty()) why = Error(replication_);
      if (why.empty()) why = "the server ended the stream";
      while (!why.empty() && why.back() == '\n') why.pop_back();
      return PgError(sqlstate, "replication ended: " + why, source_.slot, source_.name);
    }
    if (n == -2) return Status::Unavailable("replication: " + Error(replication_));
    // No data right now: store what is committed, then wait.
    if (pending_end_lsn_ > stored_lsn_) {
      RETURN_IF_ERROR(StorePending());
      on_progress();
    }
    if (SteadyMillis() - last_status_ms_ >= status_every_ms) RETURN_IF_ERROR(SendStatus(true));
    pollfd pfd{PQsocket(replication_), POLLIN, 0};
    ::poll(&pfd, 1, 100);
    if (PQconsumeInput(replication_) == 0)
      return Status::Unavailable("replication: " + Error(replication_));
  }
  RETURN_IF_ERROR(StorePending());
  return Status::Ok();
}

Status PostgresSource::Run(const std::atomic<bool>& stop,
                           const std::function<void()>& on_progress) {
  open_.reset();
  pending_.clear();
  pending_end_lsn_ = 0;
  received_lsn_ = 0;
  relations_.clear();
  keys_.clear();
  Status ran = [&]() -> Status {
    RETURN_IF_ERROR(Connect());
    RETURN_IF_ERROR(EnsurePublication());
    RETURN_IF_ERROR(PrepareSlot());
    return Stream(stop, on_progress);
  }();
  Disconnect();
  return ran;
}

}  // namespace rivulet::sources
