#include "projections/document_update.h"

#include <cmath>

#include "core/status_macros.h"

namespace rivulet::projections {

namespace {

using core::Json;

Result<Json> Evaluate(const core::JsonTemplate& t, const Json& event, const std::string& where) {
  auto value = t.Evaluate(event);
  if (!value.ok()) return value.status().WithContext(where);
  return value;
}

Result<Json> Add(const Json& current, const Json& delta) {
  if (current.is_number_integer() && delta.is_number_integer()) {
    int64_t sum;
    if (!__builtin_add_overflow(current.get<int64_t>(), delta.get<int64_t>(), &sum))
      return Json(sum);
  }
  double sum = current.get<double>() + delta.get<double>();
  if (!std::isfinite(sum)) return Status::InvalidArgument("the sum is not a finite number");
  return Json(sum);
}

Status Inc(Json& doc, const std::string& field, const Json& delta, const std::string& where) {
  if (!delta.is_number()) {
    return Status::InvalidArgument(where, std::string("expected a number to add, got ") +
                                              core::JsonTypeName(delta) + " " +
                                              core::JsonForMessage(delta));
  }
  auto it = doc.find(field);
  Json current = it == doc.end() || it->is_null() ? Json(0) : *it;
  if (!current.is_number()) {
    return Status::InvalidArgument(where, "the document's " + field + " is a " +
                                              core::JsonTypeName(current) + ", not a number");
  }
  auto sum = Add(current, delta);
  if (!sum.ok()) return sum.status().WithContext(where);
  doc[field] = std::move(sum).value();
  return Status::Ok();
}

Status Extreme(Json& doc, const std::string& field, const Json& value, bool keep_smaller,
               const std::string& where) {
  auto it = doc.find(field);
  if (it == doc.end() || it->is_null()) {
    doc[field] = value;
    return Status::Ok();
  }
  const Json& current = *it;
  bool comparable =
      (current.is_number() && value.is_number()) || (current.is_string() && value.is_string());
  if (!comparable) {
    return Status::InvalidArgument(where, std::string("cannot compare the document's ") +
                                              core::JsonTypeName(current) + " with " +
                                              core::JsonTypeName(value));
  }
  bool replace = keep_smaller ? value < current : current < value;
  if (replace) doc[field] = value;
  return Status::Ok();
}

Status Push(Json& doc, const std::string& field, const Json& value, std::optional<int64_t> limit,
            const std::string& where) {
  auto it = doc.find(field);
  if (it == doc.end() || it->is_null()) {
    doc[field] = Json::array();
    it = doc.find(field);
  } else if (!it->is_array()) {
    return Status::InvalidArgument(
        where, "the document's " + field + " is a " + core::JsonTypeName(*it) + ", not a list");
  }
  it->push_back(value);
  if (limit && static_cast<int64_t>(it->size()) > *limit) {
    it->erase(it->begin(), it->begin() + (static_cast<int64_t>(it->size()) - *limit));
  }
  return Status::Ok();
}

bool Creates(const ProjectionDefinition::Handler& h) {
  return !h.set.empty() || !h.inc.empty() || !h.min.empty() || !h.max.empty() || !h.push.empty();
}

}  // namespace

Result<std::string> EvaluateKey(const core::Template& key, const Json& event) {
  auto value = key.Evaluate(event);
  if (!value.ok()) return value.status().WithContext("key");
  if (value->is_string()) {
    const std::string& s = value->get_ref<const std::string&>();
    if (s.empty())
      return Status::InvalidArgument("key", "template \"" + key.source() + "\" gave an empty key");
    return s;
  }
  if (value->is_number()) return core::DumpJson(*value);
  return Status::InvalidArgument("key", "template \"" + key.source() + "\" gave " +
                                            core::JsonTypeName(*value) + ", not a string");
}

Status ApplyEvent(const ProjectionDefinition::Handler& handler, const Json& event,
                  const std::string& key, int64_t position, std::optional<Json>& doc) {
  if (handler.remove) {
    doc.reset();
    return Status::Ok();
  }
  if (!doc && !Creates(handler)) return Status::Ok();  // only unsets, nothing to unset

  // Evaluate everything first, so a failing template leaves the document untouched.
  Json next = doc ? *doc : Json::object();
  for (const auto& [field, t] : handler.set) {
    ASSIGN_OR_RETURN(Json value, Evaluate(t, event, "set." + field));
    next[field] = std::move(value);
  }
  for (const std::string& field : handler.unset) next.erase(field);
  for (const auto& [field, t] : handler.inc) {
    ASSIGN_OR_RETURN(Json delta, Evaluate(t, event, "inc." + field));
    RETURN_IF_ERROR(Inc(next, field, delta, "inc." + field));
  }
  for (const auto& [field, t] : handler.min) {
    ASSIGN_OR_RETURN(Json value, Evaluate(t, event, "min." + field));
    RETURN_IF_ERROR(Extreme(next, field, value, true, "min." + field));
  }
  for (const auto& [field, t] : handler.max) {
    ASSIGN_OR_RETURN(Json value, Evaluate(t, event, "max." + field));
    RETURN_IF_ERROR(Extreme(next, field, value, false, "max." + field));
  }
  for (const auto& [field, push] : handler.push) {
    ASSIGN_OR_RETURN(Json value, Evaluate(push.value, event, "push." + field));
    RETURN_IF_ERROR(Push(next, field, value, push.limit, "push." + field));
  }
  int64_t version = 1;
  if (auto it = next.find("_version"); it != next.end() && it->is_number_integer())
    version = it->get<int64_t>() + 1;
  next["_key"] = key;
  next["_version"] = version;
  next["_position"] = position;
  doc = std::move(next);
  return Status::Ok();
}

}  // namespace rivulet::projections
