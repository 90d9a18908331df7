#pragma once
// librdkafka adapter: a balanced consumer group member that polls one message at a
// time (the batch consume APIs of 2.0.x misbehave around rebalances), assigns at the
// offsets the listener supplies, and commits only what it is told. kafka_consumer.cpp
// is the only file that includes librdkafka.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "connector/config.h"
#include "connector/record.h"
#include "connector/status.h"

namespace kps {

/// What to do with newly assigned partitions.
struct AssignmentPlan {
  /// Per partition, the offset to start from (nullopt: the group's committed offset,
  /// else auto.offset.reset).
  std::vector<std::optional<int64_t>> start_offsets;
  /// Assign them paused: their offsets cannot be known yet (the database is away).
  bool paused = false;
};

/// Told about rebalances; called from inside KafkaConsumer::poll on the polling thread.
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  virtual AssignmentPlan on_partitions_assigned(std::span<const TopicPartition> partitions) = 0;
  /// The partitions are being taken away: finish their in-flight work before
  /// returning. `lost`: the group already gave them to someone else (we were
  /// evicted), so in-flight work must be abandoned, not finished.
  virtual void on_partitions_revoked(std::span<const TopicPartition> partitions, bool lost) = 0;
};

struct PartitionWatermarks {
  TopicPartition topic_partition;
  int64_t low = 0;
  int64_t high = 0;  // the offset the next produced record will get
};

struct PollResult {
  enum class Kind { Nothing, Record, PartitionEnd };
  Kind kind = Kind::Nothing;
  RecordView record;                    // Kind::Record: valid until the next poll()
  TopicPartition end_of_partition;      // Kind::PartitionEnd
  int64_t end_offset = 0;               // Kind::PartitionEnd: the partition's next offset
};

class KafkaConsumer {
 public:
  /// Throws std::runtime_error when librdkafka rejects the configuration, or when
  /// kafka.properties tries to override what exactly-once depends on.
  KafkaConsumer(const KafkaConfig& config, RebalanceListener& listener);
  ~KafkaConsumer();
  KafkaConsumer(const KafkaConsumer&) = delete;
  KafkaConsumer& operator=(const KafkaConsumer&) = delete;

  /// Subscribes to exact topic names and to regex patterns (which librdkafka wants
  /// prefixed with '^'; added when missing).
  Status subscribe(const std::vector<std::string>& topics, const std::vector<std::string>& patterns);

  /// Waits up to `timeout` for one record or partition end. The previous poll's
  /// record is released first. A non-ok Status is fatal for the consumer.
  Result<PollResult> poll(std::chrono::milliseconds timeout);

  /// Commits next offsets to the group (the delivery promise does not depend on it:
  /// PostgreSQL holds the truth; this keeps lag monitoring right).
  Status commit(std::span<const std::pair<TopicPartition, int64_t>> offsets, bool synchronous);

  /// The highest next offset the group coordinator acknowledged for `tp` in this run.
  std::optional<int64_t> acknowledged_commit(const TopicPartition& tp) const;

  /// Low and high watermarks of every partition of the topics that exist and match
  /// `wanted`, queried from the brokers.
  Result<std::vector<PartitionWatermarks>> query_watermarks(
      const std::function<bool(std::string_view topic)>& wanted, std::chrono::milliseconds timeout);

  /// Stop fetching these partitions; the group membership stays alive as long as
  /// poll() keeps being called.
  void pause(std::span<const TopicPartition> partitions);
  void resume(std::span<const TopicPartition> partitions);
  /// Moves the fetch position, so records fetched but not applied are fetched again.
  Status seek(std::span<const std::pair<TopicPartition, int64_t>> positions);

  /// The earliest offset of `tp` whose record timestamp is at or after
  /// `timestamp_ms`; nullopt when no record is that recent.
  Result<std::optional<int64_t>> offset_for_time(const TopicPartition& tp, int64_t timestamp_ms,
                                                 std::chrono::milliseconds timeout);

  /// Reads the records of `tp` in [from, to) with a short-lived consumer of its own (no
  /// group, nothing committed) and hands each to `on_record`: how the dedup state learns
  /// identities it missed, before the partition is consumed for real. Stops at `to`, at
  /// the end of the log, or after `timeout` (then a Transient status).
  Status read_range(const TopicPartition& tp, int64_t from, int64_t to,
                    const std::function<void(const RecordView&)>& on_record, std::chrono::milliseconds timeout);

  /// Records not yet consumed per assigned partition, from cached watermarks (no request).
  std::vector<std::pair<TopicPartition, int64_t>> partition_lags() const;
  /// Their sum.
  int64_t consumer_lag() const;
  /// Joined the consumer group (has a member id).
  bool is_group_member() const;
  const std::vector<TopicPartition>& assignment() const { return assignment_; }
  bool rebalance_is_cooperative() const;

  /// Leaves the group (revoking through the listener); idempotent.
  void close();

 private:
  struct Handles;
  friend struct KafkaCallbacks;

  RebalanceListener& listener_;
  const KafkaConfig config_;
  std::unique_ptr<Handles> handles_;
  std::vector<RecordHeader> headers_;  // of the current record; reused
  std::vector<TopicPartition> assignment_;
  std::map<TopicPartition, int64_t> acknowledged_commits_;
  std::map<TopicPartition, int64_t> start_positions_;  // where each partition was assigned or sought to
  Status fatal_;
  bool closed_ = false;
};

/// Checks kafka.properties against librdkafka without connecting: unknown names,
/// invalid values, and properties the daemon owns. One ConfigProblem each.
std::vector<ConfigProblem> check_kafka_properties(const KafkaConfig& config);

/// librdkafka's version, for --version.
std::string librdkafka_version();

}  // namespace kps
