#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

namespace rivulet::cli {

namespace {
std::string Duration(double seconds) {
  int64_t s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  }
  return buf;
}
}  // namespace

Progress::Progress(std::string what, int64_t total)
    : what_(std::move(what)),
      total_(total),
      terminal_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void Progress::Update(int64_t done) {
  auto now = std::chrono::steady_clock::now();
  auto interval = terminal_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  if (now - last_draw_ < interval) return;
  last_draw_ = now;
  Draw(done, false);
}

void Progress::Finish(int64_t done) { Draw(done, true); }

void Progress::Draw(int64_t done, bool final) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
  std::string left;
  if (!final && total_ > 0 && rate > 0 && done < total_) {
    left = ", " + Duration(static_cast<double>(total_ - done) / rate) + " left";
  }
  char counts[96];
  if (total_ > 0) {
    std::snprintf(counts, sizeof(counts), "%lld/%lld events (%.1f%%)", static_cast<long long>(done),
                  static_cast<long long>(total_),
                  100.0 * static_cast<double>(done) / static_cast<double>(total_));
  } else {
    std::snprintf(counts, sizeof(counts), "%lld events", static_cast<long long>(done));
  }
  char line[256];
  std::snprintf(line, sizeof(line), "%s: %s, %.0f/s, %s%s", what_.c_str(), counts, rate,
                Duration(elapsed).c_str(), left.c_str());
  if (terminal_) {
    std::string bar;
    if (total_ > 0) {
      int filled = static_cast<int>(30.0 * static_cast<double>(done) / static_cast<double>(total_));
      bar = "[" + std::string(static_cast<size_t>(std::min(filled, 30)), '#') +
            std::string(static_cast<size_t>(30 - std::min(filled, 30)), '.') + "] ";
    }
    std::fprintf(stderr, "\r\033[K%s%s%s", bar.c_str(), line, final ? "\n" : "");
  } else {
    std::fprintf(stderr, "rivulet: %s\n", line);
  }
  std::fflush(stderr);
}

}  // namespace rivulet::cli
