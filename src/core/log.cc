#include "core/log.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>

#include "core/json.h"
#include "core/time_format.h"
#include "core/utf8.h"

namespace rivulet::core {

namespace log_internal {
std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};
}  // namespace log_internal

namespace {

struct Settings {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
  LogSink sink;
};

struct Globals {
  std::mutex mu;
  // Replaced whole, never changed in place: a record holds its own reference while it
  // formats and writes, so a sink lives until its last record is written.
  std::shared_ptr<const Settings> settings =  // GUARDED_BY(mu)
      std::make_shared<const Settings>();
  std::mutex stderr_mu;  // one line at a time, also past PIPE_BUF
};

Globals& G() {
  static Globals* globals = new Globals();  // never destroyed: threads may log at exit
  return *globals;
}

std::shared_ptr<const Settings> CurrentSettings() {
  Globals& g = G();
  std::lock_guard<std::mutex> lock(g.mu);
  return g.settings;
}

void WriteStderr(std::string_view line) {
  std::string buffer;
  buffer.reserve(line.size() + 1);
  buffer.append(line);
  buffer.push_back('\n');
  std::lock_guard<std::mutex> lock(G().stderr_mu);
  size_t done = 0;
  while (done < buffer.size()) {
    const ssize_t n = ::write(STDERR_FILENO, buffer.data() + done, buffer.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to say it
    done += static_cast<size_t>(n);
  }
}

// The length of the well-formed UTF-8 sequence at the start of `s`, or 0.
size_t Utf8SequenceLength(std::string_view s) {
  const auto c = static_cast<unsigned char>(s[0]);
  size_t len = 0;
  if ((c & 0xe0) == 0xc0) {
    len = 2;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4;
  } else {
    return 0;
  }
  if (len > s.size()) return 0;
  return IsValidUtf8(s.substr(0, len)) ? len : 0;
}

// As a JSON string; bytes that are not UTF-8 become U+FFFD, so the line stays JSON.
void AppendJsonText(std::string& out, std::string_view text) {
  if (IsValidUtf8(text)) {
    AppendJsonString(out, text);
    return;
  }
  std::string clean;
  clean.reserve(text.size() + 8);
  for (size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      clean.push_back(text[i++]);
      continue;
    }
    const size_t len = Utf8SequenceLength(text.substr(i));
    if (len == 0) {
      clean.append("\xef\xbf\xbd");
      ++i;
    } else {
      clean.append(text.substr(i, len));
      i += len;
    }
  }
  AppendJsonString(out, clean);
}

// Control characters escaped, so a record is one line whatever it carries.
void AppendTextEscaped(std::string& out, std::string_view text, bool quote) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out.append("\\n");
    } else if (c == '\r') {
      out.append("\\r");
    } else if (c == '\t') {
      out.append("\\t");
    } else if (c < 0x20 || c == 0x7f) {
      out.append("\\x");
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else if (quote && (c == '"' || c == '\\')) {
      out.push_back('\\');
      out.push_back(ch);
    } else {
      out.push_back(ch);
    }
  }
}

bool NeedsQuotes(std::string_view value) {
  if (value.empty()) return true;
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f || c == '"' || c == '=' || c == '\\') return true;
  }
  return false;
}

void AppendDouble(std::string& out, double value, bool json) {
  if (!std::isfinite(value)) {
    out.append(json ? "null" : (std::isnan(value) ? "nan" : value > 0 ? "inf" : "-inf"));
    return;
  }
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (ec != std::errc()) {
    out.append(json ? "null" : "?");
    return;
  }
  out.append(buffer, static_cast<size_t>(end - buffer));
}

const char* TextLevel(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO ";
    case LogLevel::kWarn:
      return "WARN ";
    case LogLevel::kError:
      return "ERROR";
  }
  return "ERROR";
}

bool ReservedKey(std::string_view key) {
  return key == "ts" || key == "level" || key == "component" || key == "msg";
}

}  // namespace

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "error";
}

