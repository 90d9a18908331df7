#pragma once
// decode -> batch -> write -> release offsets. No Kafka and no libpq here: records come
// in as RecordViews, batches go out through TableWriter, so the whole exactly-once
// bookkeeping is unit-testable with a scripted writer.

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "connector/bad_record.h"
#include "connector/bad_record_policy.h"
#include "connector/batcher.h"
#include "connector/clock.h"
#include "connector/config.h"
#include "connector/dedup_index.h"
#include "connector/key_reducer.h"
#include "connector/partition_ledger.h"
#include "connector/record.h"
#include "connector/route_table.h"
#include "connector/status.h"
#include "connector/table_writer.h"

namespace kps {

class Decoder;
struct DecodeError;

struct PipelineCounters {
  uint64_t records_consumed = 0;
  uint64_t records_redelivered = 0;  // at or below an offset already applied: skipped
  uint64_t dedup_dropped = 0;        // identity already applied within the TTL: no row written
  uint64_t dedup_replayed = 0;       // already applied, re-read only to rebuild the dedup state
  uint64_t rows_written = 0;         // after key reduction
  uint64_t batches_written = 0;
  uint64_t bad_records = 0;          // dead-lettered and acknowledged (tolerance all), or the one stopped at
};

/// What one committed batch did, for metrics.
struct FlushReport {
  size_t route_index = 0;                // into the RouteTable (route_table.h)
  const TableBatch& batch;               // as written (rows before key reduction)
  size_t rows_written = 0;               // after key reduction
  uint64_t dedup_dropped = 0;            // records of the batch dropped by dedup
  /// By batch row: a duplicate that waited in the batch and was not written (empty: none).
  const std::vector<bool>& duplicate_rows;
  Clock::time_point::duration duration{};
};

/// The batch write on the writer thread: whose table, and since when (the pipeline's clock).
struct WriteInFlight {
  size_t route_index = 0;  // into the RouteTable (route_table.h)
  Clock::time_point started_at;
};

/// Driven by the connector's single polling thread. One batch at a time is written on a
/// writer thread while the polling thread decodes the next: the TableWriter is used by one
/// thread at a time, and callers that use it themselves call wait_for_writes() first.
class Pipeline {
 public:
  /// `config`, `writer` and `dedup` must outlive the pipeline. Without `dedup`, sinks'
  /// dedup settings are not applied. `unix_seconds` stamps dedup identities.
  Pipeline(const Config& config, TableWriter& writer, const Clock& clock, DedupIndex* dedup = nullptr,
           std::function<int64_t()> unix_seconds = nullptr);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  /// Keeps the partitions' offset facts in `ledger` (shared by every writer lane, so the
  /// connector reads them in one place) as those of lane `lane`, instead of a ledger of its
  /// own. Call before anything else; `ledger` must outlive the pipeline.
  void share_ledger(PartitionLedger& ledger, uint32_t lane);
  const PartitionLedger& ledger() const { return *ledger_; }

  /// Reads routes from `routes` (shared by every writer lane) instead of a table of its
  /// own, and routes a topic of a sink that is not static (a table template, columns by
  /// name) on its first record with `resolver`. Without it, such a topic's records stop
  /// the pipeline with a Fatal status. Call before anything else; `routes` must outlive
  /// the pipeline.
  void share_routes(RouteTable& routes, RouteResolverFn resolver);
  const RouteTable& routes() const { return *routes_; }

  /// Which sink consumes `topic`: index into Config::sinks, nullopt when none.
  std::optional<size_t> sink_for_topic(std::string_view topic);

  /// The partition is ours from now on; PostgreSQL holds `stored_next_offset` for it
  /// (nullopt when it holds nothing). Records below it are already applied: they are
  /// skipped, or, for a dedup sink, only their identities are recorded (how the dedup
  /// state catches up after a crash between COMMIT and its own write).
  /// `first_offset_to_fetch`, when below the stored offset, is where that re-reading starts.
  /// `dedup_untrusted_below`: the dedup state claims identities PostgreSQL does not hold
  /// (the database was restored from a backup): below this offset it is not consulted.
  /// `last_applied`: the partition is fetched from that record on, and when it arrives its
  /// Kafka timestamp must be the stored one, else add() stops with a Fatal status (the
  /// topic was deleted and recreated: resuming would skip the new log up to the offset).
  /// When the first record fetched comes after it (retention, compaction), nothing is checked.
  void assign(const TopicPartition& tp, std::optional<int64_t> stored_next_offset,
              std::optional<int64_t> first_offset_to_fetch = std::nullopt,
              std::optional<int64_t> dedup_untrusted_below = std::nullopt,
              std::optional<LastAppliedRecord> last_applied = std::nullopt);
  /// Flushes what is batched for these partitions, then forgets them. On error the
  /// partitions are forgotten all the same: what was not written is not stored.
  Status revoke(std::span<const TopicPartition> partitions);

