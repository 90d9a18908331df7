#include "connector/pipeline.h"

#include <algorithm>
#include <ctime>
#include <utility>
#include <memory>
#include <unordered_set>

#include "connector/decoder.h"
#include "connector/failpoint.h"
#include "connector/log.h"

namespace kps {

/// The dedup identities of one batch (or one replay run), copied into chunks that never
/// move, so the set can hold plain views.
class Pipeline::IdentitySet {
 public:
  /// Inserts `identity`; false when it was already there.
  bool insert(std::string_view identity) {
    if (set_.find(identity) != set_.end()) return false;
    set_.insert(store(identity));
    return true;
  }
  bool contains(std::string_view identity) const { return set_.find(identity) != set_.end(); }
  std::vector<std::string_view> views() const { return {set_.begin(), set_.end()}; }
  size_t size() const { return set_.size(); }
  void clear() {
    set_.clear();
    // Keep one chunk: a steady stream of batches then allocates no chunk at all.
    chunks_.resize(std::min<size_t>(chunks_.size(), 1));
    chunk_sizes_.resize(chunks_.size());
    used_in_last_chunk_ = 0;
  }

 private:
  static constexpr size_t kChunkBytes = 64 * 1024;

  std::string_view store(std::string_view identity) {
    if (chunks_.empty() || used_in_last_chunk_ + identity.size() > chunk_sizes_.back()) {
      const size_t size = std::max(kChunkBytes, identity.size());
      chunks_.push_back(std::make_unique<char[]>(size));
      chunk_sizes_.push_back(size);
      used_in_last_chunk_ = 0;
    }
    char* destination = chunks_.back().get() + used_in_last_chunk_;
    std::copy(identity.begin(), identity.end(), destination);
    used_in_last_chunk_ += identity.size();
    return {destination, identity.size()};
  }

  std::unordered_set<std::string_view> set_;
  std::vector<std::unique_ptr<char[]>> chunks_;
  std::vector<size_t> chunk_sizes_;
  size_t used_in_last_chunk_ = 0;
};

struct Pipeline::TableState {
  TableState(size_t index, const SinkConfig& sink_config, const BatchConfig& limits, const Clock& clock)
      : sink_index(index), sink(sink_config), decoder(sink_config), batcher(limits, clock), reducer(sink_config) {}

