#pragma once
// Writes batches to PostgreSQL: binary COPY straight into the table for `insert`;
// binary COPY into a session temp staging table, then DELETE for tombstones and one
// INSERT … ON CONFLICT for `upsert` / `insert_ignore`. The offsets row of every
// partition in the batch moves in the same transaction, guarded by compare-and-set.

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "connector/clock.h"
#include "connector/config.h"
#include "connector/table_writer.h"
#include "connector/record.h"
#include "connector/route_table.h"
#include "connector/status.h"

namespace kps {

class PgConnection;

struct StoredOffset {
  TopicPartition topic_partition;
  int64_t next_offset = 0;
  /// Kafka timestamp of the record at next_offset - 1, when known: how a topic deleted and
  /// recreated with a longer log is told from the one the offset was stored for. Known only
  /// when the row says which record it belongs to and that is next_offset - 1 (an earlier
  /// version, or an UPDATE by hand, moves next_offset without it).
  std::optional<int64_t> last_record_timestamp_ms;
  /// `offsets reset` put next_offset here, and no batch has moved it since.
  bool moved_by_reset = false;
};

class PgWriter final : public TableWriter {
 public:
  /// `config` must outlive the writer.
  /// `clock` paces the re-runs of a deadlocked transaction.
  explicit PgWriter(const Config& config, const Clock& clock = steady_clock());
  ~PgWriter() override;

  /// Reads routes from `routes` (shared by the lanes) instead of a table of its own built
  /// from the config's static sinks. Call before open(); `routes` must outlive the writer.
  void share_routes(const RouteTable& routes);

  /// Connects; creates the offsets table, and each static sink's table when create_table
  /// is set; checks that every static sink's table has its columns (and, for binary COPY
  /// straight into the table, the exact types); creates the staging tables. A route
  /// published later (routed on its topic's first record) is prepared the same way before
  /// its first write on this connection.
  Status open();
  /// Drops the connection (if any) and opens a fresh one: after a transient failure.
  Status reopen();

  /// See TableWriter::write. A transaction rolled back by a deadlock or a serialization
  /// failure (another lane writing the same keys) is run again, a few times, before the
  /// failure is returned.
  Status write(const WriteRequest& request) override;

  /// Every offset this consumer group has stored.
  Result<std::vector<StoredOffset>> load_offsets();

 private:
  struct SinkStatements;
  Status ensure_offsets_table();
  /// Refuses (Fatal) an offsets table that exists with other column types or without a
  /// unique key on (group_id, topic, partition); adds last_record_timestamp_ms to an older one.
  Status prepare_sink(size_t route_index);
  Status write_rows(const TableBatch& batch, std::span<const ReducedRow> rows, const SinkStatements& statements);
  /// After a data error: writes `rows` in savepoints, narrowing down (by the COPY
  /// error's line, else by halves) to the rows PostgreSQL refuses, which go to `rejected`.
  Status isolate_rejected_rows(const TableBatch& batch, std::span<const ReducedRow> rows,
                               const SinkStatements& statements, Status failure, std::vector<RejectedRow>& rejected);
  /// One attempt inside a savepoint: on failure only the attempt is undone.
  Status try_rows(const TableBatch& batch, std::span<const ReducedRow> rows, const SinkStatements& statements);
  Status write_once(const WriteRequest& request);
  /// BEGIN, then what the route's batch needs before its rows: the route's added columns
  /// (until a write of it committed on this connection), the truncate of truncate_first.
  Status begin_write(const WriteRequest& request, SinkStatements& statements);
  /// ALTER TABLE … ADD COLUMN IF NOT EXISTS for the added columns the table lacks, under the
  /// table's lock; lists the ones this transaction added in columns_added_.
  Status ensure_added_columns(const SinkConfig& route);
  Result<std::vector<ColumnConfig>> missing_added_columns(const SinkConfig& route);
  /// After COMMIT: the route's columns exist for this connection; logs the ones it added.
  void note_committed(const WriteRequest& request, SinkStatements& statements);
  /// Moves every partition's offset with one UPDATE (compare-and-set per row) and one
  /// INSERT (partitions with no row yet); fails with Cause::Fenced, naming the partition, when any
  /// row did not move.
  Status advance_offsets(std::span<const OffsetAdvance> offsets);
  void roll_back();

  const Config& config_;
  const Clock& clock_;
  std::unique_ptr<PgConnection> connection_;
  std::unique_ptr<RouteTable> own_routes_;  // unless share_routes() gave one
  const RouteTable* routes_;
  std::vector<SinkStatements> statements_;  // by route index
  std::vector<bool> prepared_;              // by route index: statements_ holds its SQL on this connection
  std::string copy_chunk_;                  // reused framing buffer for staging rows
  std::vector<ColumnConfig> columns_added_;  // by the open transaction, logged once it commits
};

}  // namespace kps