std::optional<LogLevel> ParseLogLevel(std::string_view text) {
  for (LogLevel level : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (text == LogLevelName(level)) return level;
  }
  return std::nullopt;
}

std::optional<LogFormat> ParseLogFormat(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return std::nullopt;
}

void LogField::AppendJson(std::string& out) const {
  switch (kind_) {
    case Kind::kString:
      AppendJsonText(out, text_);
      return;
    case Kind::kInt:
      out.append(std::to_string(int_));
      return;
    case Kind::kDouble:
      AppendDouble(out, double_, true);
      return;
    case Kind::kBool:
      out.append(int_ != 0 ? "true" : "false");
      return;
  }
}

void LogField::AppendText(std::string& out) const {
  switch (kind_) {
    case Kind::kString:
      if (NeedsQuotes(text_)) {
        out.push_back('"');
        AppendTextEscaped(out, text_, true);
        out.push_back('"');
      } else {
        out.append(text_);
      }
      return;
    case Kind::kInt:
      out.append(std::to_string(int_));
      return;
    case Kind::kDouble:
      AppendDouble(out, double_, false);
      return;
    case Kind::kBool:
      out.append(int_ != 0 ? "true" : "false");
      return;
  }
}

std::string FormatLogLine(LogFormat format, int64_t unix_millis, LogLevel level,
                          std::string_view component, std::string_view message, LogFields fields) {
  std::string out;
  out.reserve(64 + component.size() + message.size() + fields.size() * 24);
  if (format == LogFormat::kJson) {
    out.append("{\"ts\":\"");
    AppendRfc3339Millis(out, unix_millis);
    out.append("\",\"level\":\"");
    out.append(LogLevelName(level));
    out.append("\",\"component\":");
    AppendJsonText(out, component);
    out.append(",\"msg\":");
    AppendJsonText(out, message);
    for (const LogField& f : fields) {
      out.push_back(',');
      std::string key = ReservedKey(f.key()) ? "_" + std::string(f.key()) : std::string(f.key());
      AppendJsonText(out, key);
      out.push_back(':');
      f.AppendJson(out);
    }
    out.push_back('}');
    return out;
  }
  AppendRfc3339Millis(out, unix_millis);
  out.push_back(' ');
  out.append(TextLevel(level));
  out.push_back(' ');
  AppendTextEscaped(out, component, false);
  out.append(": ");
  AppendTextEscaped(out, message, false);
  for (const LogField& f : fields) {
    out.push_back(' ');
    AppendTextEscaped(out, f.key(), false);
    out.push_back('=');
    f.AppendText(out);
  }
  return out;
}

void Log(LogLevel level, std::string_view component, std::string_view message, LogFields fields) {
  if (!LogEnabled(level)) return;
  std::shared_ptr<const Settings> settings = CurrentSettings();
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::string line = FormatLogLine(settings->format, now, level, component, message, fields);
  if (settings->sink) {
    settings->sink(level, line);
  } else {
    WriteStderr(line);
  }
}

void ConfigureLog(LogConfig config) {
  auto settings = std::make_shared<Settings>();
  settings->level = config.level;
  settings->format = config.format;
  settings->sink = std::move(config.sink);
  Globals& g = G();
  std::lock_guard<std::mutex> lock(g.mu);
  g.settings = std::move(settings);
  log_internal::min_level.store(static_cast<int>(config.level), std::memory_order_relaxed);
}

LogConfig CurrentLogConfig() {
  std::shared_ptr<const Settings> settings = CurrentSettings();
  return LogConfig{settings->level, settings->format, settings->sink};
}

ScopedLogConfig::ScopedLogConfig(LogConfig config) : previous_(CurrentLogConfig()) {
  ConfigureLog(std::move(config));
}

ScopedLogConfig::~ScopedLogConfig() { ConfigureLog(std::move(previous_)); }

}  // namespace rivulet::core
