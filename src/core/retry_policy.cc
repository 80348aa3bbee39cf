#include "core/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace rivulet::core {

std::chrono::milliseconds RetryPolicy::Delay(int attempt, uint64_t random) const {
  double delay = static_cast<double>(initial_interval.count()) *
                 std::pow(backoff, static_cast<double>(std::max(0, attempt - 1)));
  int64_t capped = static_cast<int64_t>(std::min(delay, static_cast<double>(max_interval.count())));
  if (jitter == Jitter::kFull)
    capped = static_cast<int64_t>(random % static_cast<uint64_t>(capped + 1));
  return std::chrono::milliseconds(capped);
}

std::optional<RetryPolicy> ReadRetryPolicy(JsonReader& reader, const Json& value,
                                           const std::string& path, RetryPolicy policy) {
  const size_t errors_before = reader.errors().size();
  const Json* object = reader.Object(
      value, path, {"max_attempts", "initial_interval", "backoff", "max_interval", "jitter"});
  if (object == nullptr) return std::nullopt;
  if (const Json* v = reader.Member(*object, path, "max_attempts")) {
    if (auto n = reader.Integer(*v, JsonReader::Join(path, "max_attempts"), 1, 1000))
      policy.max_attempts = static_cast<int>(*n);
  }
  if (const Json* v = reader.Member(*object, path, "initial_interval")) {
    if (auto d = reader.Duration(*v, JsonReader::Join(path, "initial_interval")))
      policy.initial_interval = *d;
  }
  if (const Json* v = reader.Member(*object, path, "backoff")) {
    if (auto b = reader.Number(*v, JsonReader::Join(path, "backoff"), 1.0, 100.0))
      policy.backoff = *b;
  }
  if (const Json* v = reader.Member(*object, path, "max_interval")) {
    if (auto d = reader.Duration(*v, JsonReader::Join(path, "max_interval")))
      policy.max_interval = *d;
  }
  if (const Json* v = reader.Member(*object, path, "jitter")) {
    if (auto j = reader.Enum(*v, JsonReader::Join(path, "jitter"), {"full", "none"}))
      policy.jitter = *j == "full" ? RetryPolicy::Jitter::kFull : RetryPolicy::Jitter::kNone;
  }
  if (policy.initial_interval.count() <= 0)
    reader.AddError(JsonReader::Join(path, "initial_interval"), "must be more than 0ms");
  if (policy.max_interval < policy.initial_interval) {
    reader.AddError(JsonReader::Join(path, "max_interval"),
                    "must not be shorter than initial_interval");
  }
  if (reader.errors().size() != errors_before) return std::nullopt;
  return policy;
}

}  // namespace rivulet::core
