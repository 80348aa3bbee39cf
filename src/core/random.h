#pragma once

#include <cstdint>

namespace rivulet::core {

// A fast per-thread generator seeded from the kernel (getrandom). Not for secrets.
uint64_t RandomU64();

// Uniform in [0, bound), bound > 0.
uint64_t RandomBelow(uint64_t bound);

}  // namespace rivulet::core
