#include "connector/batcher.h"

#include <algorithm>

namespace kps {

Batcher::Batcher(const BatchConfig& limits, const Clock& clock) : limits_(limits), clock_(clock) {}

uint32_t Batcher::note_record(const RecordView& record) {
  if (!batch_.oldest_record_at) batch_.oldest_record_at = clock_.now();
  if (record.timestamp_ms && (!batch_.oldest_record_timestamp_ms || *record.timestamp_ms < *batch_.oldest_record_timestamp_ms)) {
    batch_.oldest_record_timestamp_ms = record.timestamp_ms;
  }
  batch_.message_bytes += record.size_bytes();
  for (uint32_t slot = 0; slot < batch_.partitions.size(); ++slot) {
    PartitionSpan& span = batch_.partitions[slot];
    if (span.topic_partition.partition == record.partition &&
        span.topic_partition.topic == record.topic) {
      span.next_offset = record.offset + 1;
      span.last_timestamp_ms = record.timestamp_ms;
      return slot;
    }
  }
  batch_.partitions.push_back({TopicPartition{std::string(record.topic), record.partition}, record.offset,
                               record.offset + 1, record.timestamp_ms});
  return static_cast<uint32_t>(batch_.partitions.size() - 1);
}

void Batcher::add_row(const RecordView& record, size_t tuple_begin, bool is_delete) {
  const uint32_t slot = note_record(record);
  batch_.rows.push_back({static_cast<uint32_t>(tuple_begin),
                         static_cast<uint32_t>(batch_.tuples.size() - tuple_begin), slot,
                         record.offset, is_delete});
}

void Batcher::add_without_row(const RecordView& record) { note_record(record); }

bool Batcher::full() const {
  return batch_.rows.size() >= limits_.max_rows || batch_.message_bytes >= limits_.max_bytes ||
         // Tuple offsets are 32-bit: never let one batch's buffer approach 4 GiB.
         batch_.tuples.size() >= (1u << 31);
}

bool Batcher::due(Clock::time_point now) const {
  const auto remaining = time_until_due(now);
  return remaining && remaining->count() == 0;
}

std::optional<std::chrono::milliseconds> Batcher::time_until_due(Clock::time_point now) const {
  if (!batch_.oldest_record_at) return std::nullopt;
  const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - *batch_.oldest_record_at);
  return std::max(std::chrono::milliseconds(0), limits_.max_latency - age);
}

void Batcher::clear() {
  batch_.tuples.clear();
  batch_.rows.clear();
  batch_.partitions.clear();
  batch_.message_bytes = 0;
  batch_.oldest_record_at.reset();
  batch_.oldest_record_timestamp_ms.reset();
  batch_.truncate_first = false;
}

}  // namespace kps
