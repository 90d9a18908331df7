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

#include "connector/clock.h"
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
  /// kafka.properties tries to override what exactly-once depends on. `clock` (which must
  /// outlive the consumer) times the waits of close() and read_range() and the rebalance log.
  KafkaConsumer(const KafkaConfig& config, RebalanceListener& listener, const Clock& clock = steady_clock());
  ~KafkaConsumer();
  KafkaConsumer(const KafkaConsumer&) = delete;
  KafkaConsumer& operator=(const KafkaConsumer&) = delete;

  /// Subscribes to exactly these topic names, replacing the previous subscription. No
  /// regex reaches librdkafka: it would read one as a POSIX extended regex searched
  /// anywhere in a name, while a sink's topic_pattern is an ECMAScript regex matching
  /// whole names, so the daemon picks the names itself (TopicSelector).
  Status subscribe(const std::vector<std::string>& topics);

  /// The names of every topic the cluster has, internal ones excluded: one metadata request.
  Result<std::vector<std::string>> list_topics(std::chrono::milliseconds timeout);

  /// Waits up to `timeout` for one record or partition end. The previous poll's
  /// record is released first. A non-ok Status is fatal for the consumer.
  Result<PollResult> poll(std::chrono::milliseconds timeout);

  /// Commits next offsets to the group (the delivery promise does not depend on it:
  /// PostgreSQL holds the truth; this keeps lag monitoring right).
  Status commit(std::span<const std::pair<TopicPartition, int64_t>> offsets, bool synchronous);

  /// The highest next offset the group coordinator acknowledged for `tp` in this run.
  std::optional<int64_t> acknowledged_commit(const TopicPartition& tp) const;

  /// Low and high watermarks of every partition of the topics that exist and match
  /// `wanted`, queried from the brokers: one metadata request, then query_watermarks below.
  Result<std::vector<PartitionWatermarks>> query_watermarks(
      const std::function<bool(std::string_view topic)>& wanted, std::chrono::milliseconds timeout);
  /// Low and high watermarks of `partitions`, in their order, asked of all of them at once:
  /// one ListOffsets request per leader broker for the low marks and one for the high
  /// ones, however many partitions (rd_kafka_query_watermark_offsets asks one partition
  /// per synchronous round trip, which made a big assignment outlive max.poll.interval.ms).
  Result<std::vector<PartitionWatermarks>> query_watermarks(std::span<const TopicPartition> partitions,
                                                            std::chrono::milliseconds timeout);

  /// Stop fetching these partitions; the group membership stays alive as long as
  /// poll() keeps being called.
  void pause(std::span<const TopicPartition> partitions);
  void resume(std::span<const TopicPartition> partitions);
  /// Moves the fetch position, so records fetched but not applied are fetched again.
  Status seek(std::span<const std::pair<TopicPartition, int64_t>> positions);

  /// Per partition (in the order given), the earliest offset whose record timestamp is at
  /// or after its `timestamp_ms`; nullopt when no record is that recent, or the broker
  /// cannot tell (the mock cluster). One request per leader broker for all of them.
  Result<std::vector<std::optional<int64_t>>> offsets_for_times(
      std::span<const std::pair<TopicPartition, int64_t>> timestamps_ms, std::chrono::milliseconds timeout);

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
  const Clock& clock_;
  std::unique_ptr<Handles> handles_;
  std::vector<RecordHeader> headers_;  // of the current record; reused
  std::vector<TopicPartition> assignment_;
  std::map<TopicPartition, int64_t> acknowledged_commits_;
  std::map<TopicPartition, int64_t> start_positions_;  // where each partition was assigned or sought to
  Status fatal_;
  bool closed_ = false;
};

/// Records [from, to) of one partition.
struct OffsetRange {
  TopicPartition topic_partition;
  int64_t from = 0;
  int64_t to = 0;
};

/// Re-reads ranges of records of many partitions at once with a short-lived consumer of
/// its own (no group, nothing committed), a little at a time, so that the caller goes on
/// polling its group consumer in between: how the dedup state is rebuilt after an
/// assignment without holding up the rebalance or the group's poll interval.
class RangeReader {
 public:
  /// Starts fetching every range; ranges with from >= to are done at once. `clock` (which
  /// must outlive the reader) measures read_for()'s budget.
  static Result<std::unique_ptr<RangeReader>> open(const KafkaConfig& config, std::span<const OffsetRange> ranges,
                                                   const Clock& clock = steady_clock());
  ~RangeReader();
  RangeReader(const RangeReader&) = delete;
  RangeReader& operator=(const RangeReader&) = delete;

  /// Polls for about `budget`: each record below its range's end goes to `on_record`;
  /// each range read to its end (or to the end of the log, when that comes first) goes to
  /// `on_range_done`, once. A non-ok (Transient) status: the reading failed, nothing more
  /// will come.
  Status read_for(std::chrono::milliseconds budget, const std::function<void(const RecordView&)>& on_record,
                  const std::function<void(const TopicPartition&)>& on_range_done);
  /// Forgets `tp` (its partition was revoked): its records are dropped, it is never done.
  void drop(const TopicPartition& tp);
  bool done() const { return ends_.empty(); }

 private:
  struct Handle;
  explicit RangeReader(const Clock& clock);
  const Clock& clock_;
  std::unique_ptr<Handle> handle_;
  std::map<TopicPartition, int64_t> ends_;  // the `to` of each range not read yet
  std::vector<RecordHeader> headers_;        // of the current record; reused
};

/// Checks kafka.properties against librdkafka without connecting: unknown names,
/// invalid values, and properties the daemon owns. One ConfigProblem each. (Defined in
/// kafka_consumer_conf.cpp, beside the consumer configuration it checks.)
std::vector<ConfigProblem> check_kafka_properties(const KafkaConfig& config);

/// librdkafka's version, for --version.
std::string librdkafka_version();

}  // namespace kps
