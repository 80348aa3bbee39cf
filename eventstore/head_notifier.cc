#include "eventstore/head_notifier.h"

namespace rivulet::eventstore {

void HeadNotifier::Publish(int64_t position) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (position <= head_) return;
    head_ = position;
  }
  cv_.notify_all();
}

int64_t HeadNotifier::head() const {
  std::lock_guard<std::mutex> lock(mu_);
  return head_;
}

bool HeadNotifier::WaitBeyond(int64_t after, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t epoch = wake_epoch_;
  ++waiters_;
  cv_.wait_until(lock, deadline, [&] { return head_ > after || closed_ || wake_epoch_ != epoch; });
  --waiters_;
  return head_ > after;
}

void HeadNotifier::WakeAll() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wake_epoch_;
  }
  cv_.notify_all();
}

void HeadNotifier::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

int64_t HeadNotifier::waiters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiters_;
}

}  // namespace rivulet::eventstore
