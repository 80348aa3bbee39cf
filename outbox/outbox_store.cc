#include "outbox/outbox_store.h"

#include "core/status_macros.h"

namespace rivulet::outbox {

namespace {

using eventstore::SqlRow;
using eventstore::SqlRows;

const std::vector<eventstore::Migration>& Migrations() {
  static const auto* migrations = new std::vector<eventstore::Migration>{
      {1, "outbox messages",
       "CREATE TABLE outbox_messages ("
       "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
       "  id TEXT NOT NULL UNIQUE,"
       "  destination TEXT NOT NULL,"
       "  key TEXT NOT NULL,"
       "  headers TEXT NOT NULL,"
       "  payload TEXT NOT NULL,"
       "  status TEXT NOT NULL,"
       "  attempts INTEGER NOT NULL DEFAULT 0,"
       "  next_attempt_at INTEGER NOT NULL,"
       "  last_error TEXT NOT NULL DEFAULT '',"
       "  created_at INTEGER NOT NULL,"
       "  delivered_at INTEGER);"
       "CREATE INDEX outbox_pending ON outbox_messages (destination, key, seq) "
       "  WHERE status = 'pending';"
       "CREATE INDEX outbox_by_status ON outbox_messages (status, destination, seq);"
       "CREATE INDEX outbox_delivered ON outbox_messages (delivered_at) "
       "  WHERE status = 'delivered';"},
      // Every delivery moved a row within a full (status, destination, seq) index; partial
      // indexes over the pending and the dead rows answer the same queries, and a
      // delivery only removes an entry from them.
      {2, "outbox: partial indexes of pending and dead messages instead of one over all",
       "DROP INDEX outbox_by_status;"
       "CREATE INDEX outbox_pending_in_order ON outbox_messages (destination, seq) "
       "  WHERE status = 'pending';"
       "CREATE INDEX outbox_dead ON outbox_messages (destination, seq) WHERE status = 'dead';"},
  };
  return *migrations;
}

constexpr const char* kColumns =
    "seq, id, destination, key, headers, payload, status, attempts, next_attempt_at, "
    "last_error, created_at, delivered_at";

Message FromRow(const SqlRow& row) {
  Message m;
  m.seq = std::get<int64_t>(row[0]);
  m.id = std::get<std::string>(row[1]);
  m.destination = std::get<std::string>(row[2]);
  m.key = std::get<std::string>(row[3]);
  m.headers = std::get<std::string>(row[4]);
  m.payload = std::get<std::string>(row[5]);
  m.status = std::get<std::string>(row[6]);
  m.attempts = std::get<int64_t>(row[7]);
  m.next_attempt_at = std::get<int64_t>(row[8]);
  m.last_error = std::get<std::string>(row[9]);
  m.created_at = std::get<int64_t>(row[10]);
  if (auto* d = std::get_if<int64_t>(&row[11])) m.delivered_at = *d;
  return m;
}

std::vector<Message> FromRows(const SqlRows& rows) {
  std::vector<Message> out;
  out.reserve(rows.size());
  for (const SqlRow& row : rows) out.push_back(FromRow(row));
  return out;
}

}  // namespace

core::Json Message::Headers() const {
  core::Json parsed = core::ParseJsonOr(headers, core::Json::object(), core::kStoredJson);
  return parsed.is_object() ? parsed : core::Json::object();
}

core::Json Message::ToJson() const {
  Result<core::Json> parsed = core::ParseJson(payload, core::kStoredJson);
  core::Json payload_json = parsed.ok() ? std::move(parsed).value() : core::Json(payload);
  return core::Json{{"id", id},
                    {"destination", destination},
                    {"key", key},
                    {"status", status},
                    {"attempts", attempts},
                    {"next_attempt_at", next_attempt_at},
                    {"last_error", last_error.empty() ? core::Json() : core::Json(last_error)},
                    {"created_at", created_at},
                    {"delivered_at", delivered_at ? core::Json(*delivered_at) : core::Json()},
                    {"headers", Headers()},
                    {"payload", std::move(payload_json)}};
}

Status OutboxStore::Migrate(eventstore::EventStore& store) {
  if (store.dialect() != eventstore::SqlDialect::kSqlite) {
    return Status::Unavailable("the outbox needs the sqlite store backend in this build");
  }
  return store.ApplyMigrations("outbox", Migrations());
}

Status OutboxStore::Insert(eventstore::Transaction& tx, const Message& m) {
  return tx.Execute(
      "INSERT INTO outbox_messages (id, destination, key, headers, payload, status, attempts, "
      "next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
      {m.id, m.destination, m.key, m.headers, m.payload, m.created_at});
}

Result<std::vector<Message>> OutboxStore::Deliverable(eventstore::EventStore& store,
                                                      const std::string& destination, int64_t now,
                                                      int limit) {
  ASSIGN_OR_RETURN(
      SqlRows rows,
      store.Query(std::string("SELECT ") + kColumns +
                      " FROM outbox_messages WHERE seq IN (SELECT min(seq) FROM outbox_messages "
                      "WHERE destination = $1 AND status = 'pending' GROUP BY key) AND "
                      "next_attempt_at <= $2 ORDER BY seq LIMIT $3",
                  {destination, now, static_cast<int64_t>(limit)}));
  return FromRows(rows);
}

Result<std::vector<Message>> OutboxStore::PendingInOrder(eventstore::EventStore& store,
                                                         const std::string& destination,
                                                         int64_t after_seq, int limit) {
  ASSIGN_OR_RETURN(SqlRows rows,
                   store.Query(std::string("SELECT ") + kColumns +
                                   " FROM outbox_messages WHERE status = 'pending' AND "
                                   "destination = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                               {destination, after_seq, static_cast<int64_t>(limit)}));
  return FromRows(rows);
}

Result<std::optional<int64_t>> OutboxStore::NextDue(eventstore::EventStore& store,
                                                    const std::string& destination) {
  ASSIGN_OR_RETURN(SqlRows rows, store.Query("SELECT min(next_attempt_at) FROM outbox_messages "
                                             "WHERE status = 'pending' AND destination = $1",
                                             {destination}));
  if (rows.empty() || !std::holds_alternative<int64_t>(rows[0][0])) return std::optional<int64_t>();
  return std::optional<int64_t>(std::get<int64_t>(rows[0][0]));
}

Status OutboxStore::MarkDelivered(eventstore::Transaction& tx, int64_t seq, int64_t now) {
  return tx.Execute(
      "UPDATE outbox_messages SET status = 'delivered', attempts = attempts + 1, "
      "delivered_at = $2, last_error = '' WHERE seq = $1 AND status = 'pending'",
      {seq, now});
}

Status OutboxStore::MarkDelivered(eventstore::Transaction& tx, const std::vector<int64_t>& seqs,
                                  int64_t now) {
  if (seqs.empty()) return Status::Ok();
  return tx.Execute(
      "UPDATE outbox_messages SET status = 'delivered', attempts = attempts + 1, "
      "delivered_at = $2, last_error = '' WHERE seq IN (SELECT value FROM json_each($1)) AND "
      "status = 'pending'",
      {core::DumpJson(core::Json(seqs)), now});
}

Status OutboxStore::MarkFailed(eventstore::Transaction& tx, int64_t seq, const std::string& error,
                               std::optional<int64_t> retry_at) {
  if (retry_at) {
    return tx.Execute(
        "UPDATE outbox_messages SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 "
        "WHERE seq = $1 AND status = 'pending'",
        {seq, error, *retry_at});
  }
  return tx.Execute(
      "UPDATE outbox_messages SET attempts = attempts + 1, last_error = $2, status = 'dead' "
      "WHERE seq = $1 AND status = 'pending'",
      {seq, error});
}

Result<Message> OutboxStore::Retry(eventstore::EventStore& store, const std::string& id,
                                   int64_t now) {
  std::optional<Message> out;
  RETURN_IF_ERROR(store.Write([&](eventstore::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(
        SqlRows rows,
        tx.Query(std::string("SELECT ") + kColumns + " FROM outbox_messages WHERE id = $1", {id}));
    if (rows.empty()) return Status::NotFound("no outbox message " + id);
    Message m = FromRow(rows[0]);
    if (m.status != "dead") {
      return Status::Aborted("outbox message " + id + " is " + m.status + ", not dead")
          .WithReason("conflict");
    }
    RETURN_IF_ERROR(tx.Execute(
        "UPDATE outbox_messages SET status = 'pending', attempts = 0, next_attempt_at = $2 "
        "WHERE seq = $1",
        {m.seq, now}));
    m.status = "pending";
    m.attempts = 0;
    m.next_attempt_at = now;
    out = std::move(m);
    return Status::Ok();
  }));
  return std::move(*out);
}

Result<int64_t> OutboxStore::Prune(eventstore::EventStore& store, int64_t before, int batch) {
  int64_t deleted = 0;
  RETURN_IF_ERROR(store.Write([&](eventstore::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(SqlRows rows,
                     tx.Query("DELETE FROM outbox_messages WHERE seq IN (SELECT seq FROM "
                              "outbox_messages WHERE status = 'delivered' AND delivered_at < $1 "
                              "LIMIT $2) RETURNING seq",
                              {before, static_cast<int64_t>(batch)}));
    deleted = static_cast<int64_t>(rows.size());
    return Status::Ok();
  }));
  return deleted;
}

Result<std::vector<Message>> OutboxStore::List(eventstore::EventStore& store,
                                               const std::string& status,
                                               const std::string& destination, int64_t after_seq,
                                               int limit) {
  ASSIGN_OR_RETURN(SqlRows rows,
                   store.Query(std::string("SELECT ") + kColumns +
                                   " FROM outbox_messages WHERE ($1 = '' OR status = $1) AND "
                                   "($2 = '' OR destination = $2) AND seq > $3 ORDER BY seq "
                                   "LIMIT $4",
                               {status, destination, after_seq, static_cast<int64_t>(limit)}));
  return FromRows(rows);
}

Result<std::vector<std::tuple<std::string, std::string, int64_t>>> OutboxStore::Counts(
    eventstore::EventStore& store) {
  ASSIGN_OR_RETURN(SqlRows rows,
                   store.Query("SELECT destination, 'pending', count(*) FROM outbox_messages "
                               "WHERE status = 'pending' GROUP BY destination UNION ALL "
                               "SELECT destination, 'dead', count(*) FROM outbox_messages "
                               "WHERE status = 'dead' GROUP BY destination"));
  std::vector<std::tuple<std::string, std::string, int64_t>> out;
  for (const SqlRow& row : rows) {
    out.emplace_back(std::get<std::string>(row[0]), std::get<std::string>(row[1]),
                     std::get<int64_t>(row[2]));
  }
  return out;
}

}  // namespace rivulet::outbox
