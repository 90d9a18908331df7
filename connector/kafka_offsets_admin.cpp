#include "connector/kafka_offsets_admin.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "connector/kafka_consumer_conf.h"
#include "connector/kafka_handles.h"
#include "connector/log.h"

namespace kps {
namespace {

std::string where(const TopicPartition& tp) {
  return "topic=" + tp.topic + " partition=" + std::to_string(tp.partition);
}

}  // namespace

struct KafkaOffsetsAdmin::Handles {
  rdkafka::Consumer consumer;  // never subscribed: closing leaves no group, it only stops the fetchers
};

KafkaOffsetsAdmin::KafkaOffsetsAdmin(const KafkaConfig& config, std::chrono::milliseconds timeout, const Clock& clock)
    : config_(config), timeout_(timeout), clock_(clock), handles_(std::make_unique<Handles>()) {
  auto conf = make_consumer_conf(config, ConsumerRole::OffsetsAdmin);
  if (!conf) throw std::runtime_error(conf.status().message());
  char error_text[512];
  handles_->consumer.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf.value().get(), error_text, sizeof error_text));
  if (!handles_->consumer) throw std::runtime_error(std::string("cannot create a Kafka client: ") + error_text);
  conf.value().release();  // the handle owns it now
  rd_kafka_poll_set_consumer(handles_->consumer.get());
}

KafkaOffsetsAdmin::~KafkaOffsetsAdmin() = default;

Result<std::vector<TopicPartition>> KafkaOffsetsAdmin::list_partitions(
    const std::function<bool(std::string_view topic)>& wanted) {
  rdkafka::Metadata metadata;
  const rd_kafka_resp_err_t error = rdkafka::read_all_metadata(handles_->consumer.get(), timeout_, metadata);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::error(ErrorKind::Transient, std::string("cannot read Kafka metadata: ") + rd_kafka_err2str(error));
  }
  std::vector<TopicPartition> partitions;
  for (int topic_index = 0; topic_index < metadata->topic_cnt; ++topic_index) {
    const rd_kafka_metadata_topic_t& topic = metadata->topics[topic_index];
    if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR || !wanted(topic.topic)) continue;
    for (int index = 0; index < topic.partition_cnt; ++index) {
      partitions.push_back({topic.topic, topic.partitions[index].id});
    }
  }
  std::sort(partitions.begin(), partitions.end());
  return partitions;
}

Result<PartitionBounds> KafkaOffsetsAdmin::bounds(const TopicPartition& tp) {
  PartitionBounds bounds;
  const rd_kafka_resp_err_t error =
      rd_kafka_query_watermark_offsets(handles_->consumer.get(), tp.topic.c_str(), tp.partition, &bounds.log_start,
                                       &bounds.high_watermark, static_cast<int>(timeout_.count()));
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::error(ErrorKind::Transient, "cannot read the log bounds of " + where(tp) + ": " + rd_kafka_err2str(error));
  }
  return bounds;
}

Result<std::vector<std::optional<int64_t>>> KafkaOffsetsAdmin::committed(std::span<const TopicPartition> partitions) {
  const rdkafka::PartitionList list = rdkafka::make_partition_list(partitions);
  const rd_kafka_resp_err_t error =
      rd_kafka_committed(handles_->consumer.get(), list.get(), static_cast<int>(timeout_.count()));
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::error(ErrorKind::Transient, std::string("cannot read the group's committed offsets: ") +
                                                   rd_kafka_err2str(error));
  }
  std::vector<std::optional<int64_t>> offsets;
  for (int index = 0; index < list->cnt; ++index) {
    const auto& element = list->elems[index];
    offsets.push_back(element.err == RD_KAFKA_RESP_ERR_NO_ERROR && element.offset >= 0
                          ? std::optional<int64_t>(element.offset)
                          : std::nullopt);
  }
  return offsets;
}

