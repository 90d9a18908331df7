#pragma once
// --until-caught-up: the high watermarks noted at start are the finish line. A
// partition is done once PostgreSQL holds an offset at or past its mark, or once the
// consumer reached the partition's end past the mark with nothing left unwritten
// (transaction markers and compacted gaps mean the last record's offset + 1 can
// stay below the mark forever).

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "connector/record.h"

namespace kps {

struct CatchUpTarget {
  TopicPartition topic_partition;
  int64_t low_watermark = 0;
  int64_t high_watermark = 0;
};

class CatchUpTracker {
 public:
  explicit CatchUpTracker(std::vector<CatchUpTarget> targets);

  /// PostgreSQL holds `stored_next_offset` for the partition.
  void note_stored(const TopicPartition& tp, int64_t stored_next_offset);
  /// The consumer reached the end of the partition at `end_offset`.
  void note_partition_end(const TopicPartition& tp, int64_t end_offset);
  /// What was fetched was dropped (a recovery re-fetches from the stored offsets): a
  /// partition end seen before no longer says its records are all written or batched.
  void forget_fetched();
  /// Re-evaluates partitions whose end was reached, now that `has_unwritten_records`
  /// may have changed (after a flush).
  void settle(const std::function<bool(const TopicPartition&)>& has_unwritten_records);

  bool done() const { return remaining_ == 0; }
  /// Every unfinished partition was fetched to its mark: nothing more is coming, so
  /// what is batched need not wait for max_latency_ms.
  bool all_fetched() const;
  size_t remaining_partitions() const { return remaining_; }
  /// Records between each unfinished partition's known progress and its mark.
  int64_t remaining_records() const;

 private:
  struct Entry {
    CatchUpTarget target;
    std::optional<int64_t> stored_next_offset;
    std::optional<int64_t> end_offset_seen;
    bool done = false;
  };
  Entry* find(const TopicPartition& tp);
  void mark_done(Entry& entry);

  std::vector<Entry> entries_;
  size_t remaining_ = 0;
};

}  // namespace kps
