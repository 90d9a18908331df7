#include "connector/kafka_consumer.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <stdexcept>

#include "connector/kafka_consumer_conf.h"
#include "connector/kafka_handles.h"
#include "connector/log.h"

namespace kps {
namespace {

// How long close() polls for the group's revoke before closing regardless.
constexpr std::chrono::milliseconds kLeaveGroupTimeout{5000};

std::vector<TopicPartition> to_topic_partitions(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  out.reserve(static_cast<size_t>(list->cnt));
  for (int index = 0; index < list->cnt; ++index) {
    out.push_back({list->elems[index].topic, list->elems[index].partition});
  }
  return out;
}

/// The headers of `message` into `headers` (cleared first); views into the message.
void read_headers(rd_kafka_message_t* message, std::vector<RecordHeader>& headers) {
  headers.clear();
  rd_kafka_headers_t* all = nullptr;
  if (rd_kafka_message_headers(message, &all) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  for (size_t index = 0; rd_kafka_header_get_all(all, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
       ++index) {
    std::optional<std::string_view> header_value;
    if (value != nullptr) header_value = std::string_view(static_cast<const char*>(value), size);
    headers.push_back({name, header_value});
  }
}

/// Internal topics are never a sink's, whatever a pattern says (Kafka's own consumers
/// exclude them from pattern subscriptions the same way).
bool is_internal_topic(std::string_view topic) {
  return topic == "__consumer_offsets" || topic == "__transaction_state";
}

}  // namespace

struct KafkaConsumer::Handles {
  rdkafka::Handle consumer;
  rdkafka::Message current_message;
};

/// librdkafka 2.0.2 answers NULL (not "NONE") while the consumer is closing mid-rebalance.
bool is_cooperative(rd_kafka_t* handle) {
  const char* protocol = rd_kafka_rebalance_protocol(handle);
  return protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
}

/// librdkafka calls C function pointers; these forward to the consumer passed as opaque.
struct KafkaCallbacks {
  static void rebalance(rd_kafka_t* handle, rd_kafka_resp_err_t error,
                        rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    auto* self = static_cast<KafkaConsumer*>(opaque);
    const bool cooperative = is_cooperative(handle);
    std::vector<TopicPartition> changed = to_topic_partitions(partitions);

    if (error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      // Timed for the log: the group waits for this callback, so its length is worth seeing.
      const auto planning_started = self->clock_.now();
      const AssignmentPlan plan = self->listener_.on_partitions_assigned(changed);
      const auto planning_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(self->clock_.now() - planning_started).count();
      for (int index = 0; index < partitions->cnt; ++index) {
        const size_t position = static_cast<size_t>(index);
        partitions->elems[index].offset = position < plan.start_offsets.size()
                                              ? plan.start_offsets[position].value_or(RD_KAFKA_OFFSET_INVALID)
                                              : RD_KAFKA_OFFSET_INVALID;
        if (partitions->elems[index].offset >= 0) self->start_positions_[changed[position]] = partitions->elems[index].offset;
      }
      std::string assign_error;
      if (cooperative) {
        assign_error = rdkafka::take_error_text(rd_kafka_incremental_assign(handle, partitions));
      } else if (const rd_kafka_resp_err_t failure = rd_kafka_assign(handle, partitions)) {
        assign_error = rd_kafka_err2str(failure);
      }
      if (!assign_error.empty()) {
        self->fatal_ = Status::error(ErrorKind::Fatal, "assigning partitions failed: " + assign_error);
      }
      // librdkafka keeps an application pause on a partition across unassign and assign:
      // a partition paused before it was lost would come back paused forever.
      if (plan.paused) {
        rd_kafka_pause_partitions(handle, partitions);
      } else {
        rd_kafka_resume_partitions(handle, partitions);
      }
      self->assignment_.insert(self->assignment_.end(), changed.begin(), changed.end());
      log::info("rebalance: ", changed.size(), " partition(s) assigned", plan.paused ? " (paused)" : "",
                ", ", self->assignment_.size(), " owned; planned in ", planning_ms, " ms");
      return;
    }

    if (error == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      const bool lost = rd_kafka_assignment_lost(handle) != 0;
      self->listener_.on_partitions_revoked(changed, lost);
    } else {
      log::error("rebalance failed: ", rd_kafka_err2str(error));
      self->listener_.on_partitions_revoked(changed, true);
    }
    if (cooperative) {
      // Nothing to do about a failure: the partitions are gone from our side either way.
      rdkafka::take_error_text(rd_kafka_incremental_unassign(handle, partitions));
    } else {
      rd_kafka_assign(handle, nullptr);
    }
    // A set: with hundreds of partitions, a search of `changed` per owned one adds up.
    const std::set<TopicPartition> revoked(changed.begin(), changed.end());
    std::erase_if(self->assignment_, [&](const TopicPartition& tp) { return revoked.contains(tp); });
    log::info("rebalance: ", changed.size(), " partition(s) revoked, ", self->assignment_.size(), " owned");
  }

  static void offset_commit(rd_kafka_t*, rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* offsets,
                            void* opaque) {
    auto* self = static_cast<KafkaConsumer*>(opaque);
    if (offsets == nullptr) return;
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR && error != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      // One line per commit at most, and commits follow batches: no flood in an incident.
      log::warn("Kafka offset commit failed (", rd_kafka_err2name(error),
                "); PostgreSQL holds the offsets, the commit is retried");
    }
    for (int index = 0; index < offsets->cnt; ++index) {
      const auto& element = offsets->elems[index];
      if (error != RD_KAFKA_RESP_ERR_NO_ERROR || element.err != RD_KAFKA_RESP_ERR_NO_ERROR || element.offset < 0) continue;
      int64_t& acknowledged = self->acknowledged_commits_[TopicPartition{element.topic, element.partition}];
      acknowledged = std::max(acknowledged, element.offset);
    }
  }

  static void error(rd_kafka_t* handle, int code, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaConsumer*>(opaque);
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
      char detail[512];
      rd_kafka_fatal_error(handle, detail, sizeof detail);
      self->fatal_ = Status::error(ErrorKind::Fatal, std::string("Kafka consumer failed: ") + detail);
      return;
    }
    // Transport errors (a broker away, all brokers down) heal by themselves: librdkafka reconnects.
    log::warn("kafka: ", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(code)), ": ", reason);
  }
};

