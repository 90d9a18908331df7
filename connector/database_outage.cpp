#include "connector/database_outage.h"

namespace kps {

DatabaseOutage::DatabaseOutage(const Clock& clock, const RetryConfig& retry, std::chrono::milliseconds quiet_period,
                               uint64_t seed)
    : clock_(clock),
      give_up_after_(retry.give_up_after),
      quiet_period_(quiet_period),
      backoff_(retry.initial_backoff, retry.max_backoff, seed) {}

void DatabaseOutage::note_failure() {
  if (!began_at_) began_at_ = clock_.now();
  quiet_since_.reset();
}

void DatabaseOutage::note_committed() { end(); }

void DatabaseOutage::note_nothing_to_write(bool nothing_to_write) {
  if (!began_at_) return;
  if (!nothing_to_write) {
    quiet_since_.reset();
    return;
  }
  const auto now = clock_.now();
  if (!quiet_since_) quiet_since_ = now;
  if (now - *quiet_since_ >= quiet_period_) end();
}

std::chrono::milliseconds DatabaseOutage::elapsed() const {
  if (!began_at_) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - *began_at_);
}

bool DatabaseOutage::exhausted() const {
  return began_at_ && give_up_after_.count() > 0 && clock_.now() - *began_at_ >= give_up_after_;
}

void DatabaseOutage::end() {
  began_at_.reset();
  quiet_since_.reset();
  backoff_.reset();
}

}  // namespace kps
