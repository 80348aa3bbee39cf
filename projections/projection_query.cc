#include "projections/projection_query.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/base64.h"
#include "core/status_macros.h"
#include "projections/projection_definition.h"
#include "projections/projection_tables.h"

namespace rivulet::projections {

namespace {

using core::Json;
using eventstore::SqlParams;
using eventstore::SqlRow;
using eventstore::SqlValue;

constexpr double kMissing = -std::numeric_limits<double>::infinity();

// A value as the indexes order it: numbers (missing and null as -infinity, booleans as
// 0/1) before text (strings; lists and objects as JSON text).
struct SortValue {
  bool is_text = false;
  double number = kMissing;
  std::string text;

  static SortValue Number(double n) { return SortValue{false, n, {}}; }
  static SortValue Text(std::string t) { return SortValue{true, 0, std::move(t)}; }
};

int Compare(const SortValue& a, const SortValue& b) {
  if (a.is_text != b.is_text) return a.is_text ? 1 : -1;
  if (a.is_text) return a.text.compare(b.text) < 0 ? -1 : (a.text == b.text ? 0 : 1);
  if (a.number < b.number) return -1;
  return a.number > b.number ? 1 : 0;
}

SortValue FromJson(const Json* v) {
  if (v == nullptr || v->is_null()) return SortValue::Number(kMissing);
  if (v->is_boolean()) return SortValue::Number(v->get<bool>() ? 1 : 0);
  if (v->is_number()) return SortValue::Number(v->get<double>());
  if (v->is_string()) return SortValue::Text(v->get<std::string>());
  return SortValue::Text(core::DumpJson(*v));
}

SortValue FromSql(const SqlValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return SortValue::Number(static_cast<double>(*i));
  if (auto* d = std::get_if<double>(&v)) return SortValue::Number(*d);
  if (auto* s = std::get_if<std::string>(&v)) return SortValue::Text(*s);
  return SortValue::Number(kMissing);
}

SqlValue ToSql(const SortValue& v) {
  if (v.is_text) return v.text;
  return v.number;
}

Json CursorValue(const SortValue& v) {
  if (v.is_text) return v.text;
  if (std::isinf(v.number)) return nullptr;
  return v.number;
}

std::string Quote(const std::string& identifier) { return "\"" + identifier + "\""; }

// FNV-1a: a stable fingerprint tying a cursor to the query that issued it.
std::string Fingerprint(const QueryRequest& request) {
  std::string text = request.match ? core::DumpJson(request.match->source()) : "";
  for (const SortKey& s : request.sort) text += (s.descending ? "|-" : "|") + s.field;
  uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (int i = 15; i >= 0; --i) hex.push_back(kHex[(hash >> (i * 4)) & 0xf]);
  return hex;
}

struct Cursor {
  std::vector<SortValue> values;
  std::string key;
};

std::string EncodeCursor(const QueryRequest& request, const std::vector<SortValue>& values,
                         const std::string& key) {
  Json j{{"q", Fingerprint(request)}, {"v", Json::array()}, {"k", key}};
  for (const SortValue& v : values) j["v"].push_back(CursorValue(v));
  return core::Base64UrlEncode(core::DumpJson(j));
}

Result<std::optional<Cursor>> DecodeCursor(const QueryRequest& request) {
  if (request.cursor.empty()) return std::optional<Cursor>();
  auto bad = [] { return Status::InvalidArgument("cursor", "not a cursor this server issued"); };
  auto raw = core::Base64UrlDecode(request.cursor);
  if (!raw) return bad();
  Json j = core::ParseJsonOr(*raw, Json(), core::kInputJson);
  if (!j.is_object() || !j.contains("q") || !j.contains("v") || !j.contains("k") ||
      !j["q"].is_string() || !j["v"].is_array() || !j["k"].is_string() ||
      j["v"].size() != request.sort.size()) {
    return bad();
  }
  if (j["q"] != Fingerprint(request)) {
    return Status::InvalidArgument("cursor", "belongs to a query with another match or sort");
  }
  Cursor cursor;
  for (const Json& v : j["v"]) {
    if (v.is_null())
      cursor.values.push_back(SortValue::Number(kMissing));
    else if (v.is_number())
      cursor.values.push_back(SortValue::Number(v.get<double>()));
    else if (v.is_string())
      cursor.values.push_back(SortValue::Text(v.get<std::string>()));
    else
      return bad();
  }
  cursor.key = j["k"].get<std::string>();
  return std::optional<Cursor>(std::move(cursor));
}

// The SQL conditions the indexes can answer; `complete` if they are all of the filter.
struct Pushdown {
  std::vector<std::string> conditions;
  SqlParams params;
  bool complete = true;
  bool on_indexed_field = false;
};

std::optional<SqlValue> ScalarParam(const Json& v) {
  if (v.is_boolean()) return SqlValue(static_cast<double>(v.get<bool>() ? 1 : 0));
  if (v.is_number()) return SqlValue(v.get<double>());
  if (v.is_string()) return SqlValue(v.get<std::string>());
  return std::nullopt;
}

Pushdown BuildPushdown(const std::optional<core::Filter>& match,
                       const std::vector<std::string>& indexes, bool structured_values) {
  Pushdown p;
  if (!match) return p;
  for (auto it = match->source().begin(); it != match->source().end(); ++it) {
    const std::string& field = it.key();
    bool is_key = field == "_key";
    bool indexed = std::find(indexes.begin(), indexes.end(), field) != indexes.end();
    if (!is_key && (!indexed || structured_values)) {
      p.complete = false;
      continue;
    }
    const std::string column = is_key ? "key" : ProjectionTables::FieldColumn(field);
    const Json& cond = it.value();
    bool operators = cond.is_object() && !cond.empty() && cond.begin().key().rfind('$', 0) == 0;
    Json ops = operators ? cond : Json{{"$eq", cond}};
    for (auto op = ops.begin(); op != ops.end(); ++op) {
      static const std::pair<const char*, const char*> kComparisons[] = {
          {"$eq", "="}, {"$gt", ">"}, {"$gte", ">="}, {"$lt", "<"}, {"$lte", "<="}};
      bool pushed = false;
      for (const auto& [name, sql] : kComparisons) {
        if (op.key() != name) continue;
        if (auto param = ScalarParam(op.value())) {
          p.conditions.push_back(column + " " + sql + " $" + std::to_string(p.params.size() + 1));
          p.params.push_back(*param);
          pushed = true;
        }
      }
      if (op.key() == "$in" && op.value().is_array() && !op.value().empty()) {
        SqlParams values;
        for (const Json& v : op.value()) {
          auto param = ScalarParam(v);
          if (!param) break;
          values.push_back(*param);
        }
        if (values.size() == op.value().size()) {
          std::string list;
          for (SqlValue& v : values) {
            p.params.push_back(std::move(v));
            list += (list.empty() ? "$" : ", $") + std::to_string(p.params.size());
          }
          p.conditions.push_back(column + " IN (" + list + ")");
          pushed = true;
        }
      }
      if (pushed) {
        if (!is_key) p.on_indexed_field = true;
      } else {
        p.complete = false;  // checked on the documents instead
      }
    }
  }
  return p;
}

Result<bool> HasStructuredValues(eventstore::EventStore& store, const std::string& table) {
  bool found = false;
  RETURN_IF_ERROR(store.QueryEach("SELECT 1 FROM " + Quote(table) + " WHERE structured > 0 LIMIT 1",
                                  {}, [&](const SqlRow&) {
                                    found = true;
                                    return false;
                                  }));
  return found;
}

Status TableError(const Status& status, const std::string& name) {
  if (status.message().find("no such table") != std::string::npos) {
    return Status::NotFound("projection " + name + " has no documents yet");
  }
  return status;
}

bool Matches(const std::optional<core::Filter>& match, const std::string& doc_text, Json& doc) {
  if (!match) return true;
  doc = core::ParseJsonOr(doc_text, Json(), core::kStoredJson);
  return match->Matches(doc);
}

}  // namespace

Result<std::vector<SortKey>> ParseSort(const std::string& text) {
  std::vector<SortKey> keys;
  if (text.empty()) return keys;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    SortKey key;
    if (!item.empty() && item[0] == '-') {
      key.descending = true;
      item = item.substr(1);
    } else if (!item.empty() && item[0] == '+') {
      item = item.substr(1);
    }
    bool reserved = item == "_key" || item == "_version" || item == "_position";
    if (!reserved && !IsDocumentField(item)) {
      return Status::InvalidArgument(
          "sort", "expected field names like total or -total, got \"" + item + "\"");
    }
    for (const SortKey& k : keys) {
      if (k.field == item) return Status::InvalidArgument("sort", item + " is listed twice");
    }
    key.field = item;
    keys.push_back(key);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return keys;
}

Result<QueryPage> QueryProjection(eventstore::EventStore& store, const std::string& name,
                                  const std::vector<std::string>& indexes,
                                  const QueryRequest& request) {
  if (request.limit < 1 || request.limit > 1000)
    return Status::InvalidArgument("limit", "must be 1 to 1000");
  ASSIGN_OR_RETURN(std::optional<Cursor> cursor, DecodeCursor(request));
  const std::string table = ProjectionTables::LiveTable(name);
  auto indexed = [&](const std::string& field) {
    return field == "_key" || std::find(indexes.begin(), indexes.end(), field) != indexes.end();
  };

  bool structured = false;
  if (request.match && !indexes.empty()) {
    auto found = HasStructuredValues(store, table);
    if (!found.ok()) return TableError(found.status(), name);
    structured = *found;
  }
  Pushdown pushdown = BuildPushdown(request.match, indexes, structured);
  bool sort_indexed = std::all_of(request.sort.begin(), request.sort.end(),
                                  [&](const SortKey& s) { return indexed(s.field); });
  QueryPage page;
  page.used_index = pushdown.complete && sort_indexed;

  // The order: the sort keys, then the document key (unless it is the last sort key).
  struct OrderTerm {
    std::string column;
    bool descending;
  };
  std::vector<OrderTerm> order;
  for (const SortKey& s : request.sort) {
    order.push_back(
        {s.field == "_key" ? "key" : ProjectionTables::FieldColumn(s.field), s.descending});
  }
  bool key_last = !request.sort.empty() && request.sort.back().field == "_key";
  bool key_descending = !request.sort.empty() && request.sort.back().descending;
  if (!key_last) order.push_back({"key", key_descending});

  auto sort_values_of = [&](const Json& doc, const std::string& key) {
    std::vector<SortValue> values;
    for (const SortKey& s : request.sort) {
      if (s.field == "_key") {
        values.push_back(SortValue::Text(key));
      } else {
        auto it = doc.find(s.field);
        values.push_back(FromJson(it == doc.end() ? nullptr : &*it));
      }
    }
    return values;
  };

  std::string where = pushdown.conditions.empty() ? "" : " WHERE ";
  for (size_t i = 0; i < pushdown.conditions.size(); ++i)
    where += (i ? " AND " : "") + pushdown.conditions[i];
  SqlParams params = pushdown.params;

  if (sort_indexed) {
    // The indexes give the order: stream rows from the cursor on until the page is full.
    if (cursor) {
      std::vector<std::pair<std::string, SortValue>> terms;
      for (size_t i = 0; i < request.sort.size(); ++i)
        terms.emplace_back(order[i].column, cursor->values[i]);
      if (!key_last) terms.emplace_back("key", SortValue::Text(cursor->key));
      bool same_direction = std::all_of(order.begin(), order.end(), [&](const OrderTerm& t) {
        return t.descending == order[0].descending;
      });
      std::string keyset;
      if (same_direction) {
        std::string lhs, rhs;
        for (const auto& [column, value] : terms) {
          params.push_back(ToSql(value));
          lhs += (lhs.empty() ? "" : ", ") + column;
          rhs += (rhs.empty() ? "$" : ", $") + std::to_string(params.size());
        }
        keyset = "(" + lhs + ") " + (order[0].descending ? "<" : ">") + " (" + rhs + ")";
      } else {
        for (size_t i = 0; i < terms.size(); ++i) {
          std::string clause;
          for (size_t j = 0; j < i; ++j) {
            params.push_back(ToSql(terms[j].second));
            clause += terms[j].first + " = $" + std::to_string(params.size()) + " AND ";
          }
          params.push_back(ToSql(terms[i].second));
          clause += terms[i].first + (order[i].descending ? " < $" : " > $") +
                    std::to_string(params.size());
          keyset += (keyset.empty() ? "(" : " OR (") + clause + ")";
        }
      }
      where += (where.empty() ? " WHERE (" : " AND (") + keyset + ")";
    }
    std::string select = "SELECT key, doc";
    for (size_t i = 0; i < request.sort.size(); ++i) select += ", " + order[i].column;
    std::string order_by;
    for (const OrderTerm& t : order)
      order_by += (order_by.empty() ? "" : ", ") + t.column + (t.descending ? " DESC" : "");
    std::vector<std::pair<std::string, std::vector<SortValue>>>
        rows;  // key and sort values of items
    Json doc;
    Status status = store.QueryEach(
        select + " FROM " + Quote(table) + where + " ORDER BY " + order_by, params,
        [&](const SqlRow& row) {
          const auto& doc_text = std::get<std::string>(row[1]);
          if (!Matches(request.match, doc_text, doc)) return true;
          std::vector<SortValue> values;
          for (size_t i = 0; i < request.sort.size(); ++i) values.push_back(FromSql(row[2 + i]));
          if (page.items.size() == request.limit) {
            page.next_cursor = EncodeCursor(request, rows.back().second, rows.back().first);
            return false;
          }
          page.items.push_back(doc_text);
          rows.emplace_back(std::get<std::string>(row[0]), std::move(values));
          return true;
        });
    if (!status.ok()) return TableError(status, name);
    return page;
  }

  // An unindexed sort field: collect every matching document, then sort here.
  struct Item {
    std::vector<SortValue> values;
    std::string key;
    std::string doc;
  };
  std::vector<Item> items;
  Json doc;
  Status status = store.QueryEach(
      "SELECT key, doc FROM " + Quote(table) + where, params, [&](const SqlRow& row) {
        const auto& doc_text = std::get<std::string>(row[1]);
        if (request.match) {
          if (!Matches(request.match, doc_text, doc)) return true;
        } else {
          doc = core::ParseJsonOr(doc_text, Json(), core::kStoredJson);
        }
        items.push_back(Item{sort_values_of(doc, std::get<std::string>(row[0])),
                             std::get<std::string>(row[0]), doc_text});
        return true;
      });
  if (!status.ok()) return TableError(status, name);
  auto before = [&](const std::vector<SortValue>& av, const std::string& ak,
                    const std::vector<SortValue>& bv, const std::string& bk) {
    for (size_t i = 0; i < request.sort.size(); ++i) {
      int c = Compare(av[i], bv[i]);
      if (c != 0) return request.sort[i].descending ? c > 0 : c < 0;
    }
    if (key_last) return false;
    return key_descending ? ak > bk : ak < bk;
  };
  std::sort(items.begin(), items.end(),
            [&](const Item& a, const Item& b) { return before(a.values, a.key, b.values, b.key); });
  size_t start = 0;
  if (cursor) {
    while (start < items.size() &&
           !before(cursor->values, cursor->key, items[start].values, items[start].key))
      ++start;
  }
  for (size_t i = start; i < items.size(); ++i) {
    if (page.items.size() == request.limit) {
      const Item& last = items[i - 1];
      page.next_cursor = EncodeCursor(request, last.values, last.key);
      break;
    }
    page.items.push_back(std::move(items[i].doc));
  }
  return page;
}

Result<std::optional<std::string>> GetDocument(eventstore::EventStore& store,
                                               const std::string& name, const std::string& key) {
  auto rows = store.Query(
      "SELECT doc FROM " + Quote(ProjectionTables::LiveTable(name)) + " WHERE key = $1", {key});
  if (!rows.ok()) return TableError(rows.status(), name);
  if (rows->empty()) return std::optional<std::string>();
  return std::optional<std::string>(std::move(std::get<std::string>((*rows)[0][0])));
}

}  // namespace rivulet::projections
