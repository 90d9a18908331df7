#pragma once
// Time comes in through this interface so that batching, backoff and every deadline in the
// Kafka, dead letter and HTTP adapters are tested by moving a manual clock, never by sleeping.

#include <chrono>
#include <cstdint>
#include <thread>

namespace kps {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
  /// Waits `duration` on this clock: the steady clock blocks the thread, a test's manual
  /// clock moves itself forward instead. Only for waits that have no blocking call of their
  /// own to carry the timeout (a poll() does).
  virtual void sleep_for(std::chrono::milliseconds duration) const = 0;
  /// Milliseconds since the Unix epoch, for what is stamped with wall time (dedup
  /// identities' TTL, commit times). A test's clock overrides it to move wall time too.
  virtual int64_t unix_millis() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t unix_seconds() const { return unix_millis() / 1000; }
};

class SteadyClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
  void sleep_for(std::chrono::milliseconds duration) const override { std::this_thread::sleep_for(duration); }
};

/// The process's steady clock, for adapters constructed without one of their own.
inline const Clock& steady_clock() {
  static const SteadyClock clock;
  return clock;
}

}  // namespace kps
