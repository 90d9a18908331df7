#include "connector/writer_lanes.h"

#include <algorithm>

#include "connector/pg_writer.h"

namespace kps {
namespace {

int severity(const Status& status) {
  if (status.is_ok()) return 0;
  switch (status.kind()) {
    case ErrorKind::Transient: return 1;
    case ErrorKind::Poison: return 2;
    case ErrorKind::Fatal: return 3;
  }
  return 3;
}

}  // namespace

/// One lane's view of the shared dead letter sink. The sink is flushed as a whole, so one
/// lane's flush may acknowledge another's letters; each lane still flushes (cheaply) once
/// after queueing, which is when its pipeline reports its bad records as acknowledged.
class WriterLanes::LaneDeadLetters final : public DeadLetterSink {
 public:
  explicit LaneDeadLetters(DeadLetterSink& shared) : shared_(shared) {}
  Status enqueue(const RecordView& record, const BadRecord& bad) override {
    queued_ = true;
    return shared_.enqueue(record, bad);
  }
  Status enqueue_released(std::span<const BadRecord> bad) override {
    queued_ = true;
    return shared_.enqueue_released(bad);
  }
  Status flush() override {
    Status status = shared_.flush();
    if (status) queued_ = false;
    return status;
  }
  bool has_unflushed() const override { return queued_ || shared_.has_unflushed(); }

