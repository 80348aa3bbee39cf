#include "core/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <limits>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "core/json.h"
#include "tests/support/log_capture.h"
#include "tests/support/temp_dir.h"

using rivulet::core::FormatLogLine;
using rivulet::core::Json;
using rivulet::core::LogFormat;
using rivulet::core::Logger;
using rivulet::core::LogLevel;
using rivulet::testing::LogCapture;

namespace {

constexpr int64_t kNoon = 1'795'780'800'042;  // 2026-11-27T12:00:00.042Z

}  // namespace

TEST_CASE("log: records below the level are dropped, the rest keep their level", "[log]") {
  LogCapture capture(LogLevel::kWarn);
  Logger log("server");
  log.Debug("d");
  log.Info("i");
  log.Warn("w");
  log.Error("e");
  CHECK_FALSE(log.Enabled(LogLevel::kInfo));
  CHECK(log.Enabled(LogLevel::kError));
  auto records = capture.Records();
  REQUIRE(records.size() == 2);
  CHECK(records[0]["level"] == "warn");
  CHECK(records[0]["msg"] == "w");
  CHECK(records[1]["level"] == "error");
  CHECK(records[1]["component"] == "server");

  CHECK(rivulet::core::ParseLogLevel("debug") == LogLevel::kDebug);
  CHECK(rivulet::core::ParseLogLevel("warn") == LogLevel::kWarn);
  CHECK_FALSE(rivulet::core::ParseLogLevel("WARN"));
  CHECK_FALSE(rivulet::core::ParseLogLevel("verbose"));
  CHECK(rivulet::core::ParseLogFormat("json") == LogFormat::kJson);
  CHECK_FALSE(rivulet::core::ParseLogFormat("logfmt"));
}

TEST_CASE("log: the text format is one readable line with escaped fields", "[log]") {
  CHECK(FormatLogLine(LogFormat::kText, kNoon, LogLevel::kWarn, "source/shop", "cannot connect",
                      {{"code", "unavailable"}, {"retry_ms", 500}}) ==
        "2026-11-27T12:00:00.042Z WARN  source/shop: cannot connect code=unavailable "
        "retry_ms=500");
  CHECK(FormatLogLine(
            LogFormat::kText, kNoon, LogLevel::kInfo, "server", "two\nlines\tand\x01",
            {{"why", "has \"quotes\" and spaces"}, {"empty", ""}, {"ok", true}, {"ratio", 0.5}}) ==
        "2026-11-27T12:00:00.042Z INFO  server: two\\nlines\\tand\\x01 "
        "why=\"has \\\"quotes\\\" and spaces\" empty=\"\" ok=true ratio=0.5");
}

TEST_CASE("log: the json format is one object per line with ts, level, component, msg", "[log]") {
  const std::string line =
      FormatLogLine(LogFormat::kJson, kNoon, LogLevel::kError, "destination/hooks",
                    "say \"hi\"\nnext line \xff\xfe bad bytes",
                    {{"code", "failed_precondition"},
                     {"attempts", int64_t{3}},
                     {"msg", "a reserved key"},
                     {"nan", std::numeric_limits<double>::quiet_NaN()},
                     {"control", std::string("a\0b", 3)}});
  CHECK(line.find('\n') == std::string::npos);
  Json parsed = Json::parse(line, nullptr, false);
  REQUIRE(parsed.is_object());
  CHECK(parsed["ts"] == "2026-11-27T12:00:00.042Z");
  CHECK(parsed["level"] == "error");
  CHECK(parsed["component"] == "destination/hooks");
  CHECK(parsed["msg"] == "say \"hi\"\nnext line \xef\xbf\xbd\xef\xbf\xbd bad bytes");
  CHECK(parsed["code"] == "failed_precondition");
  CHECK(parsed["attempts"] == 3);
  CHECK(parsed["_msg"] == "a reserved key");
  CHECK(parsed["nan"].is_null());
  CHECK(parsed["control"] == std::string("a\0b", 3));
}