Result<std::vector<std::optional<int64_t>>> KafkaOffsetsAdmin::offsets_for_time(
    std::span<const TopicPartition> partitions, int64_t timestamp_ms) {
  std::vector<std::pair<TopicPartition, int64_t>> query;
  for (const TopicPartition& tp : partitions) query.emplace_back(tp, timestamp_ms);
  const rdkafka::PartitionList list = rdkafka::make_partition_list(query);
  const rd_kafka_resp_err_t error =
      rd_kafka_offsets_for_times(handles_->consumer.get(), list.get(), static_cast<int>(timeout_.count()));
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::error(ErrorKind::Transient, std::string("cannot look up offsets by time: ") + rd_kafka_err2str(error));
  }
  std::vector<std::optional<int64_t>> offsets;
  for (int index = 0; index < list->cnt; ++index) {
    const auto& element = list->elems[index];
    const TopicPartition& tp = partitions[static_cast<size_t>(index)];
    if (element.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::error(ErrorKind::Transient, "cannot look up offsets by time for " + where(tp) + ": " +
                                                     rd_kafka_err2str(element.err));
    }
    if (element.offset >= 0) {
      offsets.emplace_back(element.offset);
      continue;
    }
    // "None that recent": true when the last record is older, else the broker cannot say.
    auto marks = bounds(tp);
    if (!marks) return marks.status();
    if (marks.value().high_watermark <= marks.value().log_start) {
      offsets.emplace_back(std::nullopt);
      continue;
    }
    auto last_is_recent = scan(tp, marks.value().high_watermark - 1,
                               [&](int64_t, int64_t record_ms) { return record_ms >= timestamp_ms; });
    if (!last_is_recent) return last_is_recent.status();
    if (!last_is_recent.value()) {
      offsets.emplace_back(std::nullopt);
      continue;
    }
    log::info("the broker cannot look up ", where(tp), " by time; reading it from offset ", marks.value().log_start);
    auto found = scan(tp, marks.value().log_start, [&](int64_t, int64_t record_ms) { return record_ms >= timestamp_ms; });
    if (!found) return found.status();
    offsets.push_back(found.value());
  }
  return offsets;
}

Result<std::optional<int64_t>> KafkaOffsetsAdmin::scan(
    const TopicPartition& tp, int64_t from, const std::function<bool(int64_t offset, int64_t timestamp_ms)>& accept) {
  rd_kafka_t* handle = handles_->consumer.get();
  const std::pair<TopicPartition, int64_t> start[] = {{tp, from}};
  if (const rd_kafka_resp_err_t error = rd_kafka_assign(handle, rdkafka::make_partition_list(start).get())) {
    return Status::error(ErrorKind::Transient, "cannot read " + where(tp) + ": " + rd_kafka_err2str(error));
  }
  Result<std::optional<int64_t>> outcome =
      Status::error(ErrorKind::Transient, "reading " + where(tp) + " did not finish within " +
                                              std::to_string(timeout_.count()) + " ms");
  // The timeout bounds each wait for a record, not the whole read: a long partition is read
  // as long as records keep coming.
  auto deadline = clock_.now() + timeout_;
  while (clock_.now() < deadline) {
    const rdkafka::Message message(rd_kafka_consumer_poll(handle, 100));
    if (!message) continue;
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      outcome = std::optional<int64_t>();
      break;
    }
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      outcome = Status::error(ErrorKind::Transient, "reading " + where(tp) + ": " + rd_kafka_message_errstr(message.get()));
      break;
    }
    deadline = clock_.now() + timeout_;
    rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    const int64_t timestamp = rd_kafka_message_timestamp(message.get(), &type);
    if (accept(message->offset, type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : timestamp)) {
      outcome = std::optional<int64_t>(message->offset);
      break;
    }
  }
  rd_kafka_assign(handle, nullptr);
  return outcome;
}

Status KafkaOffsetsAdmin::commit(std::span<const std::pair<TopicPartition, int64_t>> offsets) {
  if (offsets.empty()) return Status::ok();
  const rdkafka::PartitionList list = rdkafka::make_partition_list(offsets);
  rd_kafka_resp_err_t error = rd_kafka_commit(handles_->consumer.get(), list.get(), /*async=*/0);
  for (int index = 0; index < list->cnt && error == RD_KAFKA_RESP_ERR_NO_ERROR; ++index) error = list->elems[index].err;
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::error(ErrorKind::Transient, std::string("Kafka refused the commit: ") + rd_kafka_err2str(error),
                         rd_kafka_err2name(error));
  }
  return Status::ok();
}

}  // namespace kps