KafkaConsumer::KafkaConsumer(const KafkaConfig& config, RebalanceListener& listener, const Clock& clock)
    : listener_(listener), config_(config), clock_(clock), handles_(std::make_unique<Handles>()) {
  auto conf = make_consumer_conf(config, ConsumerRole::GroupMember);
  if (!conf) throw std::runtime_error(conf.status().message());
  rd_kafka_conf_t* settings = conf.value().get();
  rd_kafka_conf_set_opaque(settings, this);
  rd_kafka_conf_set_rebalance_cb(settings, &KafkaCallbacks::rebalance);
  rd_kafka_conf_set_error_cb(settings, &KafkaCallbacks::error);
  rd_kafka_conf_set_offset_commit_cb(settings, &KafkaCallbacks::offset_commit);

  char error_text[512];
  handles_->consumer.reset(rd_kafka_new(RD_KAFKA_CONSUMER, settings, error_text, sizeof error_text));
  if (!handles_->consumer) throw std::runtime_error(std::string("cannot create Kafka consumer: ") + error_text);
  conf.value().release();  // the handle owns it from here on
  rd_kafka_poll_set_consumer(handles_->consumer.get());
}

KafkaConsumer::~KafkaConsumer() { close(); }

Status KafkaConsumer::subscribe(const std::vector<std::string>& topics) {
  if (topics.empty()) {
    const rd_kafka_resp_err_t error = rd_kafka_unsubscribe(handles_->consumer.get());
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::error(ErrorKind::Fatal, std::string("unsubscribe failed: ") + rd_kafka_err2str(error));
    }
    return Status::ok();
  }
  const rdkafka::PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
  for (const std::string& topic : topics) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  const rd_kafka_resp_err_t error = rd_kafka_subscribe(handles_->consumer.get(), list.get());
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::error(ErrorKind::Fatal, std::string("subscribe failed: ") + rd_kafka_err2str(error));
  }
  return Status::ok();
}

