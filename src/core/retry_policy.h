#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "core/json.h"
#include "core/json_reader.h"

namespace rivulet::core {

// How often and how soon a failed call (a saga step, an outbox delivery) is tried
// again: attempt n (1-based) that failed waits min(max_interval, initial_interval *
// backoff^(n-1)), with full jitter a uniformly random part of that.
struct RetryPolicy {
  enum class Jitter { kNone, kFull };
  int max_attempts = 3;
  std::chrono::milliseconds initial_interval{1000};
  double backoff = 2.0;
  std::chrono::milliseconds max_interval{30'000};
  Jitter jitter = Jitter::kFull;

  // The wait after failed attempt `attempt` (1-based); `random` is any 64-bit value
  // (RandomU64()), used only with full jitter.
  std::chrono::milliseconds Delay(int attempt, uint64_t random) const;
  bool AttemptsLeft(int attempts_made) const { return attempts_made < max_attempts; }
};

// Reads `{max_attempts, initial_interval, backoff, max_interval, jitter}` over
// `defaults`; errors go to `reader` with their key paths.
std::optional<RetryPolicy> ReadRetryPolicy(JsonReader& reader, const Json& value,
                                           const std::string& path, RetryPolicy defaults);

}  // namespace rivulet::core
