#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/result.h"

namespace rivulet::sources::pg {

// An LSN as PostgreSQL prints it ("16/B374D848") and as a number.
std::string FormatLsn(uint64_t lsn);
Result<uint64_t> ParseLsn(std::string_view text);

// A text-format value of type `type_oid` as JSON: integers as numbers, numeric as a
// decimal string, booleans, json/jsonb parsed, timestamps as RFC 3339 (timestamptz
// must come in UTC, as the replication session is set to), arrays of those, anything
// else as text.
core::Json TextToJson(uint32_t type_oid, std::string_view text);

// The pgoutput messages of protocol version 1 (PostgreSQL's "Logical Replication
// Message Formats").
struct Column {
  std::string name;
  uint32_t type_oid = 0;
  bool key = false;  // part of the replica identity
};
struct Relation {
  uint32_t oid = 0;
  std::string schema;
  std::string name;
  char replica_identity = 'd';  // d default, n nothing, f full, i index
  std::vector<Column> columns;
};

// One tuple: per column, null / unchanged TOAST / a text value.
struct TupleValue {
  enum class Kind { kNull, kUnchangedToast, kText } kind = Kind::kNull;
  std::string text;
};
using Tuple = std::vector<TupleValue>;

struct Message {
  enum class Type {
    kBegin,
    kCommit,
    kOrigin,
    kRelation,
    kType,
    kInsert,
    kUpdate,
    kDelete,
    kTruncate,
    kOther
  } type = Type::kOther;
  uint64_t lsn = 0;                 // Begin: final LSN; Commit: commit LSN
  uint64_t end_lsn = 0;             // Commit: end of the commit record
  int64_t timestamp = 0;            // Begin/Commit: commit time, microseconds since 2000-01-01
  uint32_t xid = 0;                 // Begin
  std::string origin;               // Origin
  Relation relation;                // Relation
  uint32_t relation_oid = 0;        // Insert/Update/Delete
  char old_kind = 0;                // Update/Delete: 'K' key only, 'O' whole old row, 0 none
  std::optional<Tuple> old_tuple;   // Update/Delete
  std::optional<Tuple> new_tuple;   // Insert/Update
  std::vector<uint32_t> truncated;  // Truncate: relation oids
};

// Parses one pgoutput message (the payload of an XLogData message).
Result<Message> ParseMessage(std::string_view bytes);

// Microseconds since 2000-01-01 (PostgreSQL's epoch) to RFC 3339 with microseconds.
std::string FormatPgTimestamp(int64_t micros_since_2000);
int64_t PgTimestampToUnixMillis(int64_t micros_since_2000);

}  // namespace rivulet::sources::pg
