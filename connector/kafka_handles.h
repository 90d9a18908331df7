#pragma once
// One RAII owner per librdkafka handle, shared by the librdkafka adapters (kafka_*.cpp,
// dead_letter_producer.cpp): the only files that include this header, and so librdkafka.

#include <librdkafka/rdkafka.h>

#include <memory>
#include <span>
#include <string>
#include <utility>

#include "connector/record.h"

namespace kps::rdkafka {

struct DestroyHandle {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
struct DestroyConf {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
struct DestroyMessage {
  void operator()(rd_kafka_message_t* message) const { rd_kafka_message_destroy(message); }
};
struct DestroyPartitionList {
  void operator()(rd_kafka_topic_partition_list_t* list) const { rd_kafka_topic_partition_list_destroy(list); }
};
struct DestroyMetadata {
  void operator()(const rd_kafka_metadata_t* metadata) const { rd_kafka_metadata_destroy(metadata); }
};

using Handle = std::unique_ptr<rd_kafka_t, DestroyHandle>;
/// Until rd_kafka_new() succeeds; then release() it: the handle owns it from there on.
using Conf = std::unique_ptr<rd_kafka_conf_t, DestroyConf>;
using Message = std::unique_ptr<rd_kafka_message_t, DestroyMessage>;
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, DestroyPartitionList>;
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, DestroyMetadata>;

inline PartitionList make_partition_list(std::span<const TopicPartition> partitions) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const TopicPartition& tp : partitions) rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
  return list;
}

/// Each partition with its offset set (a next offset to commit, a position, a timestamp to look up).
inline PartitionList make_partition_list(std::span<const std::pair<TopicPartition, int64_t>> offsets) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const auto& [tp, offset] : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = offset;
  }
  return list;
}

}  // namespace kps::rdkafka
