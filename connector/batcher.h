#pragma once
// Per-table batches closed by row count, message bytes or age. A batch keeps its
// rows as binary COPY tuples in one buffer that is cleared, not freed, after each
// flush, so steady-state batching allocates nothing.

#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>

#include "connector/clock.h"
#include "connector/config.h"
#include "connector/record.h"
#include "connector/table_batch.h"

namespace kps {

/// Collects the rows of one table and says when the batch must be flushed.
/// Not thread-safe.
class Batcher {
 public:
  /// `limits` and `clock` must outlive the batcher.
  Batcher(const BatchConfig& limits, const Clock& clock);

  /// The buffer a decoder appends the next tuple to.
  CopyBuffer& tuple_buffer() { return batch_.tuples; }

  /// Records that the tuple appended since `tuple_begin` belongs to `record`.
  void add_row(const RecordView& record, size_t tuple_begin, bool is_delete);
  /// Records that `record` was consumed without producing a row (so its offset is
  /// still stored when the batch commits).
  void add_without_row(const RecordView& record);

  /// Row or byte limit reached: flush before adding more.
  bool full() const;
  /// The oldest record has waited max_latency (at `now`: callers checking many batches
  /// read the clock once).
  bool due() const { return due(clock_.now()); }
  bool due(Clock::time_point now) const;
  /// Time until due(), zero if already due; nullopt for an empty batch.
  std::optional<std::chrono::milliseconds> time_until_due() const { return time_until_due(clock_.now()); }
  std::optional<std::chrono::milliseconds> time_until_due(Clock::time_point now) const;

  const TableBatch& batch() const { return batch_; }
  /// A Debezium truncate (on_truncate: apply) opens the batch: call on an empty batch only,
  /// so the rows before the truncate are in the batch before it (see TableBatch::truncate_first).
  void open_with_truncate() { batch_.truncate_first = true; }
  bool holds(const TopicPartition& tp) const { return batch_.find_partition(tp) != nullptr; }
  /// Empties the batch after a flush, keeping its buffers' capacity.
  void clear();
  /// Hands the batch over (to be written) and takes `empty` in its place, buffers and all.
  void swap_batch(TableBatch& empty) {
    std::swap(batch_, empty);
    clear();
  }

 private:
  uint32_t note_record(const RecordView& record);

  const BatchConfig& limits_;
  const Clock& clock_;
  TableBatch batch_;
};

}  // namespace kps
