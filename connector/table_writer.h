#pragma once
// The port batches leave the pipeline through: what one write carries (rows, the offsets
// that move with them) and what comes back. PgWriter is the PostgreSQL implementation;
// tests script their own.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "connector/record.h"
#include "connector/status.h"
#include "connector/table_batch.h"

namespace kps {

/// The stored offset of one partition moves from `expected_stored` to `next_offset`
/// in the same transaction as the batch's rows. nullopt: no row is stored yet.
struct OffsetAdvance {
  TopicPartition topic_partition;
  std::optional<int64_t> expected_stored;
  int64_t next_offset = 0;
  /// Kafka timestamp of the record at next_offset - 1, stored with the offset (nullopt:
  /// unknown, e.g. the partition was cut before a refused record).
  std::optional<int64_t> last_record_timestamp_ms;
};

/// The record a partition's stored offset was taken after (the one at stored offset - 1),
/// as the offsets table remembers it.
struct LastAppliedRecord {
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
};

/// A row PostgreSQL refused for its data (SQLSTATE class 22 or 23).
struct RejectedRow {
  uint32_t row_index = 0;  // into TableBatch::rows
  std::string sqlstate;
  std::string column;      // when PostgreSQL named one
  std::string reason;      // PostgreSQL's message
};

struct WriteRequest {
  size_t route_index = 0;  // into the RouteTable (route_table.h): which table, with which columns
  const TableBatch& batch;
  std::span<const ReducedRow> rows;  // what to write; every row of the batch in insert mode
  std::span<const OffsetAdvance> offsets;
  /// Given: when PostgreSQL refuses rows for their data, find every refused row, list
  /// them here, change nothing and fail with ErrorKind::Poison; the caller sets them
  /// aside and writes the rest again.
  std::vector<RejectedRow>* rejected = nullptr;
};

/// Where batches go. The PostgreSQL implementation is PgWriter.
class TableWriter {
 public:
  virtual ~TableWriter() = default;
  /// Applies `request.rows` and moves every partition's stored offset in one
  /// transaction: afterwards all of it is durable or none of it is. An offset whose
  /// stored value is not `expected_stored` (another owner moved it) fails the whole
  /// write and changes nothing.
  virtual Status write(const WriteRequest& request) = 0;
};

}  // namespace kps
