#include "sources/change_event.h"

#include <cerrno>
#include <cstdlib>

#include "core/status_macros.h"
#include "core/time_format.h"

namespace rivulet::sources {

namespace {

Status Malformed(const std::string& path, const std::string& what) {
  return Status::InvalidArgument(path, what);
}

Result<int64_t> Integer(const core::Json& v, const std::string& path) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (!v.is_string()) return Malformed(path, "expected an integer in a string");
  const std::string text = v.get<std::string>();
  errno = 0;
  char* end = nullptr;
  const long long n = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE)
    return Malformed(path, "expected an integer, got \"" + text + "\"");
  return static_cast<int64_t>(n);
}

Result<core::Json> Convert(const core::Json& v, const std::string& path) {
  if (v.is_array()) {
    core::Json out = core::Json::array();
    for (size_t i = 0; i < v.size(); ++i) {
      ASSIGN_OR_RETURN(core::Json item, Convert(v[i], path + "[" + std::to_string(i) + "]"));
      out.push_back(std::move(item));
    }
    return out;
  }
  if (!v.is_object()) return v;
  if (v.size() == 1 || (v.size() == 2 && v.contains("$binary"))) {
    const std::string& key = v.begin().key();
    const core::Json& x = v.begin().value();
    const std::string at = path.empty() ? key : path + "." + key;
    if (key == "$oid" || key == "$uuid" || key == "$symbol") {
      if (!x.is_string()) return Malformed(at, "expected a string");
      return x;
    }
    if (key == "$numberLong" || key == "$numberInt") {
      ASSIGN_OR_RETURN(int64_t n, Integer(x, at));
      return core::Json(n);
    }
    if (key == "$numberDouble") {
      if (x.is_number()) return x;
      if (!x.is_string()) return Malformed(at, "expected a number in a string");
      const std::string text = x.get<std::string>();
      if (text == "NaN" || text == "Infinity" || text == "-Infinity") return x;
      char* end = nullptr;
      const double d = std::strtod(text.c_str(), &end);
      if (text.empty() || end != text.c_str() + text.size())
        return Malformed(at, "expected a number, got \"" + text + "\"");
      return core::Json(d);
    }
    if (key == "$numberDecimal") {
      if (!x.is_string()) return Malformed(at, "expected a decimal in a string");
      return x;
    }
    if (key == "$date") {
      int64_t millis = 0;
      if (x.is_string()) {
        ASSIGN_OR_RETURN(millis, core::ParseRfc3339(x.get<std::string>()));
      } else if (x.is_object() && x.size() == 1 && x.contains("$numberLong")) {
        ASSIGN_OR_RETURN(millis, Integer(x["$numberLong"], at + ".$numberLong"));
      } else if (x.is_number_unsigned() &&
                 x.get<uint64_t>() > static_cast<uint64_t>(core::kMaxRfc3339Millis)) {
        return Malformed(
            at, "timestamp " + x.dump() + " (milliseconds since 1970) is outside years 0000-9999");
      } else if (x.is_number_integer()) {
        millis = x.get<int64_t>();
      } else {
        return Malformed(at, "expected an RFC 3339 date, or milliseconds as $numberLong");
      }
      auto text = core::FormatTimestamp(millis);
      if (!text.ok()) return Malformed(at, text.status().message());
      return core::Json(std::move(text).value());
    }
    if (key == "$timestamp") {
      if (!x.is_object() || !x.contains("t") || !x.contains("i") || !x["t"].is_number_integer() ||
          !x["i"].is_number_integer() || x["t"] < 0 || x["i"] < 0) {
        return Malformed(at, "expected {\"t\": seconds, \"i\": increment}");
      }
      return core::Json{{"t", x["t"]}, {"i", x["i"]}};
    }
    if (key == "$binary") {
      if (x.is_object() && x.contains("base64") && x["base64"].is_string()) return x["base64"];
      if (x.is_string()) return x;  // legacy {"$binary": B, "$type": T}
      return Malformed(at, "expected {\"base64\": ..., \"subType\": ...}");
    }
  }
  core::Json out = core::Json::object();
  for (auto it = v.begin(); it != v.end(); ++it) {
    ASSIGN_OR_RETURN(core::Json item,
                     Convert(it.value(), path.empty() ? it.key() : path + "." + it.key()));
    out[it.key()] = std::move(item);
  }
  return out;
}

}  // namespace

Result<core::Json> FromExtendedJson(const core::Json& value) { return Convert(value, ""); }

bool IsDataOperation(const std::string& operation_type) {
  return operation_type == "insert" || operation_type == "update" || operation_type == "replace" ||
         operation_type == "delete";
}

std::string ChangeIdKey(const core::Json& change) { return core::DumpJson(change["_id"]); }

Result<core::Json> NormalizeChangeEvent(const core::Json& raw, bool extended_json) {
  if (!raw.is_object()) return Status::InvalidArgument("a change event must be a JSON object");
  core::Json change;
  if (extended_json) {
    ASSIGN_OR_RETURN(change, FromExtendedJson(raw));
  } else {
    change = raw;
  }
  if (!change.contains("_id") || change["_id"].is_null())
    return Malformed("_id", "missing: the change event's resume token is required");
  if (!change.contains("operationType") || !change["operationType"].is_string())
    return Malformed("operationType", "missing or not a string");
  const std::string operation = change["operationType"];
  for (const char* field : {"ns", "documentKey", "fullDocument", "fullDocumentBeforeChange",
                            "updateDescription", "clusterTime", "txnNumber"}) {
    if (!change.contains(field)) change[field] = nullptr;
  }
  if (!IsDataOperation(operation)) return change;  // ignored, with a counter
  const core::Json& ns = change["ns"];
  if (!ns.is_object() || !ns.contains("coll") || !ns["coll"].is_string() ||
      ns["coll"].get<std::string>().empty()) {
    return Malformed("ns.coll", "missing: a " + operation + " names its collection");
  }
  if (ns.contains("db") && !ns["db"].is_string() && !ns["db"].is_null())
    return Malformed("ns.db", "expected a string");
  if (!change["documentKey"].is_object() || change["documentKey"].empty())
    return Malformed("documentKey", "expected an object with the document's key");
  for (const char* field : {"fullDocument", "fullDocumentBeforeChange", "updateDescription"}) {
    if (!change[field].is_object() && !change[field].is_null())
      return Malformed(field, "expected an object or null");
  }
  if ((operation == "insert" || operation == "replace") && !change["fullDocument"].is_object())
    return Malformed("fullDocument", "missing: an " + operation + " carries the document");
  if (operation == "update" && !change["updateDescription"].is_null()) {
    const core::Json& u = change["updateDescription"];
    if (u.contains("updatedFields") && !u["updatedFields"].is_object())
      return Malformed("updateDescription.updatedFields", "expected an object");
    if (u.contains("removedFields") && !u["removedFields"].is_array())
      return Malformed("updateDescription.removedFields", "expected an array");
  }
  return change;
}

}  // namespace rivulet::sources