  /// Notes that `record` was fetched without being added (add() notes its own): the
  /// first offset fetched since assignment is where a partition with no stored offset
  /// is re-fetched from after a failure.
  void note_fetched(const RecordView& record);
  /// The first offset fetched from `tp` since it was assigned, if any.
  std::optional<int64_t> first_offset_fetched(const TopicPartition& tp) const;

  /// Learns the dedup identity of a record PostgreSQL already holds (re-read to rebuild
  /// the dedup state); writes nothing.
  void replay(const RecordView& record);
  /// The re-reading of `tp` is complete below `complete_up_to`: records what was learnt,
  /// with that marker, in the dedup state.
  void finish_replay(const TopicPartition& tp, int64_t complete_up_to);

  /// Forgets every partition and drops every unwritten row: after a failed write, the
  /// connector re-reads PostgreSQL's offsets, assigns again and re-fetches from there.
  void reset();

  /// Decodes the record into its table's batch and starts writing the batch when full.
  /// A record that cannot be decoded, with `errors.tolerance: none`, returns a Poison
  /// status naming topic, partition, offset, column and reason; nothing of it was
  /// batched. With `tolerance: all` it goes to the dead letter sink instead, and its
  /// offset is stored with the batch once the sink acknowledged it.
  /// A row PostgreSQL refuses for its data is set aside the same way when its batch is
  /// written; with `tolerance: none` the partition's offset stops at it, what comes
  /// before it is committed, and the write returns a Poison status whose code is the
  /// SQLSTATE (sticky, like any failed write).
  Status add(const RecordView& record);
  /// Starts writing every batch whose oldest record has waited max_latency at `now`,
  /// and takes in the result of a write that has finished.
  Status flush_due(Clock::time_point now);
  Status flush_due() { return flush_due(clock_.now()); }
  /// Writes every batch and waits until all of it is committed.
  Status flush_all();
  /// Waits for the write in flight, if any, and takes in its result.
  Status wait_for_writes();
  bool write_in_flight() const;
  /// The write in flight, if any. A write stays in flight until flush_due() or a blocking
  /// call takes in its result; a rewrite without refused rows starts again.
  std::optional<WriteInFlight> write_in_flight_details() const;
  /// A full batch waits for the write in flight, which has taken longer than the
  /// backpressure wait: stop feeding records (pause the partitions, keep polling) until
  /// flush_due() has handed it over.
  bool backpressured() const { return deferring_; }
  /// How long adding to a full batch may block on the write in flight before the
  /// pipeline reports backpressure instead. Default 500 ms.
  void set_backpressure_wait(std::chrono::milliseconds wait) { backpressure_wait_ = wait; }
  // A failed write is sticky: every call above returns it until reset(), because rows
  // batched after the failed one must not be stored over the gap it leaves.
  /// How long the connector may block in poll before a batch becomes due.
  std::optional<std::chrono::milliseconds> time_until_next_flush(Clock::time_point now) const;
  std::optional<std::chrono::milliseconds> time_until_next_flush() const { return time_until_next_flush(clock_.now()); }

  /// Next offsets made durable in PostgreSQL since the last call: what to commit to Kafka.
  std::vector<std::pair<TopicPartition, int64_t>> take_durable_offsets();
  /// The next offset PostgreSQL holds for an assigned partition.
  std::optional<int64_t> stored_next_offset(const TopicPartition& tp) const;
  /// Does a batch hold records of this partition that are not written yet?
  bool has_unwritten_records(const TopicPartition& tp) const;

