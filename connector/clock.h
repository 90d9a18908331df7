#pragma once
// Time comes in through this interface so that batching and backoff are tested by
// moving a manual clock, never by sleeping.

#include <chrono>

namespace kps {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace kps
