#pragma once
// What happens to a bad record (one that fits no column, or one PostgreSQL refused for
// its data): with `errors.tolerance: none` the stream stops at it; with `all` it goes to the
// dead letter sink, and is reported only once the sink acknowledged it, because a rewind
// before that sees it again. The circuit breaker stops a stream of mostly bad records.
// The pipeline decides where a record stands; this class decides what its badness costs.

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "connector/bad_record.h"
#include "connector/config.h"
#include "connector/record.h"
#include "connector/status.h"

namespace kps {

class BadRecordPolicy {
 public:
  /// `errors` must outlive the policy.
  explicit BadRecordPolicy(const ErrorsConfig& errors);

  /// Where bad records go with `errors.tolerance: all`; must outlive the policy. Without
  /// one, every bad record stops the stream as with `tolerance: none`.
  void set_dead_letter_sink(DeadLetterSink* sink) { dead_letters_ = sink; }
  /// Called once for every bad record: the one stopped at, or a dead-lettered one once its
  /// letter is acknowledged.
  void set_listener(std::function<void(const BadRecord&)> listener) { listener_ = std::move(listener); }

  /// Dead-lettering is on: bad records are set aside, not stopped at.
  bool tolerates() const { return dead_letters_ != nullptr && errors_.tolerance == ErrorTolerance::All; }

  /// A good record, for the breaker's window.
  void note_good() {
    if (tolerates()) breaker_.note(false);
  }
  /// Counts a bad record in the circuit breaker and reports it (at once when stopping at
  /// it; once its letter is acknowledged otherwise). Not ok: the breaker tripped (Fatal).
  Status note_bad(const BadRecord& bad);
  /// Queues the letter of a record the consumer still holds.
  Status dead_letter(const RecordView& record, const BadRecord& bad) { return dead_letters_->enqueue(record, bad); }
  /// Queues the letters of records already released (refused by PostgreSQL after encoding).
  Status dead_letter_released(std::span<const BadRecord> bad) { return dead_letters_->enqueue_released(bad); }
  /// Letters are queued that the broker has not acknowledged yet.
  bool has_unflushed_letters() const { return dead_letters_ != nullptr && dead_letters_->has_unflushed(); }
  /// Waits for the sink to acknowledge every queued letter, then reports their records.
  Status flush_letters();
  /// Forgets what was seen and not acknowledged: after a rewind the records come again.
  void reset();

 private:
  void report(const BadRecord& bad);

  const ErrorsConfig& errors_;
  DeadLetterSink* dead_letters_ = nullptr;
  std::function<void(const BadRecord&)> listener_;
  std::vector<BadRecord> unacknowledged_;  // dead-lettered, not yet acknowledged
  CircuitBreaker breaker_;
};

}  // namespace kps
