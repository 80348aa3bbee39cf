#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace rivulet::cli {

// Progress of a long run on stderr (SPEC 6): a bar with done, rate and time left when
// stderr is a terminal, redrawn at most 10 times a second; otherwise one line every
// 5 seconds. Finish prints the total. Not thread-safe.
class Progress {
 public:
  // `total` may be 0 when unknown (no bar, no time left).
  Progress(std::string what, int64_t total);
  void Update(int64_t done);
  void Finish(int64_t done);

 private:
  void Draw(int64_t done, bool final);

  std::string what_;
  int64_t total_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace rivulet::cli
