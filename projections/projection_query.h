#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/filter.h"
#include "core/result.h"
#include "eventstore/event_store.h"

namespace rivulet::projections {

struct SortKey {
  std::string field;  // a document field, or _key
  bool descending = false;
};

// "field,-other" -> [{field, asc}, {other, desc}]; InvalidArgument on bad fields.
Result<std::vector<SortKey>> ParseSort(const std::string& text);

struct QueryRequest {
  std::optional<core::Filter> match;
  std::vector<SortKey> sort;  // then _key, always, so the order is total
  size_t limit = 100;         // 1..1000
  std::string cursor;         // from a previous page of the same query
};

struct QueryPage {
  std::vector<std::string> items;  // documents, as stored JSON text
  std::optional<std::string> next_cursor;
  // True when the filter and the order are served by indexes; false when rows had to
  // be scanned (an unindexed field, or an indexed field holding lists or objects).
  bool used_index = false;
};

// Queries the live copy of a projection (SPEC 5): `match` in the filter language, sort
// by fields, pages of `limit` with an opaque cursor that is stable under concurrent
// writes (it names the last row's sort values and key, not an offset).
//
// Conditions on indexed fields ($eq, $gt, $gte, $lt, $lte, $in on scalars, at the top
// level) run as SQL on the indexes; the whole filter is then checked on each document
// with the filter language's own rules, so results never depend on what is indexed.
// Values order as: missing/null, then booleans and numbers (false = 0, true = 1), then
// strings; lists and objects by their JSON text.
//
// `indexes` are the live copy's indexed fields. Errors: InvalidArgument for a cursor
// from another query; NotFound if the projection has no live copy yet.
Result<QueryPage> QueryProjection(eventstore::EventStore& store, const std::string& name,
                                  const std::vector<std::string>& indexes,
                                  const QueryRequest& request);

// The document with `key` in the live copy, as JSON text, or nullopt.
Result<std::optional<std::string>> GetDocument(eventstore::EventStore& store,
                                               const std::string& name, const std::string& key);

}  // namespace rivulet::projections
