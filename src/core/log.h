#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace rivulet::core {

// The process's log: one line per record, with a UTC timestamp (RFC 3339, ms), a
// level, the component that speaks ("source/shop", "destination/hooks", "saga/order",
// "projection/orders", "server", "store"), a message and optional fields. Library
// modules log through it and never write to standard error themselves; `rivulet serve` sets
// the level and the format (--log-level, --log-format) once at start.
//
// Formats:
//   text  2026-11-21T09:05:03.042Z WARN  source/shop: cannot connect to ... code=unavailable
//         (control characters in the message and in values are escaped: one line always)
//   json  {"ts":"2026-11-21T09:05:03.042Z","level":"warn","component":"source/shop",
//          "msg":"cannot connect to ...","code":"unavailable"}
//         (one object per line; invalid UTF-8 becomes U+FFFD; a field named like one of
//          the four keys is written with a leading '_')
//
// Thread-safe. A record below the level returns after one relaxed atomic load, before
// anything is formatted (a caller that builds an expensive message checks Enabled
// first). Each line goes to the sink whole, in one call; the default sink writes it to
// standard error (fd 2) with one write(2).
enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat { kText, kJson };

const char* LogLevelName(LogLevel level);  // "debug", "info", "warn", "error"
std::optional<LogLevel> ParseLogLevel(std::string_view text);
std::optional<LogFormat> ParseLogFormat(std::string_view text);  // "text", "json"

// One structured field of a record. Holds views: it lives only as long as the call it
// is written in.
class LogField {
 public:
  LogField(std::string_view key, std::string_view value)
      : key_(key), kind_(Kind::kString), text_(value) {}
  LogField(std::string_view key, const char* value)
      : LogField(key, std::string_view(value != nullptr ? value : "")) {}
  LogField(std::string_view key, const std::string& value)
      : LogField(key, std::string_view(value)) {}
  LogField(std::string_view key, bool value) : key_(key), kind_(Kind::kBool), int_(value) {}
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  LogField(std::string_view key, T value)
      : key_(key), kind_(Kind::kInt), int_(static_cast<int64_t>(value)) {}
  LogField(std::string_view key, double value) : key_(key), kind_(Kind::kDouble), double_(value) {}

  // Appends the value as JSON, or as text for the text format.
  void AppendJson(std::string& out) const;
  void AppendText(std::string& out) const;
  std::string_view key() const { return key_; }

 private:
  enum class Kind { kString, kInt, kDouble, kBool };
  std::string_view key_;
  Kind kind_;
  std::string_view text_;
  int64_t int_ = 0;
  double double_ = 0;
};

using LogFields = std::initializer_list<LogField>;

// Receives each formatted line (without its newline). Called from any thread, possibly
// at once from several: it must be thread-safe.
using LogSink = std::function<void(LogLevel level, std::string_view line)>;

struct LogConfig {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
  LogSink sink;  // empty: standard error
};

// Replaces the process's log configuration. A record being written while it changes
// goes to the old sink or the new one, whole; an old sink is released once no record
// uses it any more.
void ConfigureLog(LogConfig config);
LogConfig CurrentLogConfig();

// Installs `config` for its lifetime, then puts back what was there (for tests).
class ScopedLogConfig {
 public:
  explicit ScopedLogConfig(LogConfig config);
  ~ScopedLogConfig();
  ScopedLogConfig(const ScopedLogConfig&) = delete;
  ScopedLogConfig& operator=(const ScopedLogConfig&) = delete;

 private:
  LogConfig previous_;
};

namespace log_internal {
extern std::atomic<int> min_level;
}  // namespace log_internal

inline bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= log_internal::min_level.load(std::memory_order_relaxed);
}

// Formats one record (without the newline); what the sink receives.
std::string FormatLogLine(LogFormat format, int64_t unix_millis, LogLevel level,
                          std::string_view component, std::string_view message, LogFields fields);

// Writes one record, if its level is enabled.
void Log(LogLevel level, std::string_view component, std::string_view message,
         LogFields fields = {});

// A component's voice: `Logger log("source/shop"); log.Warn("...", {{"code", "x"}});`.
// Cheap to copy; holds its name.
class Logger {
 public:
  explicit Logger(std::string component) : component_(std::move(component)) {}

  const std::string& component() const { return component_; }
  bool Enabled(LogLevel level) const { return LogEnabled(level); }

  void Debug(std::string_view message, LogFields fields = {}) const {
    Write(LogLevel::kDebug, message, fields);
  }
  void Info(std::string_view message, LogFields fields = {}) const {
    Write(LogLevel::kInfo, message, fields);
  }
  void Warn(std::string_view message, LogFields fields = {}) const {
    Write(LogLevel::kWarn, message, fields);
  }
  void Error(std::string_view message, LogFields fields = {}) const {
    Write(LogLevel::kError, message, fields);
  }
  void Write(LogLevel level, std::string_view message, LogFields fields = {}) const {
    if (LogEnabled(level)) Log(level, component_, message, fields);
  }

 private:
  std::string component_;
};

}  // namespace rivulet::core
