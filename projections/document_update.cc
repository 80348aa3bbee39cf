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

// The value an operation sees for `field`: what earlier operations of this event
// produced, else what the event's unset/set made of it, else the stored field.
class Fields {
 public:
  Fields(const Json* doc, const ProjectionDefinition::Handler& handler)
      : doc_(doc), handler_(handler) {}

  std::vector<std::pair<const std::string*, Json>> sets;
  std::vector<std::pair<const std::string*, Json>> results;  // inc, min, max

  const Json* Current(const std::string& field) const {
    for (auto it = results.rbegin(); it != results.rend(); ++it) {
      if (*it->first == field) return &it->second;
    }
    for (const std::string& gone : handler_.unset) {
      if (gone == field) return nullptr;  // unset runs after set
    }
    for (const auto& [name, value] : sets) {
      if (*name == field) return &value;
    }
    if (doc_ == nullptr) return nullptr;
    auto it = doc_->find(field);
    return it == doc_->end() || it->is_null() ? nullptr : &*it;
  }

 private:
  const Json* doc_;
  const ProjectionDefinition::Handler& handler_;
};

Result<Json> Inc(const Json* current, const Json& delta, const std::string& field,
                 const std::string& where) {
  if (!delta.is_number()) {
    return Status::InvalidArgument(where, std::string("expected a number to add, got ") +
                                              core::JsonTypeName(delta) + " " +
                                              core::JsonForMessage(delta));
  }
  if (current != nullptr && !current->is_number()) {
    return Status::InvalidArgument(where, "the document's " + field + " is a " +
                                              core::JsonTypeName(*current) + ", not a number");
  }
  auto sum = Add(current == nullptr ? Json(0) : *current, delta);
  if (!sum.ok()) return sum.status().WithContext(where);
  return sum;
}

Result<Json> Extreme(const Json* current, const Json& value, bool keep_smaller,
                     const std::string& where) {
  if (current == nullptr) return value;
  bool comparable =
      (current->is_number() && value.is_number()) || (current->is_string() && value.is_string());
  if (!comparable) {
    return Status::InvalidArgument(where, std::string("cannot compare the document's ") +
                                              core::JsonTypeName(*current) + " with " +
                                              core::JsonTypeName(value));
  }
  bool replace = keep_smaller ? value < *current : *current < value;
  return replace ? value : *current;
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

  // Everything that can fail runs first, against the document as it is; only then is
  // the document changed, in place (copying it per event costs more than the rest).
  Fields fields(doc ? &*doc : nullptr, handler);
  fields.sets.reserve(handler.set.size());
  for (const auto& [field, t] : handler.set) {
    ASSIGN_OR_RETURN(Json value, Evaluate(t, event, "set." + field));
    fields.sets.emplace_back(&field, std::move(value));
  }
  for (const auto& [field, t] : handler.inc) {
    ASSIGN_OR_RETURN(Json delta, Evaluate(t, event, "inc." + field));
    ASSIGN_OR_RETURN(Json sum, Inc(fields.Current(field), delta, field, "inc." + field));
    fields.results.emplace_back(&field, std::move(sum));
  }
  for (const auto* extremes : {&handler.min, &handler.max}) {
    const bool keep_smaller = extremes == &handler.min;
    const char* op = keep_smaller ? "min." : "max.";
    for (const auto& [field, t] : *extremes) {
      ASSIGN_OR_RETURN(Json value, Evaluate(t, event, op + field));
      ASSIGN_OR_RETURN(Json kept, Extreme(fields.Current(field), value, keep_smaller, op + field));
      fields.results.emplace_back(&field, std::move(kept));
    }
  }
  std::vector<std::pair<const ProjectionDefinition::Push*, Json>> pushes;
  std::vector<const std::string*> push_fields;
  for (const auto& [field, push] : handler.push) {
    ASSIGN_OR_RETURN(Json value, Evaluate(push.value, event, "push." + field));
    const Json* current = fields.Current(field);
    if (current != nullptr && !current->is_array()) {
      return Status::InvalidArgument(
          "push." + field,
          "the document's " + field + " is a " + core::JsonTypeName(*current) + ", not a list");
    }
    pushes.emplace_back(&push, std::move(value));
    push_fields.push_back(&field);
  }

  Json& target = doc ? *doc : doc.emplace(Json::object());
  for (auto& [field, value] : fields.sets) target[*field] = std::move(value);
  for (const std::string& field : handler.unset) target.erase(field);
  for (auto& [field, value] : fields.results) target[*field] = std::move(value);
  for (size_t i = 0; i < pushes.size(); ++i) {
    Json& list = target[*push_fields[i]];
    if (!list.is_array()) list = Json::array();
    list.push_back(std::move(pushes[i].second));
    const auto& limit = pushes[i].first->limit;
    if (limit && static_cast<int64_t>(list.size()) > *limit) {
      list.erase(list.begin(), list.begin() + (static_cast<int64_t>(list.size()) - *limit));
    }
  }
  int64_t version = 1;
  if (auto it = target.find("_version"); it != target.end() && it->is_number_integer()) {
    version = it->get<int64_t>() + 1;
  }
  target["_key"] = key;
  target["_version"] = version;
  target["_position"] = position;
  return Status::Ok();
}

}  // namespace rivulet::projections