  size_t sink_index;
  const SinkConfig& sink;
  Decoder decoder;
  Batcher batcher;
  KeyReducer reducer;
  uint64_t dedup_dropped_in_batch = 0;
  IdentitySet batch_identities;   // applied by the batch once it commits
  IdentitySet replay_identities;  // already applied: re-read to rebuild the dedup state
  std::vector<std::pair<TopicPartition, int64_t>> replay_progress;
};

/// The batch being written on the writer thread, with everything the write reads. It
/// swaps buffers with the table it came from, so both keep their capacity.
struct Pipeline::InFlightWrite {
  TableState* table = nullptr;  // null: nothing in flight
  TableBatch batch;
  IdentitySet identities;
  uint64_t dedup_dropped = 0;
  std::vector<ReducedRow> rows;
  std::vector<OffsetAdvance> advances;
  std::chrono::steady_clock::time_point started_at;
  std::future<Status> result;
};

Pipeline::Pipeline(const Config& config, TableWriter& writer, const Clock& clock, DedupIndex* dedup,
                   std::function<int64_t()> unix_seconds)
    : config_(config),
      writer_(writer),
      clock_(clock),
      dedup_(dedup),
      unix_seconds_(unix_seconds ? std::move(unix_seconds) : [] { return static_cast<int64_t>(std::time(nullptr)); }),
      in_flight_(std::make_unique<InFlightWrite>()) {
  tables_.reserve(config.sinks.size());
  for (size_t index = 0; index < config.sinks.size(); ++index) {
    tables_.push_back(std::make_unique<TableState>(index, config.sinks[index], config.batch, clock));
  }
}

Pipeline::~Pipeline() {
  if (in_flight_->table != nullptr) in_flight_->result.wait();
}

std::optional<size_t> Pipeline::sink_for_topic(std::string_view topic) {
  return topic_state(topic).sink_index;
}

Pipeline::TopicState& Pipeline::topic_state(std::string_view topic) {
  auto found = topics_.find(topic);
  if (found != topics_.end()) return found->second;
  TopicState state;
  // The first sink that names the topic wins; validation rejects two sinks with the
  // same topic, so only overlapping patterns make this order matter.
  for (size_t index = 0; index < config_.sinks.size(); ++index) {
    if (sink_matches_topic(config_.sinks[index], topic)) {
      state.sink_index = index;
      break;
    }
  }
  return topics_.emplace(std::string(topic), std::move(state)).first->second;
}

Pipeline::PartitionState* Pipeline::partition_state(std::string_view topic, int32_t partition) {
  return partition_state(topic_state(topic), partition);
}

Pipeline::PartitionState* Pipeline::partition_state(TopicState& topic_entry, int32_t partition) {
  if (partition < 0) return nullptr;
  if (static_cast<size_t>(partition) >= topic_entry.partitions.size()) {
    topic_entry.partitions.resize(static_cast<size_t>(partition) + 1);
  }
  return &topic_entry.partitions[static_cast<size_t>(partition)];
}

const Pipeline::PartitionState* Pipeline::find_partition_state(const TopicPartition& tp) const {
  const auto found = topics_.find(std::string_view(tp.topic));
  if (found == topics_.end() || tp.partition < 0 ||
      static_cast<size_t>(tp.partition) >= found->second.partitions.size()) {
    return nullptr;
  }
  return &found->second.partitions[static_cast<size_t>(tp.partition)];
}

void Pipeline::assign(const TopicPartition& tp, std::optional<int64_t> stored_next_offset,
                      std::optional<int64_t> first_offset_to_fetch, std::optional<int64_t> dedup_untrusted_below) {
  PartitionState* state = partition_state(tp.topic, tp.partition);
  *state = PartitionState{};
  state->assigned = true;
  state->stored_next_offset = stored_next_offset;
  state->next_offset_to_consume = first_offset_to_fetch ? first_offset_to_fetch : stored_next_offset;
  state->dedup_untrusted_below = dedup_untrusted_below;
}

Status Pipeline::revoke(std::span<const TopicPartition> partitions) {
  Status status;
  for (auto& table : tables_) {
    const bool holds_revoked = std::any_of(partitions.begin(), partitions.end(),
        [&](const TopicPartition& tp) { return table->batcher.holds(tp); });
    if (holds_revoked && status.is_ok()) status = flush(*table);
  }
  if (status.is_ok()) status = wait_for_writes();
  for (const TopicPartition& tp : partitions) {
    *partition_state(tp.topic, tp.partition) = PartitionState{};
    forget_first_fetched(tp);
  }
  return status;
}

void Pipeline::note_fetched(const RecordView& record) { note_fetched(topic_state(record.topic), record); }

void Pipeline::note_fetched(TopicState& topic_entry, const RecordView& record) {
  if (record.partition < 0) return;
  const auto partition = static_cast<size_t>(record.partition);
  if (partition >= topic_entry.first_fetched.size()) topic_entry.first_fetched.resize(partition + 1);
  if (!topic_entry.first_fetched[partition]) topic_entry.first_fetched[partition] = record.offset;
}

std::optional<int64_t> Pipeline::first_offset_fetched(const TopicPartition& tp) const {
  const auto found = topics_.find(std::string_view(tp.topic));
  if (found == topics_.end() || tp.partition < 0 ||
      static_cast<size_t>(tp.partition) >= found->second.first_fetched.size()) {
    return std::nullopt;
  }
  return found->second.first_fetched[static_cast<size_t>(tp.partition)];
}

void Pipeline::reset() {
  if (in_flight_->table != nullptr) {
    in_flight_->result.wait();  // its outcome no longer matters: PostgreSQL is re-read
    in_flight_->table = nullptr;
    in_flight_->batch.tuples.clear();
    in_flight_->batch = TableBatch{};
  }
  failed_write_ = Status::ok();
  for (auto& table : tables_) {
    table->batcher.clear();
    table->dedup_dropped_in_batch = 0;
    table->batch_identities.clear();
    table->replay_identities.clear();
    table->replay_progress.clear();
  }
  for (auto& [topic, topic_entry] : topics_) topic_entry.partitions.clear();
}

void Pipeline::forget_first_fetched(const TopicPartition& tp) {
  TopicState& topic_entry = topic_state(tp.topic);
  if (tp.partition >= 0 && static_cast<size_t>(tp.partition) < topic_entry.first_fetched.size()) {
    topic_entry.first_fetched[static_cast<size_t>(tp.partition)].reset();
  }
}

void Pipeline::learn_identity(TableState& table, const RecordView& record) {
  const bool within_ttl =
      !record.timestamp_ms ||
      *record.timestamp_ms / 1000 >= unix_seconds_() - static_cast<int64_t>(table.sink.dedup->ttl.count());
  if (record.value && within_ttl) {
    CopyBuffer& scratch = table.batcher.tuple_buffer();
    const size_t scratch_begin = scratch.size();
    const bool decoded = !table.decoder.decode_value(record, scratch, &identity_);
    scratch.truncate(scratch_begin);
    if (decoded && !identity_.empty()) table.replay_identities.insert(identity_);
  }
  const TopicPartition tp{std::string(record.topic), record.partition};
  auto progress = std::find_if(table.replay_progress.begin(), table.replay_progress.end(),
                               [&](const auto& entry) { return entry.first == tp; });
  if (progress == table.replay_progress.end()) {
    table.replay_progress.emplace_back(tp, record.offset + 1);
  } else {
    progress->second = std::max(progress->second, record.offset + 1);
  }
  ++counters_.dedup_replayed;
}

void Pipeline::replay(const RecordView& record) {
  const std::optional<size_t> sink_index = topic_state(record.topic).sink_index;
  if (!sink_index || dedup_ == nullptr || !tables_[*sink_index]->sink.dedup) return;
  learn_identity(*tables_[*sink_index], record);
}

void Pipeline::finish_replay(const TopicPartition& tp, int64_t complete_up_to) {
  const std::optional<size_t> sink_index = topic_state(tp.topic).sink_index;
  if (!sink_index || dedup_ == nullptr || !tables_[*sink_index]->sink.dedup) return;
  TableState& table = *tables_[*sink_index];
  auto progress = std::find_if(table.replay_progress.begin(), table.replay_progress.end(),
                               [&](const auto& entry) { return entry.first == tp; });
  if (progress == table.replay_progress.end()) {
    table.replay_progress.emplace_back(tp, complete_up_to);
  } else {
    progress->second = std::max(progress->second, complete_up_to);
  }
  record_replayed_identities(table);
}

Status Pipeline::bad_record(const RecordView& record, std::string_view column, std::string_view reason) {
  std::string message = "bad record at topic=" + std::string(record.topic) +
                        " partition=" + std::to_string(record.partition) +
                        " offset=" + std::to_string(record.offset);
  if (!column.empty()) message += " column=" + std::string(column);
  message += ": ";
  message += reason;
  return Status::error(ErrorKind::Poison, std::move(message));
}

Status Pipeline::add(const RecordView& record) {
  // One lookup of the topic per record: this is the per-record path.
  TopicState& topic_entry = topic_state(record.topic);
  note_fetched(topic_entry, record);
  if (!failed_write_.is_ok()) return failed_write_;
  PartitionState* state = partition_state(topic_entry, record.partition);
  if (state == nullptr || !state->assigned) {
    // A record fetched before a revoke completed: its partition has a new owner now.
    return Status::ok();
  }
  const std::optional<size_t> sink_index = topic_entry.sink_index;
  if (!sink_index) {
    return Status::error(ErrorKind::Fatal,
                         "no sink is configured for topic " + std::string(record.topic));
  }
  TableState& table = *tables_[*sink_index];
  if (state->next_offset_to_consume && record.offset < *state->next_offset_to_consume) {
    // Re-delivered (librdkafka may repeat records around a resume): already applied.
    ++counters_.records_redelivered;
    return Status::ok();
  }
  if (state->stored_next_offset && record.offset < *state->stored_next_offset) {
    // Applied before, re-read on purpose so the dedup state learns its identity.
    state->next_offset_to_consume = record.offset + 1;
    if (table.sink.dedup && dedup_ != nullptr) {
      learn_identity(table, record);
    } else {
      ++counters_.records_redelivered;
    }
    return Status::ok();
  }
  CopyBuffer& tuples = table.batcher.tuple_buffer();
  const size_t tuple_begin = tuples.size();
  const bool is_tombstone = !record.value.has_value();
  std::optional<DecodeError> error;
  if (!is_tombstone) {
    const bool deduplicating = table.sink.dedup && dedup_ != nullptr;
    error = table.decoder.decode_value(record, tuples, deduplicating ? &identity_ : nullptr);
    const bool trust_store = !state->dedup_untrusted_below || record.offset >= *state->dedup_untrusted_below;
    if (!error && deduplicating && drop_duplicate(table, record, tuple_begin, trust_store)) {
      state->next_offset_to_consume = record.offset + 1;
      if (table.batcher.full()) return flush(table);
      return Status::ok();
    }
  } else if (table.sink.delete_on_tombstone) {
    error = table.decoder.decode_tombstone_key(record, tuples);
  } else {
    error = DecodeError{"", "tombstone (null value) but delete_on_tombstone is false for table " +
                                quote_qualified_name(table.sink.table)};
  }
  if (error) return bad_record(record, error->column, error->reason);

  table.batcher.add_row(record, tuple_begin, is_tombstone);
  state->next_offset_to_consume = record.offset + 1;
  ++counters_.records_consumed;
  if (table.batcher.full()) return flush(table);
  return Status::ok();
}

bool Pipeline::drop_duplicate(TableState& table, const RecordView& record, size_t tuple_begin, bool trust_store) {
  if (identity_.empty()) return false;  // no identity: never dropped
  const bool in_flight = in_flight_->table == &table && in_flight_->identities.contains(identity_);
  const bool duplicate = in_flight || table.batch_identities.contains(identity_) ||
                         table.replay_identities.contains(identity_) ||
                         (trust_store && dedup_->contains(table.sink_index, identity_));
  if (!duplicate) {
    table.batch_identities.insert(identity_);
    return false;
  }
  table.batcher.tuple_buffer().truncate(tuple_begin);
  table.batcher.add_without_row(record);
  ++counters_.dedup_dropped;
  ++table.dedup_dropped_in_batch;
  return true;
}

void Pipeline::record_dedup(const DedupUpdate& update) {
  failpoint("before_dedup_write");
  if (const Status status = dedup_->record(update); !status) {
    // Markers stop moving from here on, so the next start re-reads the gap from Kafka:
    // coverage is lost for this run, never correctness.
    dedup_recording_failed_ = true;
    log::error("dedup state write failed, no longer recording identities in this run: ", status.message());
  }
}

void Pipeline::record_replayed_identities(TableState& table) {
  if (table.replay_progress.empty()) return;
  if (table.sink.dedup && dedup_ != nullptr && !dedup_recording_failed_) {
    DedupUpdate update;
    update.sink = table.sink_index;
    update.applied_at_seconds = unix_seconds_();
    update.identities = table.replay_identities.views();
    update.complete_up_to = table.replay_progress;
    record_dedup(update);
  }
  table.replay_identities.clear();
  table.replay_progress.clear();
}

Status Pipeline::flush(TableState& table) {
  if (!failed_write_.is_ok()) return failed_write_;
  record_replayed_identities(table);
  if (table.batcher.batch().empty()) return Status::ok();
  if (Status previous = collect_write(/*block=*/true); !previous.is_ok()) return previous;

  InFlightWrite& write = *in_flight_;
  table.batcher.swap_batch(write.batch);
  std::swap(write.identities, table.batch_identities);
  write.dedup_dropped = std::exchange(table.dedup_dropped_in_batch, 0);
  const TableBatch& batch = write.batch;
  if (table.sink.mode == WriteMode::Insert) {
    write.rows.resize(batch.rows.size());
    for (uint32_t index = 0; index < batch.rows.size(); ++index) write.rows[index] = {index, RowOp::Upsert};
  } else {
    const std::vector<ReducedRow>& reduced = table.reducer.reduce(batch);
    write.rows.assign(reduced.begin(), reduced.end());
  }
  write.advances.clear();
  for (const PartitionSpan& span : batch.partitions) {
    // The previous write has been taken in, so the stored offset is current.
    const PartitionState* state = find_partition_state(span.topic_partition);
    write.advances.push_back({span.topic_partition, state ? state->stored_next_offset : std::nullopt,
                              span.next_offset});
  }
  write.table = &table;
  write.started_at = std::chrono::steady_clock::now();
  write.result = std::async(std::launch::async, [this, &write] {
    return writer_.write(WriteRequest{write.table->sink_index, write.batch, write.rows, write.advances});
  });
  return Status::ok();
}

Status Pipeline::collect_write(bool block) {
  InFlightWrite& write = *in_flight_;
  if (write.table == nullptr) return failed_write_;
  if (!block && write.result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return Status::ok();
  const Status status = write.result.get();
  TableState& table = *write.table;
  write.table = nullptr;
  if (!status.is_ok()) {
    failed_write_ = status;
    write.batch.tuples.clear();
    write.batch = TableBatch{};
    write.identities.clear();
    return status;
  }
  if (flush_listener_) {
    flush_listener_(FlushReport{table.sink_index, write.batch, write.rows.size(), write.dedup_dropped,
                                std::chrono::steady_clock::now() - write.started_at});
  }
  for (const OffsetAdvance& advance : write.advances) {
    PartitionState* state = partition_state(advance.topic_partition.topic, advance.topic_partition.partition);
    // A partition revoked meanwhile was waited for, so this write belongs to the current owner.
    state->stored_next_offset = advance.next_offset;
    state->commit_pending = true;
  }
  counters_.rows_written += write.rows.size();
  ++counters_.batches_written;
  if (table.sink.dedup && dedup_ != nullptr && !dedup_recording_failed_) {
    DedupUpdate update;
    update.sink = table.sink_index;
    update.applied_at_seconds = unix_seconds_();
    update.identities = write.identities.views();
    for (const OffsetAdvance& advance : write.advances) {
      update.complete_up_to.emplace_back(advance.topic_partition, advance.next_offset);
    }
    record_dedup(update);
  }
  write.identities.clear();
  write.batch.tuples.clear();
  write.batch.rows.clear();
  write.batch.partitions.clear();
  write.batch.message_bytes = 0;
  write.batch.oldest_record_at.reset();
  write.batch.oldest_record_timestamp_ms.reset();
  return Status::ok();
}

Status Pipeline::wait_for_writes() { return collect_write(/*block=*/true); }

bool Pipeline::write_in_flight() const { return in_flight_->table != nullptr; }

Status Pipeline::flush_due(Clock::time_point now) {
  if (Status finished = collect_write(/*block=*/false); !finished.is_ok()) return finished;
  for (auto& table : tables_) {
    if (table->batcher.due(now)) {
      Status status = flush(*table);
      if (!status.is_ok()) return status;
    }
  }
  return Status::ok();
}

Status Pipeline::flush_all() {
  for (auto& table : tables_) {
    Status status = flush(*table);
    if (!status.is_ok()) return status;
  }
  return wait_for_writes();
}

std::optional<std::chrono::milliseconds> Pipeline::time_until_next_flush(Clock::time_point now) const {
  std::optional<std::chrono::milliseconds> soonest;
  for (const auto& table : tables_) {
    const auto remaining = table->batcher.time_until_due(now);
    if (remaining && (!soonest || *remaining < *soonest)) soonest = remaining;
  }
  return soonest;
}

std::vector<std::pair<TopicPartition, int64_t>> Pipeline::take_durable_offsets() {
  std::vector<std::pair<TopicPartition, int64_t>> durable;
  for (auto& [topic, topic_entry] : topics_) {
    for (size_t partition = 0; partition < topic_entry.partitions.size(); ++partition) {
      PartitionState& state = topic_entry.partitions[partition];
      if (!state.commit_pending || !state.stored_next_offset) continue;
      durable.push_back({TopicPartition{topic, static_cast<int32_t>(partition)}, *state.stored_next_offset});
      state.commit_pending = false;
    }
  }
  return durable;
}

std::optional<int64_t> Pipeline::stored_next_offset(const TopicPartition& tp) const {
  const PartitionState* state = find_partition_state(tp);
  return state ? state->stored_next_offset : std::nullopt;
}

bool Pipeline::has_unwritten_records(const TopicPartition& tp) const {
  if (in_flight_->table != nullptr && in_flight_->batch.find_partition(tp) != nullptr) return true;
  return std::any_of(tables_.begin(), tables_.end(),
                     [&](const auto& table) { return table->batcher.holds(tp); });
}

}  // namespace kps