Result<std::vector<std::string>> KafkaConsumer::list_topics(std::chrono::milliseconds timeout) {
  rdkafka::Metadata metadata;
  const rd_kafka_resp_err_t error = rdkafka::read_all_metadata(handles_->consumer.get(), timeout, metadata);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::error(ErrorKind::Transient, std::string("cannot read Kafka metadata: ") + rd_kafka_err2str(error));
  }
  std::vector<std::string> topics;
  for (int index = 0; index < metadata->topic_cnt; ++index) {
    const rd_kafka_metadata_topic_t& topic = metadata->topics[index];
    if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR || is_internal_topic(topic.topic)) continue;
    topics.emplace_back(topic.topic);
  }
  return topics;
}

Result<PollResult> KafkaConsumer::poll(std::chrono::milliseconds timeout) {
  handles_->current_message.reset();  // releases the fetch buffer the last record pinned
  rd_kafka_message_t* raw = rd_kafka_consumer_poll(handles_->consumer.get(), static_cast<int>(timeout.count()));
  if (!fatal_.is_ok()) return fatal_;
  PollResult result;
  if (raw == nullptr) return result;
  handles_->current_message.reset(raw);

  if (raw->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    result.kind = PollResult::Kind::PartitionEnd;
    result.end_of_partition = {rd_kafka_topic_name(raw->rkt), raw->partition};
    result.end_offset = raw->offset;
    return result;
  }
  if (raw->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* topic = raw->rkt ? rd_kafka_topic_name(raw->rkt) : "";
    const std::string message = std::string(rd_kafka_err2name(raw->err)) + ": " + rd_kafka_message_errstr(raw);
    if (raw->err == RD_KAFKA_RESP_ERR__FATAL) {
      return Status::error(ErrorKind::Fatal, "Kafka consumer failed: " + message);
    }
    log::warn("kafka consume error topic=", topic, " partition=", raw->partition, ": ", message);
    return result;
  }

  RecordView& record = result.record;
  result.kind = PollResult::Kind::Record;
  record.topic = rd_kafka_topic_name(raw->rkt);
  record.partition = raw->partition;
  record.offset = raw->offset;
  rd_kafka_timestamp_type_t timestamp_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  const int64_t timestamp = rd_kafka_message_timestamp(raw, &timestamp_type);
  if (timestamp_type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && timestamp >= 0) record.timestamp_ms = timestamp;
  if (raw->key != nullptr) record.key = std::string_view(static_cast<const char*>(raw->key), raw->key_len);
  if (raw->payload != nullptr) {
    record.value = std::string_view(static_cast<const char*>(raw->payload), raw->len);
  }
  read_headers(raw, headers_);
  record.headers = headers_;
  return result;
}

Status KafkaConsumer::read_range(const TopicPartition& tp, int64_t from, int64_t to,
                                 const std::function<void(const RecordView&)>& on_record,
                                 std::chrono::milliseconds timeout) {
  if (from >= to) return Status::ok();
  const OffsetRange range[] = {{tp, from, to}};
  auto reader = RangeReader::open(config_, range, clock_);
  if (!reader) return reader.status();
  const auto deadline = clock_.now() + timeout;
  while (!reader.value()->done()) {
    if (clock_.now() >= deadline) {
      return Status::error(ErrorKind::Transient, "re-reading topic=" + tp.topic + " partition=" +
                                                     std::to_string(tp.partition) + " did not reach offset " +
                                                     std::to_string(to) + " in time");
    }
    if (Status status = reader.value()->read_for(std::chrono::milliseconds(100), on_record, [](const TopicPartition&) {});
        !status) {
      return status;
    }
  }
  return Status::ok();
}

struct RangeReader::Handle {
  rdkafka::Consumer consumer;  // never subscribed: closing only stops its fetchers
};

RangeReader::RangeReader(const Clock& clock) : clock_(clock), handle_(std::make_unique<Handle>()) {}
RangeReader::~RangeReader() = default;

