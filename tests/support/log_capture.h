#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/log.h"

namespace rivulet::testing {

// Captures the process's log lines (JSON, from `level` up) for its lifetime, then puts
// the previous log configuration back. The lines live in state shared with the sink,
// so a thread that still logs after the capture ends writes into memory that exists.
class LogCapture {
 public:
  explicit LogCapture(core::LogLevel level = core::LogLevel::kDebug);

  std::vector<std::string> Lines() const;
  // Each line, parsed.
  std::vector<core::Json> Records() const;
  // Records of `component` (all when empty) whose message contains `text`.
  std::vector<core::Json> Matching(std::string_view component, std::string_view text) const;
  // Every line, for INFO on failure.
  std::string Text() const;

 private:
  struct State {
    mutable std::mutex mu;
    std::vector<std::string> lines;  // GUARDED_BY(mu)
  };
  std::shared_ptr<State> state_;
  core::ScopedLogConfig scoped_;  // after state_: its sink holds state_
};

}  // namespace rivulet::testing
