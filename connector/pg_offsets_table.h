#pragma once
// The offsets table seen from outside the daemon, for the `offsets` subcommand: read the
// group's stored offsets, and move some of them in one transaction. A daemon that owns a
// moved partition finds out through its compare-and-set (PgWriter::write), which fails, and
// resumes from the new offset.

#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "connector/config.h"
#include "connector/record.h"
#include "connector/status.h"

namespace kps {

class PgConnection;

/// Creates the offsets table (one row per group, topic and partition) when it is missing,
/// tolerating instances that race to do so; refuses an existing one whose shape the
/// compare-and-set cannot rely on (Fatal, saying how to fix it); adds the columns newer
/// versions need (last_record_timestamp_ms).
Status ensure_offsets_table(PgConnection& connection, const QualifiedName& table);

class PgOffsetsTable {
 public:
  /// Connects with config.postgres.dsn. `config` must outlive the object.
  static Result<PgOffsetsTable> open(const Config& config);
  PgOffsetsTable(PgOffsetsTable&&) noexcept;
  ~PgOffsetsTable();

  /// Every next offset stored for config.kafka.group_id; empty when the table does not exist yet.
  Result<std::vector<std::pair<TopicPartition, int64_t>>> load();
  /// Sets these partitions' next offsets (creating the table and rows as needed) in one
  /// transaction: all of them move, or none.
  Status move(std::span<const std::pair<TopicPartition, int64_t>> offsets);

 private:
  PgOffsetsTable(const Config& config, std::unique_ptr<PgConnection> connection);

  const Config* config_;
  std::unique_ptr<PgConnection> connection_;
};

}  // namespace kps
