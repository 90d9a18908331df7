#include "connector/bad_record_policy.h"

#include <string>

namespace kps {

BadRecordPolicy::BadRecordPolicy(const ErrorsConfig& errors) : errors_(errors), breaker_(errors.circuit_breaker) {}

Status BadRecordPolicy::note_bad(const BadRecord& bad) {
  if (tolerates()) {
    // Reported once its dead letter is acknowledged: a rewind before that sees it again.
    unacknowledged_.push_back(bad);
  } else {
    report(bad);
  }
  if (!tolerates() || !breaker_.note(true)) return Status::ok();
  const CircuitBreakerConfig& limits = errors_.circuit_breaker;
  return Status::error(ErrorKind::Fatal,
      std::to_string(breaker_.bad_in_window()) + " of the last " + std::to_string(breaker_.window()) +
      " records were bad, more than errors.circuit_breaker.max_bad_share=" + std::to_string(limits.max_bad_share) +
      "; stopping instead of sending them all to the dead letter topic (a schema change upstream?). Last: " +
      bad.describe());
}

Status BadRecordPolicy::flush_letters() {
  if (Status flushed = dead_letters_->flush(); !flushed) return flushed;
  for (const BadRecord& bad : unacknowledged_) report(bad);
  unacknowledged_.clear();
  return Status::ok();
}

void BadRecordPolicy::reset() {
  breaker_.reset();
  unacknowledged_.clear();
}

void BadRecordPolicy::report(const BadRecord& bad) {
  if (listener_) listener_(bad);
}

}  // namespace kps
