#pragma once
// The thin loop that drives the pipeline from the consumer: poll one record, hand it
// to the pipeline, flush what is due, commit to Kafka what PostgreSQL made durable.
// Decisions (stop on a bad record, stop on a fatal error, wait out a database outage,
// re-sync after losing a partition, drain on a signal) are taken and logged here, once.

#include <atomic>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <span>
#include <vector>

#include "connector/backoff.h"
#include "connector/catch_up.h"
#include "connector/clock.h"
#include "connector/config.h"
#include "connector/database_outage.h"
#include "connector/http_server.h"
#include "connector/kafka_consumer.h"
#include "connector/log.h"
#include "connector/metrics.h"
#include "connector/status.h"
#include "connector/topic_selector.h"
#include "connector/stuck_write_watch.h"

namespace kps {

class DeadLetterRouter;
class DedupStore;
class WriterLanes;
class PgRouteResolver;
struct LastAppliedRecord;
struct BadRecord;
struct StoredOffset;

struct RunOptions {
  bool until_caught_up = false;
};

class Connector final : public RebalanceListener {
 public:
  /// `config` and `stop_requested` must outlive the connector; a signal handler sets
  /// `stop_requested` to begin a drain.
  Connector(const Config& config, RunOptions options, const std::atomic<bool>& stop_requested);
  ~Connector() override;

  /// Runs until a requested stop, the catch-up finish line, or a failure. Ok means a
  /// clean stop: everything consumed was written and committed.
  Status run();

  AssignmentPlan on_partitions_assigned(std::span<const TopicPartition> partitions) override;
  void on_partitions_revoked(std::span<const TopicPartition> partitions, bool lost) override;

 private:
  Status open_database();
  Status open_dedup_state();
  /// How a partition starts, given the offset PostgreSQL holds for it.
  struct PartitionStart {
    std::optional<int64_t> stored_next_offset;
    std::optional<int64_t> dedup_untrusted_below;
    /// Identities the dedup state missed: re-read these records before any record of the
    /// sink is checked against the state.
    std::optional<OffsetRange> dedup_rebuild;
  };
  /// Plans every partition with one round of lookups for all of them (offsets by time);
  /// `log_starts` are their low watermarks where known. Rebuilds nothing itself.
  /// `moved_by_reset`: an offsets reset put the stored offset there (no rebuild of what it skipped).
  std::vector<PartitionStart> plan_partition_starts(std::span<const TopicPartition> partitions,
                                                    const std::vector<std::optional<int64_t>>& stored,
                                                    const std::vector<std::optional<int64_t>>& log_starts,
                                                    const std::vector<bool>& moved_by_reset);
  /// The one path by which owned partitions start, on assignment and in a recovery: plans
  /// them from `stored` (every offset PostgreSQL holds for the group), pins each to a
  /// writer lane and assigns it there, and schedules the dedup rebuild. `assigning`: a new
  /// assignment (its stored offsets are checked against the log, the last applied record
  /// is compared, each partition is logged); else a recovery of partitions still owned
  /// (one with nothing stored is fetched again from the first offset it fetched).
  /// `positions`, by partition: where to fetch from (nullopt: the group's committed
  /// offset, else the earliest). Not ok: a stored offset beyond the end of the log.
  Status start_partitions(std::span<const TopicPartition> partitions, const std::vector<StoredOffset>& stored,
                          bool assigning, std::vector<std::optional<int64_t>>& positions);
  /// Every offset the group stored, read through a lane's connection no write is using
  /// (a Transient status while every lane is writing).
  Result<std::vector<StoredOffset>> load_stored_offsets();
  /// Re-reads the ranges after the rebalance callback returned, a slice per loop round,
  /// while every owned partition stays paused.
  void schedule_dedup_rebuild(std::vector<OffsetRange> ranges);
  void continue_dedup_rebuild();
  void end_dedup_rebuild(const Status& outcome);
  /// Subscribes to the topics the sinks name or match; with a topic_pattern, lists the
  /// cluster's topics again every kafka.topic_refresh_interval_ms and follows them.
  Status follow_topics(Clock::time_point now);
  /// The record before the stored offset, to compare with the log on assignment (see
  /// Pipeline::assign); nullopt when nothing can be compared.
  std::optional<LastAppliedRecord> last_applied_to_check(const PartitionStart& start,
                                                         std::optional<int64_t> last_record_timestamp_ms) const;
  Status start_catch_up();
  Status poll_once();
  /// Ok, or the failure the loop must stop on. Transient write failures (and a lost
  /// compare-and-set) are not failures here: they start a recovery.
  Status absorb_write_result(Status status);
  void begin_recovery(const Status& cause);
  /// One reconnect attempt when its time has come; Ok also while still waiting.
  Status try_recover();
  /// The Fatal status that ends the daemon once retry.give_up_after_ms of an outage passed.
  Status give_up(const Status& last_failure) const;
  /// `marks`: per partition, its watermarks where they could be read.
  Status check_stored_offsets_against_log(std::span<const TopicPartition> partitions,
                                          const std::vector<std::optional<int64_t>>& stored,
                                          const std::vector<std::optional<PartitionWatermarks>>& marks);
  /// Commits to Kafka what PostgreSQL made durable since the last call.
  void commit_durable_offsets();
  /// Commits again, synchronously, every owned partition whose Kafka offset is behind
  /// PostgreSQL's (a failed commit is never retried by librdkafka itself).
  /// `revoked`: PostgreSQL's offsets of partitions being revoked, which the ledger no
  /// longer holds; committed too where Kafka's is behind.
  Status commit_lagging_offsets(bool synchronous,
                                std::span<const std::pair<TopicPartition, int64_t>> revoked = {});
  void refresh_catch_up_from_database();
  /// Starts a recovery when an owned partition's stored offset is no longer the one this
  /// daemon wrote (an `offsets reset`, another owner): checked while no write is in flight.
  void check_stored_offsets_unmoved();
  void log_progress(bool final_line);
  /// Pauses or resumes every partition as any lane's backpressure comes and goes.
  void follow_backpressure(Clock::time_point now);
  Status drain();
  Status start_http_server();
  /// Lag, assignment, dedup state size, the write in flight and readiness: refreshed
  /// about once a second.
  void refresh_gauges();
  /// The age of the write in flight, as a gauge; a warning every 30 s while it is stuck
  /// (older than postgres.write_stuck_after_ms). Returns why readiness fails, or "".
  std::string watch_write_in_flight(Clock::time_point now);
  /// What /readyz answers: ready when `not_ready_reason` is empty.
  void set_readiness(std::string not_ready_reason);
  HealthReport readiness() const;
  void on_batch_flushed(const struct FlushReport& report);
  /// Counts every bad record, and logs the dead-lettered ones (rate-limited).
  void on_bad_record(const BadRecord& bad);
  /// A refused row stopped the stream (tolerance none): what came before it is
  /// committed in PostgreSQL; commit it to Kafka too and leave the group.
  Status stop_at_refused_record(const Status& status);
  Counter& consumed_counter(std::string_view topic);
  /// A record's field that no column of its table takes: counted, logged once per table and field.
  void on_ignored_field(size_t route_index, std::string_view field);

