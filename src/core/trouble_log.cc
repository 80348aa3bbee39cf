#include "core/trouble_log.h"

#include <chrono>

namespace rivulet::core {

namespace {

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void TroubleLog::Report(std::string_view message, LogFields fields) {
  if (active() && message == said_) {
    ++repeats_;
    log_.Debug(message, fields);
    return;
  }
  if (!active()) {
    since_ms_ = SteadyMillis();
    repeats_ = 0;
  }
  said_ = message.empty() ? "(no message)" : std::string(message);
  log_.Warn(message, fields);
}

void TroubleLog::Repeat(std::string_view message, LogFields fields) {
  if (!active()) return Report(message, fields);
  ++repeats_;
  log_.Debug(message, fields);
}

void TroubleLog::Resolved(std::string_view message) {
  if (!active()) return;
  log_.Info(message, {{"after_ms", SteadyMillis() - since_ms_}, {"retries", repeats_}});
  said_.clear();
  repeats_ = 0;
}

}  // namespace rivulet::core
