#pragma once
// Whether the write in flight is stuck, and when to say so again. A write blocked on another
// session's lock keeps the loop alive (the writer thread waits, the loop polls), so nothing
// else would show it: the connector turns this verdict into a gauge, a warning and /readyz.

#include <chrono>
#include <optional>

#include "connector/clock.h"

namespace kps {

class StuckWriteWatch {
 public:
  /// A write in flight for at least `stuck_after` is stuck; while it stays stuck a
  /// warning is due every `warn_every`, the first at once.
  StuckWriteWatch(std::chrono::milliseconds stuck_after, std::chrono::milliseconds warn_every);

  struct Verdict {
    double age_seconds = 0;  // of the write in flight; 0 when there is none
    bool stuck = false;
    bool warn = false;  // log it now
  };
  /// `started_at`: when the write in flight started, nullopt when there is none.
  Verdict observe(std::optional<Clock::time_point> started_at, Clock::time_point now);

 private:
  const std::chrono::milliseconds stuck_after_;
  const std::chrono::milliseconds warn_every_;
  std::optional<Clock::time_point> warned_for_;  // the start of the write last warned about
  Clock::time_point next_warning_at_;
};

}  // namespace kps
