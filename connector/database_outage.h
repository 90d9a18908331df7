#pragma once
// How long PostgreSQL has been unusable for writing, and when to try it again. One outage
// runs from the first transient failure until a batch commits again: a reconnect that
// succeeds followed by a write that fails again (a read-only database that still accepts
// connections, a missing partition, a table locked past lock_timeout) is the same outage,
// so neither the backoff nor retry.give_up_after_ms starts over on each attempt.

#include <chrono>
#include <cstdint>
#include <optional>

#include "connector/backoff.h"
#include "connector/clock.h"
#include "connector/config.h"

namespace kps {

class DatabaseOutage {
 public:
  /// `clock` must outlive the object. `quiet_period`: see note_nothing_to_write().
  DatabaseOutage(const Clock& clock, const RetryConfig& retry, std::chrono::milliseconds quiet_period,
                 uint64_t seed);

  /// A statement failed with a transient error, or the database refused a connection.
  /// Starts the outage unless one is going on.
  void note_failure();
  /// A batch committed: the outage, if any, is over and the next one backs off from the
  /// first step again.
  void note_committed();
  /// Called on every round of the loop while not waiting for a reconnect. An idle stream
  /// commits nothing to prove the database works again: once the daemon has had nothing
  /// to write for `quiet_period` without a failure, the outage is over too. (A batch that
  /// is re-fetched after a reconnect is written within max_latency, well inside it.)
  void note_nothing_to_write(bool nothing_to_write);

  bool ongoing() const { return began_at_.has_value(); }
  /// Since the first failure of the outage going on; zero when there is none.
  std::chrono::milliseconds elapsed() const;
  /// retry.give_up_after_ms has passed since the outage began (never when it is 0).
  bool exhausted() const;
  /// How long to wait before the next attempt: grows over the whole outage, capped by
  /// retry.max_backoff_ms.
  std::chrono::milliseconds next_delay() { return backoff_.next_delay(); }
  /// Attempts delayed since the backoff last started over.
  int attempts() const { return backoff_.attempts(); }

 private:
  void end();

  const Clock& clock_;
  const std::chrono::milliseconds give_up_after_;
  const std::chrono::milliseconds quiet_period_;
  Backoff backoff_;
  std::optional<Clock::time_point> began_at_;
  std::optional<Clock::time_point> quiet_since_;
};

}  // namespace kps
