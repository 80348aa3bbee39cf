#include "tests/support/log_capture.h"

namespace rivulet::testing {

LogCapture::LogCapture(core::LogLevel level)
    : state_(std::make_shared<State>()), scoped_([&] {
        core::LogConfig config;
        config.level = level;
        config.format = core::LogFormat::kJson;
        config.sink = [state = state_](core::LogLevel, std::string_view line) {
          std::lock_guard<std::mutex> lock(state->mu);
          state->lines.emplace_back(line);
        };
        return config;
      }()) {}

std::vector<std::string> LogCapture::Lines() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->lines;
}

std::vector<core::Json> LogCapture::Records() const {
  std::vector<core::Json> out;
  for (const std::string& line : Lines()) out.push_back(core::Json::parse(line, nullptr, false));
  return out;
}

std::vector<core::Json> LogCapture::Matching(std::string_view component,
                                             std::string_view text) const {
  std::vector<core::Json> out;
  for (core::Json& r : Records()) {
    if (!r.is_object()) continue;
    if (!component.empty() && r.value("component", "") != component) continue;
    if (r.value("msg", "").find(text) == std::string::npos) continue;
    out.push_back(std::move(r));
  }
  return out;
}

std::string LogCapture::Text() const {
  std::string out;
  for (const std::string& line : Lines()) out += line + "\n";
  return out;
}

}  // namespace rivulet::testing
