#pragma once
// One RAII owner per librdkafka object the adapters create or are handed to free: the
// client handle, its configuration, messages, partition lists, metadata, error objects,
// header lists and librdkafka-allocated strings. Shared by the librdkafka adapters
// (kafka_*.cpp, dead_letter_producer.cpp): the only files that include this header, and so
// librdkafka. Every rd_kafka_*_destroy of the adapters is in a deleter below.

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "connector/log.h"
#include "connector/record.h"

namespace kps::rdkafka {

struct DestroyHandle {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
/// For a consumer that never needs a careful leave (no subscription, or one already left):
/// rd_kafka_consumer_close() stops its fetchers and leaves a group it may be in, then the
/// handle is destroyed.
struct CloseAndDestroyConsumer {
  void operator()(rd_kafka_t* handle) const {
    rd_kafka_consumer_close(handle);
    rd_kafka_destroy(handle);
  }
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
struct DestroyError {
  void operator()(rd_kafka_error_t* error) const { rd_kafka_error_destroy(error); }
};
struct DestroyHeaders {
  void operator()(rd_kafka_headers_t* headers) const { rd_kafka_headers_destroy(headers); }
};
/// Memory librdkafka allocated for the caller (rd_kafka_memberid()); freed through the handle
/// that allocated it, as librdkafka asks.
struct FreeMemory {
  rd_kafka_t* handle = nullptr;
  void operator()(char* memory) const { rd_kafka_mem_free(handle, memory); }
};

using Handle = std::unique_ptr<rd_kafka_t, DestroyHandle>;
using Consumer = std::unique_ptr<rd_kafka_t, CloseAndDestroyConsumer>;
/// Until rd_kafka_new() succeeds; then release() it: the handle owns it from there on.
using Conf = std::unique_ptr<rd_kafka_conf_t, DestroyConf>;
using Message = std::unique_ptr<rd_kafka_message_t, DestroyMessage>;
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, DestroyPartitionList>;
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, DestroyMetadata>;
using Error = std::unique_ptr<rd_kafka_error_t, DestroyError>;
/// Until a produce call takes them (it does only when it returns no error); then release() them.
using Headers = std::unique_ptr<rd_kafka_headers_t, DestroyHeaders>;
using String = std::unique_ptr<char, FreeMemory>;

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

/// The metadata of every topic in the cluster, owned, into `metadata`; an error leaves it empty.
inline rd_kafka_resp_err_t read_all_metadata(rd_kafka_t* handle, std::chrono::milliseconds timeout, Metadata& metadata) {
  const rd_kafka_metadata_t* raw = nullptr;
  const rd_kafka_resp_err_t error = rd_kafka_metadata(handle, 1, nullptr, &raw, static_cast<int>(timeout.count()));
  metadata.reset(error == RD_KAFKA_RESP_ERR_NO_ERROR ? raw : nullptr);
  return error;
}

/// The text of an error object librdkafka handed over, which is freed here; "" for none.
inline std::string take_error_text(rd_kafka_error_t* raw) {
  const Error error(raw);
  return error ? std::string(rd_kafka_error_string(error.get())) : std::string();
}

/// How many milliseconds are left until `deadline` on `now`'s clock, rounded up and never
/// negative: the timeout to hand a blocking librdkafka call.
template <typename TimePoint>
int milliseconds_until(TimePoint deadline, TimePoint now) {
  if (deadline <= now) return 0;
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count());
}

/// A property whose value must never reach a log line or an error message.
inline bool looks_secret(std::string_view name) {
  return name.find("password") != std::string_view::npos || name.find("secret") != std::string_view::npos ||
         name.find("key") != std::string_view::npos || name.find("token") != std::string_view::npos;
}

/// librdkafka logs with syslog levels: 0-3 errors, 4 warnings, 5-6 notices/info, 7 debug.
inline LogLevel log_level_of_syslog(int level) {
  return level <= 3 ? LogLevel::Error : level == 4 ? LogLevel::Warn : level <= 6 ? LogLevel::Info : LogLevel::Debug;
}

}  // namespace kps::rdkafka
