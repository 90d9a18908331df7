#pragma once
// Plain data shared by the stages. No vendor headers here: the pipeline and its
// tests compile without librdkafka, libpq, simdjson or RocksDB.

#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace kps {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;

  auto operator<=>(const TopicPartition&) const = default;
  bool operator==(const TopicPartition&) const = default;
};

struct TopicPartitionHash {
  size_t operator()(const TopicPartition& tp) const {
    return std::hash<std::string>()(tp.topic) * 31u + static_cast<size_t>(tp.partition);
  }
};

/// Where a record came from; every error about a record names it.
struct SourcePosition {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
};

struct RecordHeader {
  std::string_view name;
  std::optional<std::string_view> value;  // nullopt: the header is present with a null value
};

/// One consumed Kafka record. Views into a message owned by the consumer: valid only
/// until that message is released, so stages copy what they keep.
struct RecordView {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::optional<int64_t> timestamp_ms;           // record timestamp, when the broker gave one
  std::optional<std::string_view> key;           // nullopt: null key
  std::optional<std::string_view> value;         // nullopt: tombstone
  std::span<const RecordHeader> headers;

  SourcePosition position() const { return {topic, partition, offset}; }

  /// What the record weighs against errors.max_record_bytes and batch.max_bytes: key,
  /// value and every header's name and value (a dead letter carries them all).
  size_t size_bytes() const {
    size_t total = key.value_or(std::string_view()).size() + value.value_or(std::string_view()).size();
    for (const RecordHeader& header : headers) {
      total += header.name.size() + header.value.value_or(std::string_view()).size();
    }
    return total;
  }
};

}  // namespace kps
