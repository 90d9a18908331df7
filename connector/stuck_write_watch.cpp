#include "connector/stuck_write_watch.h"

namespace kps {

StuckWriteWatch::StuckWriteWatch(std::chrono::milliseconds stuck_after, std::chrono::milliseconds warn_every)
    : stuck_after_(stuck_after), warn_every_(warn_every) {}

StuckWriteWatch::Verdict StuckWriteWatch::observe(std::optional<Clock::time_point> started_at, Clock::time_point now) {
  Verdict verdict;
  if (!started_at) return verdict;
  verdict.age_seconds = std::chrono::duration<double>(now - *started_at).count();
  verdict.stuck = now - *started_at >= stuck_after_;
  if (!verdict.stuck) return verdict;
  // Another write (the retry after a lock timeout) that is stuck again is news at once.
  if (warned_for_ != started_at || now >= next_warning_at_) {
    verdict.warn = true;
    warned_for_ = started_at;
    next_warning_at_ = now + warn_every_;
  }
  return verdict;
}

}  // namespace kps
