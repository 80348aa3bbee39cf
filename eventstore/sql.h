#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace rivulet::eventstore {

// Values crossing the store's SQL surface (used by modules that keep their own
// tables next to the events). Statements use PostgreSQL-style placeholders `$1`,
// `$2`, ... on every backend.
struct SqlBlob {
  std::string bytes;
};
using SqlValue = std::variant<std::nullptr_t, int64_t, double, std::string, SqlBlob>;
using SqlParams = std::vector<SqlValue>;
using SqlRow = std::vector<SqlValue>;
using SqlRows = std::vector<SqlRow>;

enum class SqlDialect { kSqlite, kPostgres };

// A schema change of one component, applied once, in version order, in one transaction
// with the record of having applied it.
struct Migration {
  int version;
  std::string description;
  std::string sql;  // one or more statements
};

}  // namespace rivulet::eventstore