  const Config& config_;
  const RunOptions options_;
  const std::atomic<bool>& stop_requested_;
  SteadyClock clock_;
  std::unique_ptr<DedupStore> dedup_store_;
  // postgres.pool_size writer lanes: each owns a connection and a pipeline.
  std::unique_ptr<WriterLanes> lanes_;
  // Routes a topic of a table template or columns-by-name sink on its first record.
  std::unique_ptr<PgRouteResolver> route_resolver_;
  // (table, field) pairs already logged as ignored: one line per pair, the metric counts the rest.
  std::set<std::pair<std::string, std::string>, std::less<>> ignored_fields_logged_;
  std::unique_ptr<KafkaConsumer> consumer_;
  std::unique_ptr<DeadLetterRouter> dead_letters_;  // with errors.tolerance: all
  log::RateLimited dead_letter_log_{60};
  // Backpressure: a full batch waits behind a slow write, so the partitions are paused
  // (polling goes on, so the group keeps us) until the pipeline has handed it over.
  bool paused_for_backpressure_ = false;
  log::RateLimited backpressure_log_{6};
  std::optional<CatchUpTracker> catch_up_;
  Status failure_;  // set inside rebalance callbacks, acted on by the loop

  // Recovery: while PostgreSQL is away, partitions stay paused and assigned, records
  // already fetched are dropped, and each partition is later re-fetched from the
  // offset PostgreSQL holds (or, with none stored, from the first offset fetched).
  bool recovering_ = false;
  Status recovery_cause_;
  DatabaseOutage outage_;               // spans reconnects until a batch commits again
  Clock::time_point recovering_since_;  // this reconnect's wait, for its log line
  Clock::time_point next_attempt_at_;
  StuckWriteWatch stuck_write_watch_;

  MetricsRegistry registry_;
  SinkMetrics metrics_;
  Heartbeat heartbeat_;
  mutable std::mutex readiness_mutex_;  // the HTTP server's threads read the reason
  std::string not_ready_reason_ = "starting: not yet connected to PostgreSQL and in the consumer group";
  std::unique_ptr<HttpServer> http_server_;
  std::map<std::string, Counter*, std::less<>> consumed_counters_;
  Clock::time_point next_gauge_refresh_at_;
  bool last_poll_was_idle_ = true;
  bool first_batch_committed_ = false;
  std::chrono::milliseconds poll_wait_{100};  // until the next batch is due, at most kMaxPollWait
  uint32_t records_since_housekeeping_ = 0;
  std::string last_consumed_topic_;
  Counter* last_consumed_counter_ = nullptr;
  Clock::time_point next_commit_check_at_;

  // The dedup rebuild after an assignment: while ranges are pending, every owned
  // partition is paused, so no record is checked against a state missing identities.
  std::map<TopicPartition, OffsetRange> rebuilds_pending_;
  std::unique_ptr<RangeReader> rebuild_reader_;
  bool rebuild_active_ = false;  // scheduled and not ended: the owned partitions stay paused
  Clock::time_point rebuild_started_at_;
  size_t rebuild_partitions_ = 0;  // re-read to the end of their range in this rebuild

  // The subscription: exact names, picked by the daemon (see TopicSelector).
  TopicSelector topic_selector_;
  std::vector<std::string> subscribed_topics_;
  bool subscribed_ = false;
  Clock::time_point next_topic_refresh_at_;
  log::RateLimited topic_refresh_log_{6};

  Clock::time_point started_at_;
  Clock::time_point next_progress_at_;
  Clock::time_point next_database_check_at_;
  Clock::time_point next_stored_offsets_check_at_;
  uint64_t rows_at_last_progress_ = 0;
  Clock::time_point last_progress_at_;
};

}  // namespace kps
