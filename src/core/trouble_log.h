#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/log.h"

namespace rivulet::core {

// Says a recurring trouble once per change of state, not once per retry: a loop that
// meets the same error on every attempt (a source reconnecting, a destination that is
// down) reports it each time, and the log gets a warning when the trouble begins or
// its text changes, debug records while it repeats, and one info record when it is
// over, with how long it lasted and how many times it repeated.
//
// Not thread-safe: one per loop, used by that loop's thread.
class TroubleLog {
 public:
  explicit TroubleLog(std::string component) : log_(std::move(component)) {}

  const Logger& log() const { return log_; }
  bool active() const { return !said_.empty(); }
  int64_t repeats() const { return repeats_; }

  // The trouble happened (again): a warning when it begins or `message` differs from the
  // last one said, else a debug record.
  void Report(std::string_view message, LogFields fields = {});
  // The trouble happened again, whatever it says this time: a debug record. Begins it
  // (a warning) if none is active.
  void Repeat(std::string_view message, LogFields fields = {});
  // The trouble is over: one info record `message` with after_ms and retries, if one was
  // said; nothing otherwise.
  void Resolved(std::string_view message);

 private:
  Logger log_;
  std::string said_;  // the message last said; empty while there is no trouble
  int64_t since_ms_ = 0;
  int64_t repeats_ = 0;
};

}  // namespace rivulet::core