TEST_CASE("log: concurrent writers get one whole line per record on stderr", "[log]") {
  rivulet::testing::TempDir dir;
  const std::string path = dir.File("stderr");
  const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(file >= 0);
  const int saved = ::dup(STDERR_FILENO);
  REQUIRE(saved >= 0);
  constexpr int kThreads = 8;
  constexpr int kRecords = 300;
  {
    rivulet::core::ScopedLogConfig json({LogLevel::kInfo, LogFormat::kJson, {}});
    ::dup2(file, STDERR_FILENO);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([t] {
        Logger log("writer/" + std::to_string(t));
        // Longer than PIPE_BUF, so a line split across writes would show.
        const std::string filler(6000, static_cast<char>('a' + t));
        for (int i = 0; i < kRecords; ++i) log.Info(filler, {{"i", i}});
      });
    }
    for (auto& thread : threads) thread.join();
    ::dup2(saved, STDERR_FILENO);
  }
  ::close(saved);
  ::close(file);
  std::istringstream in(rivulet::testing::ReadFile(path));
  std::string line;
  std::set<std::pair<std::string, int64_t>> seen;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    Json parsed = Json::parse(line, nullptr, false);
    REQUIRE(parsed.is_object());
    const std::string component = parsed["component"];
    const char letter = static_cast<char>('a' + std::stoi(component.substr(7)));
    REQUIRE(parsed["msg"] == std::string(6000, letter));
    seen.emplace(component, parsed["i"].get<int64_t>());
  }
  CHECK(lines == kThreads * kRecords);
  CHECK(seen.size() == static_cast<size_t>(kThreads * kRecords));
}

TEST_CASE("log: a sink replaced while a thread writes is never used after it is gone", "[log]") {
  LogCapture outer(LogLevel::kInfo);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    Logger log("writer");
    for (int i = 0; i < 2000; ++i) log.Info("record", {{"i", i}});
    done.store(true);
  });
  int swaps = 0;
  while (!done.load()) {
    LogCapture inner(LogLevel::kInfo);  // installs, then puts `outer` back
    ++swaps;
  }
  writer.join();
  CHECK(swaps > 0);
  for (const Json& r : outer.Records()) CHECK(r.is_object());
}

TEST_CASE("log: no library module writes to stderr or stdout by itself", "[log]") {
  // Everything but the CLI (whose messages for people and JSON lines are its output)
  // and the logger's own sink speaks through the log.
  namespace fs = std::filesystem;
  const fs::path root = RIVULET_SOURCE_DIR;
  const std::regex forbidden(
      R"((\bstderr\b|\bstdout\b|\bstd::cerr\b|\bstd::clog\b|\bstd::cout\b|\bperror\s*\(|)"
      R"(\bSTDERR_FILENO\b|\bSTDOUT_FILENO\b|\b(printf|fprintf|vprintf|vfprintf|dprintf|puts|)"
      R"(fputs|putchar)\s*\())");
  std::vector<std::string> found;
  int scanned = 0;
  for (const char* dir : {"src", "eventstore", "projections", "sagas", "outbox"}) {
    for (const auto& entry : fs::recursive_directory_iterator(root / dir)) {
      if (!entry.is_regular_file()) continue;
      const fs::path path = entry.path();
      const std::string relative = fs::relative(path, root).generic_string();
      if (path.extension() != ".cc" && path.extension() != ".h") continue;
      if (relative.rfind("src/cli/", 0) == 0 || relative == "src/core/log.cc") continue;
      ++scanned;
      std::istringstream lines(rivulet::testing::ReadFile(path.string()));
      int number = 0;
      for (std::string line; std::getline(lines, line);) {
        ++number;
        if (std::regex_search(line, forbidden))
          found.push_back(relative + ":" + std::to_string(number) + ": " + line);
      }
    }
  }
  CHECK(scanned > 100);
  std::string report;
  for (const std::string& f : found) report += f + "\n";
  INFO("write through core/log.h instead:\n" << report);
  CHECK(found.empty());
}
