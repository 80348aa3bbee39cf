#pragma once

#include <atomic>
#include <mutex>

#include "core/log.h"
#include "core/metrics.h"
#include "core/status.h"

namespace rivulet::eventstore::sqlite {

// Why the store refuses writes, once it must (leveldb's RecordBackgroundError): a
// commit whose outcome is unknown (FailedPrecondition), a database that cannot be
// written (Unavailable), or corruption seen by any connection (DataLoss). The first
// reason stays until the store is reopened, except that DataLoss replaces any other:
// corruption is the fact a person must act on. Each reason that takes hold is logged
// once, at error (component "store"). Thread-safe; `Get` is one atomic load while
// nothing is latched.
class ReadOnlyLatch {
 public:
  // `gauge`, if set, goes to 1 when the latch closes.
  explicit ReadOnlyLatch(core::Gauge* gauge = nullptr) : gauge_(gauge) {}

  void Set(const Status& reason) {
    if (reason.ok()) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (!reason_.ok() &&
        (reason_.code() == StatusCode::kDataLoss || reason.code() != StatusCode::kDataLoss)) {
      return;
    }
    reason_ = reason;
    set_.store(true, std::memory_order_release);
    if (gauge_ != nullptr) gauge_->Set(1);
    // Once per reason: the latch closes once, and corruption replaces a reason once.
    core::Log(core::LogLevel::kError, "store", reason.message(),
              {{"code", StatusCodeName(reason.code())}});
  }

  // Ok, or why writes are refused.
  Status Get() const {
    if (!set_.load(std::memory_order_acquire)) return Status::Ok();
    std::lock_guard<std::mutex> lock(mu_);
    return reason_;
  }

 private:
  core::Gauge* gauge_;
  std::atomic<bool> set_{false};
  mutable std::mutex mu_;
  Status reason_;  // GUARDED_BY(mu_)
};

}  // namespace rivulet::eventstore::sqlite