Result<std::unique_ptr<RangeReader>> RangeReader::open(const KafkaConfig& config, std::span<const OffsetRange> ranges,
                                                      const Clock& clock) {
  std::unique_ptr<RangeReader> reader(new RangeReader(clock));
  std::vector<std::pair<TopicPartition, int64_t>> starts;
  for (const OffsetRange& range : ranges) {
    if (range.from >= range.to) continue;
    reader->ends_[range.topic_partition] = range.to;
    starts.emplace_back(range.topic_partition, range.from);
  }
  if (starts.empty()) return reader;
  auto conf = make_consumer_conf(config, ConsumerRole::RangeReader);
  if (!conf) {
    return Status::error(ErrorKind::Fatal, "cannot configure the consumer that re-reads records: " + conf.status().message());
  }
  char error_text[512];
  reader->handle_->consumer.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf.value().get(), error_text, sizeof error_text));
  if (!reader->handle_->consumer) {
    return Status::error(ErrorKind::Transient, std::string("cannot create the consumer that re-reads records: ") + error_text);
  }
  conf.value().release();  // the handle owns it from here on
  rd_kafka_poll_set_consumer(reader->handle_->consumer.get());
  if (const rd_kafka_resp_err_t error =
          rd_kafka_assign(reader->handle_->consumer.get(), rdkafka::make_partition_list(starts).get())) {
    return Status::error(ErrorKind::Transient, std::string("re-reading records: assign failed: ") + rd_kafka_err2str(error));
  }
  return reader;
}

void RangeReader::drop(const TopicPartition& tp) { ends_.erase(tp); }

Status RangeReader::read_for(std::chrono::milliseconds budget, const std::function<void(const RecordView&)>& on_record,
                             const std::function<void(const TopicPartition&)>& on_range_done) {
  const auto deadline = clock_.now() + budget;
  TopicPartition tp;
  while (!ends_.empty()) {
    const int left_ms = rdkafka::milliseconds_until(deadline, clock_.now());
    if (left_ms <= 0) break;
    const rdkafka::Message message(rd_kafka_consumer_poll(handle_->consumer.get(), left_ms));
    if (!message) break;
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR && message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      return Status::error(ErrorKind::Transient, std::string("re-reading records: ") + rd_kafka_message_errstr(message.get()));
    }
    if (message->rkt == nullptr) continue;
    tp.topic = rd_kafka_topic_name(message->rkt);
    tp.partition = message->partition;
    const auto end = ends_.find(tp);
    if (end == ends_.end()) continue;  // done or dropped: what follows is not ours to read
    // The end of the log before `to`: nothing more to learn.
    bool range_done = message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF || message->offset >= end->second;
    if (!range_done) {
      RecordView record;
      record.topic = tp.topic;
      record.partition = tp.partition;
      record.offset = message->offset;
      rd_kafka_timestamp_type_t timestamp_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
      const int64_t timestamp = rd_kafka_message_timestamp(message.get(), &timestamp_type);
      if (timestamp_type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && timestamp >= 0) record.timestamp_ms = timestamp;
      if (message->key != nullptr) record.key = std::string_view(static_cast<const char*>(message->key), message->key_len);
      if (message->payload != nullptr) {
        record.value = std::string_view(static_cast<const char*>(message->payload), message->len);
      }
      read_headers(message.get(), headers_);
      record.headers = headers_;
      on_record(record);
      range_done = message->offset + 1 >= end->second;
    }
    if (range_done) {
      ends_.erase(end);
      on_range_done(tp);
    }
  }
  return Status::ok();
}

std::optional<int64_t> KafkaConsumer::acknowledged_commit(const TopicPartition& tp) const {
  const auto found = acknowledged_commits_.find(tp);
  return found == acknowledged_commits_.end() ? std::nullopt : std::optional<int64_t>(found->second);
}

Status KafkaConsumer::commit(std::span<const std::pair<TopicPartition, int64_t>> offsets, bool synchronous) {
  if (offsets.empty()) return Status::ok();
  const rdkafka::PartitionList list = rdkafka::make_partition_list(offsets);
  rd_kafka_resp_err_t error = rd_kafka_commit(handles_->consumer.get(), list.get(), synchronous ? 0 : 1);
  if (synchronous && error == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int index = 0; index < list->cnt; ++index) {
      const auto& element = list->elems[index];
      if (element.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        error = element.err;
      } else {
        int64_t& acknowledged = acknowledged_commits_[TopicPartition{element.topic, element.partition}];
        acknowledged = std::max(acknowledged, element.offset);
      }
    }
  }
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::error(ErrorKind::Transient, std::string("Kafka offset commit failed: ") + rd_kafka_err2str(error),
                         rd_kafka_err2name(error));
  }
  return Status::ok();
}

