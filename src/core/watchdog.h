#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

namespace rivulet::core {

// Runs a callback at a deadline unless it is disarmed first: one thread for every
// deadline of its owner (a saga engine's step calls, a webhook destination's
// deliveries), started with the first Arm. Used to stop an HTTP exchange that is still
// going at its deadline (httplib's timeouts bound each read, not the exchange).
//
// Disarm returns only when the callback is not running and never will, so the callback
// may use what the caller owns until then. Thread-safe.
class Watchdog {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  Watchdog() = default;
  ~Watchdog();  // joins the thread; callbacks still armed never run
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  uint64_t Arm(TimePoint at, std::function<void()> fire);
  // True if the callback ran (or was running and has finished).
  bool Disarm(uint64_t id);

  // Arms on construction, disarms on destruction.
  class Scope {
   public:
    Scope(Watchdog& watchdog, TimePoint at, std::function<void()> fire)
        : watchdog_(watchdog), id_(watchdog.Arm(at, std::move(fire))) {}
    ~Scope() { watchdog_.Disarm(id_); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Watchdog& watchdog_;
    uint64_t id_;
  };

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::pair<TimePoint, uint64_t>, std::function<void()>> armed_;  // GUARDED_BY(mu_)
  std::map<uint64_t, TimePoint> deadline_of_;                              // GUARDED_BY(mu_)
  uint64_t next_id_ = 1;                                                   // GUARDED_BY(mu_)
  uint64_t firing_ = 0;                                                    // GUARDED_BY(mu_)
  std::set<uint64_t> fired_;                                               // GUARDED_BY(mu_)
  bool stopping_ = false;                                                  // GUARDED_BY(mu_)
  std::thread thread_;                                                     // started by Arm
};

}  // namespace rivulet::core
