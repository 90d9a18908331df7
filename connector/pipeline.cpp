#include "connector/pipeline.h"

#include <algorithm>

#include "connector/decoder.h"

namespace kps {

struct Pipeline::TableState {
  TableState(size_t index, const SinkConfig& sink_config, const BatchConfig& limits, const Clock& clock)
      : sink_index(index), sink(sink_config), decoder(sink_config), batcher(limits, clock), reducer(sink_config) {}

  size_t sink_index;
  const SinkConfig& sink;
  Decoder decoder;
  Batcher batcher;
  KeyReducer reducer;
};

Pipeline::Pipeline(const Config& config, TableWriter& writer, const Clock& clock)
    : config_(config), writer_(writer) {
  tables_.reserve(config.sinks.size());
  for (size_t index = 0; index < config.sinks.size(); ++index) {
    tables_.push_back(std::make_unique<TableState>(index, config.sinks[index], config.batch, clock));
  }
}

Pipeline::~Pipeline() = default;

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
  TopicState& topic_entry = topic_state(topic);
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

void Pipeline::assign(const TopicPartition& tp, std::optional<int64_t> stored_next_offset) {
  PartitionState* state = partition_state(tp.topic, tp.partition);
  *state = PartitionState{};
  state->assigned = true;
  state->stored_next_offset = stored_next_offset;
  state->next_offset_to_consume = stored_next_offset;
}

Status Pipeline::revoke(std::span<const TopicPartition> partitions) {
  Status status;
  for (auto& table : tables_) {
    const bool holds_revoked = std::any_of(partitions.begin(), partitions.end(),
        [&](const TopicPartition& tp) { return table->batcher.holds(tp); });
    if (holds_revoked && status.is_ok()) status = flush(*table);
  }
  for (const TopicPartition& tp : partitions) *partition_state(tp.topic, tp.partition) = PartitionState{};
  return status;
}

void Pipeline::reset() {
  for (auto& table : tables_) table->batcher.clear();
  for (auto& [topic, topic_entry] : topics_) topic_entry.partitions.clear();
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
  PartitionState* state = partition_state(record.topic, record.partition);
  if (state == nullptr || !state->assigned) {
    // A record fetched before a revoke completed: its partition has a new owner now.
    return Status::ok();
  }
  if (state->next_offset_to_consume && record.offset < *state->next_offset_to_consume) {
    // Re-delivered (librdkafka may repeat records around a resume): already applied.
    ++counters_.records_redelivered;
    return Status::ok();
  }
  const std::optional<size_t> sink_index = topic_state(record.topic).sink_index;
  if (!sink_index) {
    return Status::error(ErrorKind::Fatal,
                         "no sink is configured for topic " + std::string(record.topic));
  }
  TableState& table = *tables_[*sink_index];
  CopyBuffer& tuples = table.batcher.tuple_buffer();
  const size_t tuple_begin = tuples.size();
  const bool is_tombstone = !record.value.has_value();
  std::optional<DecodeError> error;
  if (!is_tombstone) {
    error = table.decoder.decode_value(record, tuples);
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

Status Pipeline::flush(TableState& table) {
  const TableBatch& batch = table.batcher.batch();
  if (batch.empty()) return Status::ok();

  std::span<const ReducedRow> rows;
  if (table.sink.mode == WriteMode::Insert) {
    every_row_.resize(batch.rows.size());
    for (uint32_t index = 0; index < batch.rows.size(); ++index) every_row_[index] = {index, RowOp::Upsert};
    rows = every_row_;
  } else {
    rows = table.reducer.reduce(batch);
  }

  advances_.clear();
  for (const PartitionSpan& span : batch.partitions) {
    const PartitionState* state = find_partition_state(span.topic_partition);
    advances_.push_back({span.topic_partition, state ? state->stored_next_offset : std::nullopt,
                         span.next_offset});
  }

  const Status status = writer_.write(WriteRequest{table.sink_index, batch, rows, advances_});
  if (!status.is_ok()) return status;

  for (const OffsetAdvance& advance : advances_) {
    PartitionState* state = partition_state(advance.topic_partition.topic, advance.topic_partition.partition);
    state->stored_next_offset = advance.next_offset;
    state->commit_pending = true;
  }
  counters_.rows_written += rows.size();
  ++counters_.batches_written;
  table.batcher.clear();
  return Status::ok();
}

Status Pipeline::flush_due() {
  for (auto& table : tables_) {
    if (table->batcher.due()) {
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
  return Status::ok();
}

std::optional<std::chrono::milliseconds> Pipeline::time_until_next_flush() const {
  std::optional<std::chrono::milliseconds> soonest;
  for (const auto& table : tables_) {
    const auto remaining = table->batcher.time_until_due();
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
  return std::any_of(tables_.begin(), tables_.end(),
                     [&](const auto& table) { return table->batcher.holds(tp); });
}

}  // namespace kps
