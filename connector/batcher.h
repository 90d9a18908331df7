#pragma once
// Per-table batches closed by row count, message bytes or age. A batch keeps its
// rows as binary COPY tuples in one buffer that is cleared, not freed, after each
// flush, so steady-state batching allocates nothing.

#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "connector/clock.h"
#include "connector/config.h"
#include "connector/copy_encoder.h"
#include "connector/record.h"

namespace kps {

/// One row of a batch: where its tuple sits in TableBatch::tuples and which record made it.
struct BatchRow {
  uint32_t tuple_begin = 0;
  uint32_t tuple_size = 0;
  uint32_t partition_slot = 0;  // index into TableBatch::partitions
  int64_t offset = 0;
  bool is_delete = false;  // a tombstone: the tuple holds only the primary key
};

/// How far a batch reaches into one partition.
struct PartitionSpan {
  TopicPartition topic_partition;
  int64_t first_offset = 0;
  int64_t next_offset = 0;  // last offset in the batch + 1: what gets stored once it commits
  std::optional<int64_t> last_timestamp_ms;  // Kafka timestamp of the record at next_offset - 1
};

struct TableBatch {
  CopyBuffer tuples;
  std::vector<BatchRow> rows;
  std::vector<PartitionSpan> partitions;  // few per batch: searched linearly
  size_t message_bytes = 0;
  std::optional<Clock::time_point> oldest_record_at;
  std::optional<int64_t> oldest_record_timestamp_ms;  // Kafka timestamp, for end-to-end latency

  bool empty() const { return partitions.empty(); }
  std::string_view tuple(const BatchRow& row) const {
    return view_tuple(row.tuple_begin, row.tuple_size);
  }
  std::string_view view_tuple(uint32_t begin, uint32_t size) const {
    return tuples.view().substr(begin, size);
  }
  const PartitionSpan* find_partition(const TopicPartition& tp) const;
};

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
