#pragma once
// postgres.pool_size writer lanes. A lane is one PgWriter (its own connection) and one
// Pipeline (its own writer thread and transaction): the exactly-once bookkeeping of a
// lane is the single pipeline's, unchanged. Every owned partition is pinned to one lane
// (LaneRouter), so a lane's transaction carries only its partitions' rows and offsets.
// Partitions of a dedup sink all go to lane 0: identity claims are decided inside one
// pipeline. The lanes' pipelines keep their partitions' offset facts in one shared
// PartitionLedger, so durable offsets and stored offsets are read in one place. Driven by
// the connector's polling thread only.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "connector/clock.h"
#include "connector/config.h"
#include "connector/lane_router.h"
#include "connector/pipeline.h"
#include "connector/record.h"
#include "connector/route_table.h"
#include "connector/status.h"

namespace kps {

class PgWriter;

class WriterLanes {
 public:
  /// Creates config.postgres.pool_size lanes, not yet connected. `config`, `clock` and
  /// `dedup` must outlive the lanes; `dedup` goes to lane 0 alone.
  WriterLanes(const Config& config, const Clock& clock, DedupIndex* dedup);
  ~WriterLanes();
  WriterLanes(const WriterLanes&) = delete;
  WriterLanes& operator=(const WriterLanes&) = delete;

  size_t size() const { return lanes_.size(); }

  /// The routes every lane reads: the static sinks' from the start, the others' as their
  /// topics are routed.
  const RouteTable& routes() const { return routes_; }
  RouteTable& routes() { return routes_; }
  /// How a topic of a sink that is not static is routed on its first record (polling
  /// thread); see RouteResolverFn. Without one, such a record stops the lane (Fatal).
  void set_route_resolver(RouteResolverFn resolver) { resolver_ = std::move(resolver); }

  /// Connects every lane's writer, lane 0 first (it creates the tables). Not ok: the
  /// first failure; the lanes connected so far stay connected.
  Status open();
  /// Every lane's writer opens a fresh connection: after a transient failure. Call only
  /// while no write is in flight (after reset() or wait_for_writes()).
  Status reopen();
  /// A writer whose connection no write is using, for the connector's own reads
  /// (load_offsets): nullptr while every lane has a write in flight. It stays free until
  /// the polling thread starts another write, which it does not while it reads.
  PgWriter* idle_writer();

  /// Called on every lane's pipeline; see Pipeline.
  void set_flush_listener(const std::function<void(const FlushReport&)>& listener);
  void set_bad_record_listener(const std::function<void(const BadRecord&)>& listener);
  void set_ignored_field_listener(const std::function<void(size_t, std::string_view)>& listener);
  void set_change_event_listener(const std::function<void(size_t, char)>& listener);
  /// Each lane gets its own view of `sink`, so that a flush by one lane does not hide
  /// from another that its letters were acknowledged. `sink` must outlive the lanes.
  void set_dead_letter_sink(DeadLetterSink* sink);

  std::optional<size_t> sink_for_topic(std::string_view topic);
  /// Pins `tp` to a lane (if not pinned yet) and assigns it there; see Pipeline::assign.
  void assign(const TopicPartition& tp, std::optional<int64_t> stored_next_offset,
              std::optional<int64_t> dedup_untrusted_below, std::optional<LastAppliedRecord> last_applied);
  /// Revokes each partition on its lane and unpins it. Not ok: the most severe failure.
  Status revoke(std::span<const TopicPartition> partitions);
  /// Unpins partitions lost without a clean revoke (after reset()).
  void forget(std::span<const TopicPartition> partitions);

  Status add(const RecordView& record) { return lane_for(record).pipeline->add(record); }
  /// Only for a pinned partition: a late record of a revoked one must not become where a
  /// later owner of it with no stored offset fetches from.
  void note_fetched(const RecordView& record) {
    if (router_.lane_of(record.topic, record.partition)) lane_for(record).pipeline->note_fetched(record);
  }
  std::optional<int64_t> first_offset_fetched(const TopicPartition& tp) const;
  void replay(const RecordView& record) { lane_for(record).pipeline->replay(record); }
  void finish_replay(const TopicPartition& tp, int64_t complete_up_to);
  /// Every lane forgets its partitions and unwritten rows; the pins stay (the partitions
  /// are still owned, and the first offset fetched survives on their lane).
  void reset();

  /// Each of these runs on every lane and returns the most severe failure (Fatal, then
  /// Poison, then Transient), ok when every lane is.
  Status flush_due(Clock::time_point now);
  Status flush_all();
  Status wait_for_writes();

  bool write_in_flight() const;
  /// The oldest write in flight across the lanes.
  std::optional<WriteInFlight> write_in_flight_details() const;
  /// How many lanes have a write in flight.
  size_t writes_in_flight() const;
  /// Does the lane of `tp` have a write in flight (whose outcome would move its stored offset)?
  bool write_in_flight(const TopicPartition& tp) const;
  /// Some lane holds a full batch behind a slow write: every partition is paused.
  bool backpressured() const;
  /// The soonest any lane's batch becomes due.
  std::optional<std::chrono::milliseconds> time_until_next_flush(Clock::time_point now) const;
  std::vector<std::pair<TopicPartition, int64_t>> take_durable_offsets();
  /// The stored offsets of the partitions revoke() forgot: for the revoke callback to
  /// commit where Kafka's lag, then gone (see PartitionLedger::take_released).
  std::vector<std::pair<TopicPartition, int64_t>> take_released_offsets() { return ledger_.take_released(); }
  std::optional<int64_t> stored_next_offset(const TopicPartition& tp) const;
  bool has_unwritten_records(const TopicPartition& tp) const;
  /// Summed over the lanes.
  PipelineCounters counters() const;
  /// Every owned partition's offset facts.
  const PartitionLedger& ledger() const { return ledger_; }

 private:
  class LaneDeadLetters;
  struct Lane {
    std::unique_ptr<PgWriter> writer;
    std::unique_ptr<Pipeline> pipeline;
    std::unique_ptr<LaneDeadLetters> dead_letters;
  };
  Lane& lane_for(const RecordView& record) {
    // A record of a partition not pinned (revoked meanwhile) goes to lane 0, which does
    // not own it either and treats it as any pipeline treats a record of a stranger.
    return lanes_[router_.lane_of(record.topic, record.partition).value_or(0)];
  }
  const Lane* lane_of(const TopicPartition& tp) const;
  template <typename Call>
  Status on_every_lane(Call call);

  const Config& config_;
  RouteTable routes_;         // declared before the lanes, which read it
  RouteResolverFn resolver_;  // called through the lanes' pipelines
  PartitionLedger ledger_;  // every lane's partitions: declared first, so it outlives the pipelines
  std::vector<Lane> lanes_;
  LaneRouter router_;
};

}  // namespace kps