 private:
  DeadLetterSink& shared_;
  bool queued_ = false;
};

WriterLanes::WriterLanes(const Config& config, const Clock& clock, DedupIndex* dedup)
    : config_(config), routes_(config), router_(static_cast<size_t>(std::max(config.postgres.pool_size, 1))) {
  lanes_.resize(router_.lanes());
  for (size_t index = 0; index < lanes_.size(); ++index) {
    Lane& lane = lanes_[index];
    lane.writer = std::make_unique<PgWriter>(config, clock);
    lane.writer->share_routes(routes_);
    lane.pipeline = std::make_unique<Pipeline>(config, *lane.writer, clock, index == 0 ? dedup : nullptr);
    lane.pipeline->share_ledger(ledger_, static_cast<uint32_t>(index));
    lane.pipeline->share_routes(routes_, [this](size_t sink_index, const RecordView& first_record) -> Result<size_t> {
      if (!resolver_) {
        return Status::error(ErrorKind::Fatal, "topic " + std::string(first_record.topic) +
                                                   " cannot be routed: no route resolver is set");
      }
      return resolver_(sink_index, first_record);
    });
  }
}

WriterLanes::~WriterLanes() = default;

Status WriterLanes::open() {
  for (Lane& lane : lanes_) {
    if (Status status = lane.writer->open(); !status) return status;
  }
  return Status::ok();
}

Status WriterLanes::reopen() {
  for (Lane& lane : lanes_) {
    if (Status status = lane.writer->reopen(); !status) return status;
  }
  return Status::ok();
}

PgWriter* WriterLanes::idle_writer() {
  for (Lane& lane : lanes_) {
    if (!lane.pipeline->write_in_flight()) return lane.writer.get();
  }
  return nullptr;
}

void WriterLanes::set_flush_listener(const std::function<void(const FlushReport&)>& listener) {
  for (Lane& lane : lanes_) lane.pipeline->set_flush_listener(listener);
}

void WriterLanes::set_bad_record_listener(const std::function<void(const BadRecord&)>& listener) {
  for (Lane& lane : lanes_) lane.pipeline->set_bad_record_listener(listener);
}

void WriterLanes::set_ignored_field_listener(const std::function<void(size_t, std::string_view)>& listener) {
  for (Lane& lane : lanes_) lane.pipeline->set_ignored_field_listener(listener);
}

void WriterLanes::set_change_event_listener(const std::function<void(size_t, char)>& listener) {
  for (Lane& lane : lanes_) lane.pipeline->set_change_event_listener(listener);
}

void WriterLanes::set_dead_letter_sink(DeadLetterSink* sink) {
  for (Lane& lane : lanes_) {
    lane.dead_letters = sink != nullptr ? std::make_unique<LaneDeadLetters>(*sink) : nullptr;
    lane.pipeline->set_dead_letter_sink(lane.dead_letters.get());
  }
}

std::optional<size_t> WriterLanes::sink_for_topic(std::string_view topic) {
  return lanes_.front().pipeline->sink_for_topic(topic);
}

void WriterLanes::assign(const TopicPartition& tp, std::optional<int64_t> stored_next_offset,
                         std::optional<int64_t> dedup_untrusted_below, std::optional<LastAppliedRecord> last_applied) {
  const std::optional<size_t> sink_index = sink_for_topic(tp.topic);
  const bool dedup_sink = sink_index && config_.sinks[*sink_index].dedup.has_value();
  const size_t lane = router_.pin(tp, dedup_sink);
  lanes_[lane].pipeline->assign(tp, stored_next_offset, std::nullopt, dedup_untrusted_below, last_applied);
}

Status WriterLanes::revoke(std::span<const TopicPartition> partitions) {
  std::vector<std::vector<TopicPartition>> by_lane(lanes_.size());
  for (const TopicPartition& tp : partitions) {
    // Never pinned (assigned while recovering, before the recovery re-assigned it): lane 0
    // forgets it as a stranger.
    by_lane[router_.lane_of(tp).value_or(0)].push_back(tp);
    router_.unpin(tp);
  }
  Status worst;
  for (size_t index = 0; index < lanes_.size(); ++index) {
    if (by_lane[index].empty()) continue;
    Status status = lanes_[index].pipeline->revoke(by_lane[index]);
    if (severity(status) > severity(worst)) worst = std::move(status);
  }
  return worst;
}

void WriterLanes::forget(std::span<const TopicPartition> partitions) {
  for (const TopicPartition& tp : partitions) router_.unpin(tp);
}

const WriterLanes::Lane* WriterLanes::lane_of(const TopicPartition& tp) const {
  const std::optional<size_t> lane = router_.lane_of(tp);
  return lane ? &lanes_[*lane] : nullptr;
}

std::optional<int64_t> WriterLanes::first_offset_fetched(const TopicPartition& tp) const {
  return ledger_.first_offset_fetched(tp);
}

void WriterLanes::finish_replay(const TopicPartition& tp, int64_t complete_up_to) {
  const std::optional<size_t> lane = router_.lane_of(tp);
  lanes_[lane.value_or(0)].pipeline->finish_replay(tp, complete_up_to);
}

void WriterLanes::reset() {
  for (Lane& lane : lanes_) lane.pipeline->reset();
}

template <typename Call>
Status WriterLanes::on_every_lane(Call call) {
  Status worst;
  for (Lane& lane : lanes_) {
    Status status = call(*lane.pipeline);
    if (severity(status) > severity(worst)) worst = std::move(status);
  }
  return worst;
}

Status WriterLanes::flush_due(Clock::time_point now) {
  return on_every_lane([now](Pipeline& pipeline) { return pipeline.flush_due(now); });
}

Status WriterLanes::flush_all() {
  // Every lane's due batches go out first, so the lanes' last writes overlap; then each
  // lane writes the rest and waits for it.
  const Status started = on_every_lane([](Pipeline& pipeline) { return pipeline.flush_due(); });
  const Status flushed = on_every_lane([](Pipeline& pipeline) { return pipeline.flush_all(); });
  return severity(started) > severity(flushed) ? started : flushed;
}

Status WriterLanes::wait_for_writes() {
  return on_every_lane([](Pipeline& pipeline) { return pipeline.wait_for_writes(); });
}

bool WriterLanes::write_in_flight() const {
  return std::any_of(lanes_.begin(), lanes_.end(), [](const Lane& lane) { return lane.pipeline->write_in_flight(); });
}

size_t WriterLanes::writes_in_flight() const {
  return static_cast<size_t>(std::count_if(lanes_.begin(), lanes_.end(),
                                           [](const Lane& lane) { return lane.pipeline->write_in_flight(); }));
}

bool WriterLanes::write_in_flight(const TopicPartition& tp) const {
  const Lane* lane = lane_of(tp);
  return lane != nullptr && lane->pipeline->write_in_flight();
}

std::optional<WriteInFlight> WriterLanes::write_in_flight_details() const {
  std::optional<WriteInFlight> oldest;
  for (const Lane& lane : lanes_) {
    const std::optional<WriteInFlight> write = lane.pipeline->write_in_flight_details();
    if (write && (!oldest || write->started_at < oldest->started_at)) oldest = write;
  }
  return oldest;
}

bool WriterLanes::backpressured() const {
  return std::any_of(lanes_.begin(), lanes_.end(), [](const Lane& lane) { return lane.pipeline->backpressured(); });
}

std::optional<std::chrono::milliseconds> WriterLanes::time_until_next_flush(Clock::time_point now) const {
  std::optional<std::chrono::milliseconds> soonest;
  for (const Lane& lane : lanes_) {
    const auto until = lane.pipeline->time_until_next_flush(now);
    if (until && (!soonest || *until < *soonest)) soonest = until;
  }
  return soonest;
}

std::vector<std::pair<TopicPartition, int64_t>> WriterLanes::take_durable_offsets() { return ledger_.take_durable(); }

std::optional<int64_t> WriterLanes::stored_next_offset(const TopicPartition& tp) const {
  return ledger_.stored_next_offset(tp);
}

bool WriterLanes::has_unwritten_records(const TopicPartition& tp) const {
  const Lane* lane = lane_of(tp);
  return lane != nullptr && lane->pipeline->has_unwritten_records(tp);
}

PipelineCounters WriterLanes::counters() const {
  PipelineCounters sum;
  for (const Lane& lane : lanes_) {
    const PipelineCounters& counters = lane.pipeline->counters();
    sum.records_consumed += counters.records_consumed;
    sum.records_redelivered += counters.records_redelivered;
    sum.dedup_dropped += counters.dedup_dropped;
    sum.dedup_replayed += counters.dedup_replayed;
    sum.rows_written += counters.rows_written;
    sum.batches_written += counters.batches_written;
    sum.bad_records += counters.bad_records;
  }
  return sum;
}

}  // namespace kps