Result<std::vector<PartitionWatermarks>> KafkaConsumer::query_watermarks(
    const std::function<bool(std::string_view topic)>& wanted, std::chrono::milliseconds timeout) {
  rdkafka::Metadata metadata;
  const rd_kafka_resp_err_t error = rdkafka::read_all_metadata(handles_->consumer.get(), timeout, metadata);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::error(ErrorKind::Transient, std::string("cannot read Kafka metadata: ") + rd_kafka_err2str(error));
  }
  std::vector<TopicPartition> partitions;
  for (int topic_index = 0; topic_index < metadata->topic_cnt; ++topic_index) {
    const rd_kafka_metadata_topic_t& topic = metadata->topics[topic_index];
    if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR || !wanted(topic.topic)) continue;
    for (int partition_index = 0; partition_index < topic.partition_cnt; ++partition_index) {
      partitions.push_back({topic.topic, topic.partitions[partition_index].id});
    }
  }
  return query_watermarks(partitions, timeout);
}

Result<std::vector<PartitionWatermarks>> KafkaConsumer::query_watermarks(std::span<const TopicPartition> partitions,
                                                                         std::chrono::milliseconds timeout) {
  std::vector<PartitionWatermarks> marks(partitions.size());
  if (partitions.empty()) return marks;
  // ListOffsets takes a timestamp per partition; the two special ones ask for the log's
  // start and its end. rd_kafka_offsets_for_times groups the partitions by leader and
  // sends those requests in parallel, and answers in the order of the list.
  for (const int64_t which : {int64_t{RD_KAFKA_OFFSET_BEGINNING}, int64_t{RD_KAFKA_OFFSET_END}}) {
    const rdkafka::PartitionList list = rdkafka::make_partition_list(partitions);
    for (int index = 0; index < list->cnt; ++index) list->elems[index].offset = which;
    rd_kafka_resp_err_t error =
        rd_kafka_offsets_for_times(handles_->consumer.get(), list.get(), static_cast<int>(timeout.count()));
    for (int index = 0; index < list->cnt && error == RD_KAFKA_RESP_ERR_NO_ERROR; ++index) {
      const rd_kafka_topic_partition_t& element = list->elems[index];
      if (element.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Status::error(ErrorKind::Transient, std::string("cannot read watermarks of topic=") + element.topic +
                                                       " partition=" + std::to_string(element.partition) + ": " +
                                                       rd_kafka_err2str(element.err));
      }
      PartitionWatermarks& mark = marks[static_cast<size_t>(index)];
      mark.topic_partition = partitions[static_cast<size_t>(index)];
      (which == RD_KAFKA_OFFSET_BEGINNING ? mark.low : mark.high) = element.offset;
    }
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::error(ErrorKind::Transient, "cannot read the watermarks of " + std::to_string(partitions.size()) +
                                                     " partition(s): " + rd_kafka_err2str(error));
    }
  }
  return marks;
}

void KafkaConsumer::pause(std::span<const TopicPartition> partitions) {
  if (partitions.empty()) return;
  rd_kafka_pause_partitions(handles_->consumer.get(), rdkafka::make_partition_list(partitions).get());
}

void KafkaConsumer::resume(std::span<const TopicPartition> partitions) {
  if (partitions.empty()) return;
  rd_kafka_resume_partitions(handles_->consumer.get(), rdkafka::make_partition_list(partitions).get());
}

Status KafkaConsumer::seek(std::span<const std::pair<TopicPartition, int64_t>> positions) {
  if (positions.empty()) return Status::ok();
  const rdkafka::PartitionList list = rdkafka::make_partition_list(positions);
  std::string problems =
      rdkafka::take_error_text(rd_kafka_seek_partitions(handles_->consumer.get(), list.get(), 10000));
  for (int index = 0; index < list->cnt; ++index) {
    if (list->elems[index].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      problems += std::string(problems.empty() ? "" : "; ") + list->elems[index].topic + "/" +
                  std::to_string(list->elems[index].partition) + ": " + rd_kafka_err2str(list->elems[index].err);
    }
  }
  if (!problems.empty()) return Status::error(ErrorKind::Transient, "seek failed: " + problems);
  for (const auto& [tp, offset] : positions) start_positions_[tp] = offset;
  return Status::ok();
}

