#pragma once
// Capped exponential backoff with jitter for retrying a dependency that went away.
// The RNG is seeded by the caller so a test sees the same delays every run.

#include <chrono>
#include <cstdint>
#include <random>

namespace kps {

class Backoff {
 public:
  /// Delays grow from `initial` doubling up to `max`; each is drawn uniformly from
  /// [half, full] of the current step, so instances that lost the same database do
  /// not come back in lockstep.
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed);

  std::chrono::milliseconds next_delay();
  void reset() { attempts_ = 0; }
  int attempts() const { return attempts_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::mt19937_64 random_;
  int attempts_ = 0;
};

}  // namespace kps
