#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace rivulet::core {

using TimePoint = std::chrono::system_clock::time_point;

// Where wall-clock time comes from. Components take a Clock* so that retry backoff,
// timeouts and schedules are tested by moving a ManualClock, not by sleeping.
// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;

  // Milliseconds since the Unix epoch, the resolution events are recorded with.
  int64_t NowMillis() const;
};

// The real clock. Default() is a process-wide instance that is never destroyed.
class SystemClock final : public Clock {
 public:
  static SystemClock* Default();
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
};

// A clock that only moves when told to.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint(std::chrono::seconds(1'700'000'000)));

  TimePoint Now() const override;
  void SetTime(TimePoint t);
  void Advance(std::chrono::milliseconds d);

 private:
  mutable std::mutex mu_;
  TimePoint now_;  // GUARDED_BY(mu_)
};

}  // namespace rivulet::core
