#include "core/watchdog.h"

namespace rivulet::core {

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    armed_.clear();
    deadline_of_.clear();
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t Watchdog::Arm(TimePoint at, std::function<void()> fire) {
  uint64_t id;
  bool earliest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_.joinable() && !stopping_) thread_ = std::thread([this] { Run(); });
    id = next_id_++;
    const auto added = armed_.emplace(std::make_pair(at, id), std::move(fire)).first;
    earliest = added == armed_.begin();  // after the emplace: begin() may be the new one
    deadline_of_.emplace(id, at);
  }
  // The thread sleeps until the earliest deadline; only a new earliest one shortens that
  // sleep. Deadlines mostly come in increasing order (now + the same timeout), so most
  // exchanges arm without waking it: on a busy machine each wake-up is a context switch
  // on the delivery path.
  if (earliest) changed_.notify_all();
  return id;
}

bool Watchdog::Disarm(uint64_t id) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return firing_ != id; });
  if (auto it = deadline_of_.find(id); it != deadline_of_.end()) {
    armed_.erase({it->second, id});
    deadline_of_.erase(it);
  }
  return fired_.erase(id) > 0;
}

void Watchdog::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (armed_.empty()) {
      changed_.wait(lock);
      continue;
    }
    auto first = armed_.begin();
    const TimePoint at = first->first.first;
    if (at > std::chrono::steady_clock::now()) {
      changed_.wait_until(lock, at);
      continue;
    }
    const uint64_t id = first->first.second;
    std::function<void()> fire = std::move(first->second);
    armed_.erase(first);
    deadline_of_.erase(id);
    firing_ = id;
    lock.unlock();
    fire();
    lock.lock();
    firing_ = 0;
    fired_.insert(id);
    changed_.notify_all();
  }
}

}  // namespace rivulet::core