  const PipelineCounters& counters() const { return counters_; }
  /// Called after every committed batch, before it is cleared.
  void set_flush_listener(std::function<void(const FlushReport&)> listener) { flush_listener_ = std::move(listener); }
  /// Where bad records go with `errors.tolerance: all`; must outlive the pipeline.
  /// Without one, every bad record stops the pipeline as with `tolerance: none`.
  void set_dead_letter_sink(DeadLetterSink* sink) { bad_records_.set_dead_letter_sink(sink); }
  /// Called once for every bad record: the one stopped at, or a dead-lettered one once
  /// its letter is acknowledged.
  void set_bad_record_listener(std::function<void(const BadRecord&)> listener) {
    bad_record_listener_ = std::move(listener);
  }
  /// Called for each top-level field of a record that no column of its route (columns by
  /// name) takes, once the record is decoded: the field is ignored. `field` is valid
  /// during the call only.
  void set_ignored_field_listener(std::function<void(size_t route_index, std::string_view field)> listener) {
    ignored_field_listener_ = std::move(listener);
  }
  /// Called for each Debezium change event a debezium route reads, with its op (c r u d t m).
  void set_change_event_listener(std::function<void(size_t route_index, char op)> listener) {
    change_event_listener_ = std::move(listener);
  }

 private:
  struct TopicState {
    std::optional<size_t> sink_index;
    std::optional<size_t> route_index;  // set when routed (at once for a static sink)
  };
  struct TableState;
  struct InFlightWrite;
  struct TransparentHash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>()(text); }
  };

  TopicState& topic_state(std::string_view topic);
  /// The table state of the route of `record`'s topic, routing the topic first if it is
  /// not yet: null, with `status` set, when it cannot be routed.
  TableState* routed_table(TopicState& topic, const RecordView& record, Status& status);
  /// The table state of a route, created on its first use.
  TableState& table_for_route(size_t route_index);
  /// Hands the table's batch to the writer thread (after the previous write finished).
  /// With `may_defer`, a batch that would wait behind a write in flight for longer
  /// than the backpressure wait stays where it is (see backpressured()).
  Status flush(TableState& table, bool may_defer = false);
  /// Starts the writer thread on what `in_flight_` holds.
  void launch_write();
  /// Takes in the result of the write in flight; with `block` false only if it is done.
  Status collect_write(bool block);
  /// Bookkeeping once the write in flight is done, with `status`.
  Status finish_write(Status status);
  /// The write failed on rows PostgreSQL refused: dead-letters them (tolerance all) or
  /// cuts their partitions before them (tolerance none), and prepares the rewrite.
  Status set_rejected_rows_aside();
  /// The rows of the in-flight batch to write, leaving out the excluded ones.
  void choose_rows_to_write();
  /// The record the stored offset was taken after came back with another timestamp.
  Status log_replaced(const RecordView& record, const LastAppliedRecord& expected);
  /// A record of a debezium route: decoded as a change event and applied per its kind.
  Status add_change(TopicState& topic, TableState& table, PartitionFacts& facts, const RecordView& record);
  /// A bad record found while decoding: stops (tolerance none) or dead-letters it.
  Status handle_undecodable(TableState& table, PartitionFacts& facts, const RecordView& record, DecodeError error);
  /// Learns the identity of a record already applied (a replay).
  void learn_identity(TableState& table, const RecordView& record);

  const Config& config_;
  TableWriter& writer_;
  const Clock& clock_;
  DedupIndex* dedup_;
  std::function<int64_t()> unix_seconds_;
  std::string identity_;  // scratch: the current record's dedup identity
  std::unique_ptr<RouteTable> own_routes_;  // unless share_routes() gave one
  RouteTable* routes_;
  RouteResolverFn resolver_;
  std::vector<std::unique_ptr<TableState>> tables_;  // by route index; null until the route is used
  std::unordered_map<std::string, TopicState, TransparentHash, std::equal_to<>> topics_;  // sink per topic
  std::unique_ptr<PartitionLedger> own_ledger_;  // unless share_ledger() gave one
  PartitionLedger* ledger_;
  uint32_t lane_ = 0;
  std::unique_ptr<InFlightWrite> in_flight_;
  Status failed_write_;  // sticky until reset()
  PipelineCounters counters_;
  std::function<void(const FlushReport&)> flush_listener_;
  std::function<void(const BadRecord&)> bad_record_listener_;
  std::function<void(size_t, std::string_view)> ignored_field_listener_;
  std::function<void(size_t, char)> change_event_listener_;
  /// "table\0field" of each field warned about once as too long to become a column.
  std::unordered_set<std::string> warned_long_fields_;
  BadRecordPolicy bad_records_;
  bool deferring_ = false;
  std::chrono::milliseconds backpressure_wait_{500};
};

}  // namespace kps
