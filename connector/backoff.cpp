#include "connector/backoff.h"

#include <algorithm>

namespace kps {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed)
    : initial_(std::max(std::chrono::milliseconds(1), initial)), max_(std::max(initial_, max)), random_(seed) {}

std::chrono::milliseconds Backoff::next_delay() {
  const int doublings = std::min(attempts_, 30);
  ++attempts_;
  const int64_t step = std::min<int64_t>(max_.count(), initial_.count() << doublings);
  std::uniform_int_distribution<int64_t> jitter(step / 2, step);
  return std::chrono::milliseconds(jitter(random_));
}

}  // namespace kps
