#pragma once
// The pure part of the `offsets` subcommand (see offsets_command.h): its arguments, the plan
// of a reset with its refusals, and the tables it prints. No I/O: unit-tested as it is.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "connector/config.h"
#include "connector/record.h"
#include "connector/status.h"

namespace kps {

enum class ResetTarget { Earliest, Latest, Offset, Timestamp };

struct OffsetsRequest {
  enum class Action { Show, Reset };
  Action action = Action::Show;
  std::optional<std::string> topic;      // show: optional filter; reset: required
  std::optional<int32_t> partition;      // reset only: one partition instead of the whole topic
  ResetTarget target = ResetTarget::Earliest;
  int64_t offset = 0;                    // ResetTarget::Offset
  int64_t timestamp_ms = 0;              // ResetTarget::Timestamp, Unix epoch milliseconds
  bool execute = false;                  // reset: without it, only the plan is printed
};

/// Parses what follows `offsets` on the command line. Ok, or a usage message (exit 2).
Result<OffsetsRequest> parse_offsets_arguments(std::span<const std::string_view> arguments);

/// "2026-01-01T00:00:00Z", with an optional fraction and a Z or ±HH:MM offset, or a bare
/// number of Unix epoch milliseconds. nullopt when it is neither.
std::optional<int64_t> parse_reset_timestamp(std::string_view text);

/// What is known of one partition: the offset PostgreSQL holds (the truth the daemon resumes
/// from), the group's committed offset in Kafka, and the log's bounds.
struct PartitionOffsets {
  TopicPartition topic_partition;
  std::optional<int64_t> stored;
  std::optional<int64_t> committed;
  int64_t log_start = 0;
  int64_t high_watermark = 0;

  /// Records not yet applied: from the stored offset, else the committed one, else the
  /// log start (where a new group would begin).
  int64_t lag() const;
};

struct PlannedMove {
  PartitionOffsets current;
  int64_t new_offset = 0;
};

/// The moves a reset makes, one per partition of `partitions` (already narrowed to the
/// request's topic and partition). `offsets_by_time`, for ResetTarget::Timestamp, holds per
/// partition (same order) the earliest offset whose record is at or after the timestamp, or
/// nullopt when none is (then the partition moves to its high watermark, as Kafka's tools do).
/// A target below a partition's log start or above its high watermark is refused: the Status
/// names every such partition and nothing is planned.
Result<std::vector<PlannedMove>> plan_reset(std::span<const PartitionOffsets> partitions, const OffsetsRequest& request,
                                            std::span<const std::optional<int64_t>> offsets_by_time = {});

/// The `show` table: one line per partition, with a header.
std::string render_offsets_table(std::span<const PartitionOffsets> partitions);
/// The `reset` plan: one line per partition, with a header.
std::string render_reset_plan(std::span<const PlannedMove> moves);

}  // namespace kps
