#include "core/random.h"

#include <sys/random.h>

#include <chrono>
#include <random>

namespace rivulet::core {

namespace {
uint64_t SeedFromKernel() {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof(seed), 0) != static_cast<ssize_t>(sizeof(seed))) {
    seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  return seed;
}
}  // namespace

uint64_t RandomU64() {
  thread_local std::mt19937_64 engine(SeedFromKernel());
  return engine();
}

uint64_t RandomBelow(uint64_t bound) {
  // Lemire's multiply-shift; the tiny bias is irrelevant for jitter and sampling.
  return static_cast<uint64_t>((static_cast<unsigned __int128>(RandomU64()) * bound) >> 64);
}

}  // namespace rivulet::core