Result<std::vector<std::optional<int64_t>>> KafkaConsumer::offsets_for_times(
    std::span<const std::pair<TopicPartition, int64_t>> timestamps_ms, std::chrono::milliseconds timeout) {
  std::vector<std::optional<int64_t>> offsets(timestamps_ms.size());
  if (timestamps_ms.empty()) return offsets;
  const rdkafka::PartitionList list = rdkafka::make_partition_list(timestamps_ms);
  const rd_kafka_resp_err_t error =
      rd_kafka_offsets_for_times(handles_->consumer.get(), list.get(), static_cast<int>(timeout.count()));
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::error(ErrorKind::Transient, "cannot look up offsets by time for " +
                                                   std::to_string(timestamps_ms.size()) + " partition(s): " +
                                                   rd_kafka_err2str(error));
  }
  for (int index = 0; index < list->cnt; ++index) {
    const rd_kafka_topic_partition_t& element = list->elems[index];
    // A partition the lookup failed for is answered like one with no record that recent:
    // the caller falls back to the start of the log, which is slower but never wrong.
    if (element.err == RD_KAFKA_RESP_ERR_NO_ERROR && element.offset >= 0) {
      offsets[static_cast<size_t>(index)] = element.offset;
    }
  }
  return offsets;
}

std::vector<std::pair<TopicPartition, int64_t>> KafkaConsumer::partition_lags() const {
  std::vector<std::pair<TopicPartition, int64_t>> lags;
  if (assignment_.empty()) return lags;
  const rdkafka::PartitionList list = rdkafka::make_partition_list(assignment_);
  rd_kafka_position(handles_->consumer.get(), list.get());
  for (int index = 0; index < list->cnt; ++index) {
    int64_t low = 0;
    int64_t high = 0;
    const auto& element = list->elems[index];
    if (rd_kafka_get_watermark_offsets(handles_->consumer.get(), element.topic, element.partition, &low, &high) !=
            RD_KAFKA_RESP_ERR_NO_ERROR || high < 0) {
      continue;
    }
    // Nothing consumed yet: count from where the partition starts, not from the log's
    // start, or a restart over fully applied partitions reports all of them as lag.
    int64_t position = element.offset;
    if (position < 0) {
      const auto start = start_positions_.find(TopicPartition{element.topic, element.partition});
      position = start != start_positions_.end() ? start->second : low;
    }
    lags.emplace_back(TopicPartition{element.topic, element.partition}, std::max<int64_t>(0, high - position));
  }
  return lags;
}

int64_t KafkaConsumer::consumer_lag() const {
  int64_t lag = 0;
  for (const auto& [tp, records] : partition_lags()) lag += records;
  return lag;
}

bool KafkaConsumer::is_group_member() const {
  const rdkafka::String member_id(rd_kafka_memberid(handles_->consumer.get()), {handles_->consumer.get()});
  return member_id != nullptr && *member_id != '\0';
}

bool KafkaConsumer::rebalance_is_cooperative() const {
  return is_cooperative(handles_->consumer.get());
}

void KafkaConsumer::close() {
  if (closed_ || !handles_->consumer) return;
  closed_ = true;
  handles_->current_message.reset();
  rd_kafka_t* handle = handles_->consumer.get();
  // Leave the group the ordinary way first: unsubscribe and poll until the revoke was
  // served. Left to rd_kafka_consumer_close(), a revoke that arrives while the group
  // rebalances (every replica stopped at once) can hang in librdkafka 2.0.2.
  if (rd_kafka_unsubscribe(handle) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const auto deadline = clock_.now() + kLeaveGroupTimeout;
    while (!assignment_.empty() && clock_.now() < deadline) {
      // Records still arriving are dropped: PostgreSQL's offsets say where to resume.
      const rdkafka::Message dropped(rd_kafka_consumer_poll(handle, 100));
    }
  }
  const rd_kafka_resp_err_t error = rd_kafka_consumer_close(handle);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) log::warn("leaving the consumer group failed: ", rd_kafka_err2str(error));
}

std::string librdkafka_version() { return rd_kafka_version_str(); }

}  // namespace kps
