#pragma once
// The batch types every stage shares: what the batcher fills, the key reducer reads and
// the TableWriter writes. No stage's logic here, so the PostgreSQL adapter can take a
// batch without pulling in the pipeline.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "connector/clock.h"
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
  /// A Debezium truncate ("op": "t", on_truncate: apply) opened this batch: the table is
  /// truncated in the write's transaction before its rows. A truncate always starts a batch,
  /// so rows before it are written (and truncated) first, rows after it survive it.
  bool truncate_first = false;

  bool empty() const { return partitions.empty(); }
  std::string_view tuple(const BatchRow& row) const {
    return view_tuple(row.tuple_begin, row.tuple_size);
  }
  std::string_view view_tuple(uint32_t begin, uint32_t size) const {
    return tuples.view().substr(begin, size);
  }
  const PartitionSpan* find_partition(const TopicPartition& tp) const {
    for (const PartitionSpan& span : partitions) {
      if (span.topic_partition.partition == tp.partition && span.topic_partition.topic == tp.topic) return &span;
    }
    return nullptr;
  }
};

/// What the writer does with a reduced row. The values are stored in the staging
/// table's op column, so they are part of the SQL the writer generates.
enum class RowOp : int16_t {
  Upsert = 0,            // insert, or update per the sink's mode
  DeleteThenUpsert = 1,  // a tombstone came first in the batch: delete the stored row, then insert
  Delete = 2,            // the key's last record in the batch is a tombstone
};

struct ReducedRow {
  ReducedRow() = default;
  // Spelled out so that `{row, op}` stays complete without a merged tuple.
  ReducedRow(uint32_t row, RowOp row_op, std::string_view merged = {})
      : row_index(row), op(row_op), merged_tuple(merged) {}

  uint32_t row_index = 0;  // into TableBatch::rows; for Delete, the tombstone's row
  RowOp op = RowOp::Upsert;
  /// Not empty: the tuple to write instead of the row's own, which KeyReducer completed
  /// with values of earlier rows of the key (a Debezium row's unavailable columns). It
  /// points into the reducer, valid until the reducer's next reduce().
  std::string_view merged_tuple;
};

/// The tuple a reduced row writes.
inline std::string_view reduced_tuple(const TableBatch& batch, const ReducedRow& row) {
  return row.merged_tuple.empty() ? batch.tuple(batch.rows[row.row_index]) : row.merged_tuple;
}

}  // namespace kps
