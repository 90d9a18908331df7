#pragma once
// librdkafka adapter for the `offsets` subcommand: a consumer handle carrying the group's id
// that never joins the group. It lists partitions, reads each partition's log bounds and the
// group's committed offset, looks offsets up by time, and commits offsets for the group
// (which a coordinator accepts from a non-member only while the group has no active member).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "connector/clock.h"
#include "connector/config.h"
#include "connector/record.h"
#include "connector/status.h"

namespace kps {

struct PartitionBounds {
  int64_t log_start = 0;
  int64_t high_watermark = 0;  // the offset the next produced record will get
};

class KafkaOffsetsAdmin {
 public:
  /// Throws std::runtime_error when librdkafka rejects the configuration. `timeout` bounds each
  /// request, and each wait for a record while reading a partition; `clock` (which must
  /// outlive the admin) measures those waits.
  explicit KafkaOffsetsAdmin(const KafkaConfig& config, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                             const Clock& clock = steady_clock());
  ~KafkaOffsetsAdmin();
  KafkaOffsetsAdmin(const KafkaOffsetsAdmin&) = delete;
  KafkaOffsetsAdmin& operator=(const KafkaOffsetsAdmin&) = delete;

  /// Every partition of the existing topics that `wanted` accepts, sorted.
  Result<std::vector<TopicPartition>> list_partitions(const std::function<bool(std::string_view topic)>& wanted);
  Result<PartitionBounds> bounds(const TopicPartition& tp);
  /// The group's committed next offset per partition (same order); nullopt: none.
  Result<std::vector<std::optional<int64_t>>> committed(std::span<const TopicPartition> partitions);
  /// Per partition (same order), the earliest offset whose record timestamp is at or after
  /// `timestamp_ms`; nullopt when no record is that recent. Where the broker says "none" but
  /// the partition's last record is that recent (a broker that cannot look up by time, such
  /// as librdkafka's mock cluster), the partition is read from its start instead.
  Result<std::vector<std::optional<int64_t>>> offsets_for_time(std::span<const TopicPartition> partitions,
                                                              int64_t timestamp_ms);
  /// Commits these next offsets for the group, synchronously.
  Status commit(std::span<const std::pair<TopicPartition, int64_t>> offsets);

 private:
  struct Handles;
  /// Reads `tp` from `from` and returns the first record's offset whose timestamp satisfies
  /// `accept`, nullopt at the end of the log.
  Result<std::optional<int64_t>> scan(const TopicPartition& tp, int64_t from,
                                      const std::function<bool(int64_t offset, int64_t timestamp_ms)>& accept);

  const KafkaConfig& config_;
  const std::chrono::milliseconds timeout_;
  const Clock& clock_;
  std::unique_ptr<Handles> handles_;
};

}  // namespace kps
