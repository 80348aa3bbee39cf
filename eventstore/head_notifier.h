#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace rivulet::eventstore {

// The highest committed log position known to this process, and the waiters that want
// to hear when it moves. Backends Publish after each commit; change streams wait here
// instead of polling. Thread-safe.
class HeadNotifier {
 public:
  explicit HeadNotifier(int64_t head = 0) : head_(head) {}

  // Raises the head (never lowers it) and wakes every waiter if it moved.
  void Publish(int64_t position);
  int64_t head() const;

  // Blocks until head > after (true), or the deadline, Close() or WakeAll() (false).
  bool WaitBeyond(int64_t after, std::chrono::steady_clock::time_point deadline);

  // Wakes all current waiters; they return false unless the head moved.
  void WakeAll();
  // Wakes all waiters and makes later waits return at once.
  void Close();

  int64_t waiters() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t head_;             // GUARDED_BY(mu_)
  int64_t waiters_ = 0;      // GUARDED_BY(mu_)
  uint64_t wake_epoch_ = 0;  // GUARDED_BY(mu_); bumped by WakeAll
  bool closed_ = false;      // GUARDED_BY(mu_)
};

}  // namespace rivulet::eventstore
