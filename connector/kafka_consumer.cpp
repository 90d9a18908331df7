#include "connector/kafka_consumer.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>

#include "connector/log.h"

namespace kps {
namespace {

struct DestroyMessage {
  void operator()(rd_kafka_message_t* message) const { rd_kafka_message_destroy(message); }
};
struct DestroyHandle {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
struct DestroyList {
  void operator()(rd_kafka_topic_partition_list_t* list) const { rd_kafka_topic_partition_list_destroy(list); }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, DestroyList>;

// Properties that exactly-once depends on: the daemon sets them, a user may not.
// How long close() polls for the group's revoke before closing regardless.
constexpr std::chrono::milliseconds kLeaveGroupTimeout{5000};

constexpr std::array<const char*, 5> kOwnedProperties = {
    "bootstrap.servers", "group.id", "enable.auto.commit", "enable.auto.offset.store", "enable.partition.eof"};

bool looks_secret(std::string_view name) {
  return name.find("password") != std::string_view::npos || name.find("secret") != std::string_view::npos ||
         name.find("key") != std::string_view::npos || name.find("token") != std::string_view::npos;
}

std::vector<TopicPartition> to_topic_partitions(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  out.reserve(static_cast<size_t>(list->cnt));
  for (int index = 0; index < list->cnt; ++index) {
    out.push_back({list->elems[index].topic, list->elems[index].partition});
  }
  return out;
}

PartitionList to_partition_list(std::span<const TopicPartition> partitions) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const TopicPartition& tp : partitions) rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
  return list;
}

/// Each partition with its offset set (a next offset to commit, or a position to seek to).
PartitionList to_partition_list(std::span<const std::pair<TopicPartition, int64_t>> offsets) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const auto& [tp, offset] : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = offset;
  }
  return list;
}

/// Fills `out` with views of the message's headers: valid while the message lives.
void read_headers(rd_kafka_message_t* message, std::vector<RecordHeader>& out) {
  out.clear();
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(message, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  for (size_t index = 0; rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
       ++index) {
    std::optional<std::string_view> header_value;
    if (value != nullptr) header_value = std::string_view(static_cast<const char*>(value), size);
    out.push_back({name, header_value});
  }
}

void log_from_librdkafka(const rd_kafka_t*, int level, const char* facility, const char* message) {
  // syslog levels: 0-3 errors, 4 warnings, 5-6 notices/info, 7 debug.
  const LogLevel mapped = level <= 3 ? LogLevel::Error : level == 4 ? LogLevel::Warn
                          : level <= 6 ? LogLevel::Info : LogLevel::Debug;
  log::emit(mapped, "librdkafka ", facility, ": ", message);
}

}  // namespace

struct KafkaConsumer::Handles {
  std::unique_ptr<rd_kafka_t, DestroyHandle> consumer;
  std::unique_ptr<rd_kafka_message_t, DestroyMessage> current_message;
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
      const AssignmentPlan plan = self->listener_.on_partitions_assigned(changed);
      for (int index = 0; index < partitions->cnt; ++index) {
        const size_t position = static_cast<size_t>(index);
        partitions->elems[index].offset = position < plan.start_offsets.size()
                                              ? plan.start_offsets[position].value_or(RD_KAFKA_OFFSET_INVALID)
                                              : RD_KAFKA_OFFSET_INVALID;
        if (partitions->elems[index].offset >= 0) self->start_positions_[changed[position]] = partitions->elems[index].offset;
      }
      std::string assign_error;
      if (cooperative) {
        if (rd_kafka_error_t* failure = rd_kafka_incremental_assign(handle, partitions)) {
          assign_error = rd_kafka_error_string(failure);
          rd_kafka_error_destroy(failure);
        }
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
                ", ", self->assignment_.size(), " owned");
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
      if (rd_kafka_error_t* unassign_error = rd_kafka_incremental_unassign(handle, partitions)) {
        rd_kafka_error_destroy(unassign_error);
      }
    } else {
      rd_kafka_assign(handle, nullptr);
    }
    std::erase_if(self->assignment_, [&](const TopicPartition& tp) {
      return std::find(changed.begin(), changed.end(), tp) != changed.end();
    });
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

KafkaConsumer::KafkaConsumer(const KafkaConfig& config, RebalanceListener& listener)
    : listener_(listener), config_(config), handles_(std::make_unique<Handles>()) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error_text[512];
  auto set = [&](const std::string& name, const std::string& value) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error_text, sizeof error_text) != RD_KAFKA_CONF_OK) {
      const std::string detail = looks_secret(name) ? "invalid value" : std::string(error_text);
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error("kafka.properties." + name + ": " + detail);
    }
  };
  set("auto.offset.reset", "earliest");
  set("client.id", "kafka-pg-sink");
  // librdkafka 2.0.2 stops fetching every partition once its prefetch queue holds
  // queued.min.messages (default 100000, counted over the whole queue) and resumes only
  // about a second later: with the defaults the consumer idled ~40% of a backfill. A
  // queue bounded by bytes instead holds over a second of throughput and bounds memory.
  set("queued.min.messages", "1000000");
  set("queued.max.messages.kbytes", "32768");
  set("max.partition.fetch.bytes", "4194304");
  // A full queue also backs the fetcher off for fetch.error.backoff.ms (default 500 ms)
  // before it looks again: a backfill stalled for that long several times a million
  // records. 20 ms cut the benchmark's time after the group join by about 10%.
  set("fetch.error.backoff.ms", "20");
  for (const auto& [name, value] : config.properties) {
    if (std::find(kOwnedProperties.begin(), kOwnedProperties.end(), name) != kOwnedProperties.end()) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error("kafka.properties." + name +
                               ": set by kafka-pg-sink itself (offsets are stored in PostgreSQL); remove it");
    }
    set(name, value);
  }
  set("bootstrap.servers", config.bootstrap_servers);
  set("group.id", config.group_id);
  set("enable.auto.commit", "false");
  set("enable.auto.offset.store", "false");
  set("enable.partition.eof", "true");
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_rebalance_cb(conf, &KafkaCallbacks::rebalance);
  rd_kafka_conf_set_error_cb(conf, &KafkaCallbacks::error);
  rd_kafka_conf_set_offset_commit_cb(conf, &KafkaCallbacks::offset_commit);
  rd_kafka_conf_set_log_cb(conf, &log_from_librdkafka);

  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error_text, sizeof error_text);
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("cannot create Kafka consumer: ") + error_text);
  }
  handles_->consumer.reset(handle);  // owns conf from here on
  rd_kafka_poll_set_consumer(handle);
}

KafkaConsumer::~KafkaConsumer() { close(); }

Status KafkaConsumer::subscribe(const std::vector<std::string>& topics, const std::vector<std::string>& patterns) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size() + patterns.size())));
  for (const std::string& topic : topics) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  for (const std::string& pattern : patterns) {
    const std::string anchored = pattern.starts_with('^') ? pattern : "^" + pattern;
    rd_kafka_topic_partition_list_add(list.get(), anchored.c_str(), RD_KAFKA_PARTITION_UA);
  }
  const rd_kafka_resp_err_t error = rd_kafka_subscribe(handles_->consumer.get(), list.get());
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::error(ErrorKind::Fatal, std::string("subscribe failed: ") + rd_kafka_err2str(error));
  }
  return Status::ok();
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
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error_text[512];
  bool configured = true;
  const auto set = [&](const std::string& name, const std::string& value) {
    configured = configured &&
                 rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error_text, sizeof error_text) == RD_KAFKA_CONF_OK;
  };
  for (const auto& [name, value] : config_.properties) set(name, value);
  set("bootstrap.servers", config_.bootstrap_servers);
  // A group id of its own that never joins or commits: assign() needs no group.
  set("group.id", config_.group_id + ".dedup-rebuild");
  set("enable.auto.commit", "false");
  set("enable.auto.offset.store", "false");
  set("enable.partition.eof", "true");
  rd_kafka_conf_set_log_cb(conf, &log_from_librdkafka);
  if (!configured) {
    rd_kafka_conf_destroy(conf);
    return Status::error(ErrorKind::Fatal, "cannot configure the consumer that re-reads records");
  }
  std::unique_ptr<rd_kafka_t, DestroyHandle> reader(rd_kafka_new(RD_KAFKA_CONSUMER, conf, error_text, sizeof error_text));
  if (!reader) {
    rd_kafka_conf_destroy(conf);
    return Status::error(ErrorKind::Transient, std::string("cannot create the consumer that re-reads records: ") + error_text);
  }
  rd_kafka_poll_set_consumer(reader.get());
  const std::pair<TopicPartition, int64_t> start[] = {{tp, from}};
  if (const rd_kafka_resp_err_t error = rd_kafka_assign(reader.get(), to_partition_list(start).get())) {
    return Status::error(ErrorKind::Transient, std::string("re-reading records: assign failed: ") + rd_kafka_err2str(error));
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<RecordHeader> headers;
  Status status = Status::error(ErrorKind::Transient, "re-reading topic=" + tp.topic + " partition=" +
                                std::to_string(tp.partition) + " did not reach offset " + std::to_string(to) +
                                " in time");
  while (std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<rd_kafka_message_t, DestroyMessage> message(rd_kafka_consumer_poll(reader.get(), 100));
    if (!message) continue;
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      status = Status::ok();  // the log ends before `to`: nothing more to learn
      break;
    }
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status = Status::error(ErrorKind::Transient, std::string("re-reading records: ") + rd_kafka_message_errstr(message.get()));
      break;
    }
    if (message->offset >= to) {
      status = Status::ok();
      break;
    }
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
    // The headers travel too: a dead letter carries the original's, and a dedup identity
    // or column may come from @header:NAME.
    read_headers(message.get(), headers);
    record.headers = headers;
    on_record(record);
    if (message->offset + 1 >= to) {
      status = Status::ok();
      break;
    }
  }
  rd_kafka_consumer_close(reader.get());
  return status;
}

std::optional<int64_t> KafkaConsumer::acknowledged_commit(const TopicPartition& tp) const {
  const auto found = acknowledged_commits_.find(tp);
  return found == acknowledged_commits_.end() ? std::nullopt : std::optional<int64_t>(found->second);
}

Status KafkaConsumer::commit(std::span<const std::pair<TopicPartition, int64_t>> offsets, bool synchronous) {
  if (offsets.empty()) return Status::ok();
  PartitionList list = to_partition_list(offsets);
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
  const rd_kafka_metadata_t* metadata = nullptr;
  rd_kafka_resp_err_t error =
      rd_kafka_metadata(handles_->consumer.get(), 1, nullptr, &metadata, static_cast<int>(timeout.count()));
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::error(ErrorKind::Transient, std::string("cannot read Kafka metadata: ") + rd_kafka_err2str(error));
  }
  std::vector<PartitionWatermarks> marks;
  for (int topic_index = 0; topic_index < metadata->topic_cnt; ++topic_index) {
    const rd_kafka_metadata_topic_t& topic = metadata->topics[topic_index];
    if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR || !wanted(topic.topic)) continue;
    for (int partition_index = 0; partition_index < topic.partition_cnt; ++partition_index) {
      PartitionWatermarks mark;
      mark.topic_partition = {topic.topic, topic.partitions[partition_index].id};
      error = rd_kafka_query_watermark_offsets(handles_->consumer.get(), topic.topic, mark.topic_partition.partition,
                                               &mark.low, &mark.high, static_cast<int>(timeout.count()));
      if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(metadata);
        return Status::error(ErrorKind::Transient, "cannot read watermarks of topic=" + mark.topic_partition.topic +
                             " partition=" + std::to_string(mark.topic_partition.partition) + ": " +
                             rd_kafka_err2str(error));
      }
      marks.push_back(std::move(mark));
    }
  }
  rd_kafka_metadata_destroy(metadata);
  return marks;
}

void KafkaConsumer::pause(std::span<const TopicPartition> partitions) {
  if (partitions.empty()) return;
  rd_kafka_pause_partitions(handles_->consumer.get(), to_partition_list(partitions).get());
}

void KafkaConsumer::resume(std::span<const TopicPartition> partitions) {
  if (partitions.empty()) return;
  rd_kafka_resume_partitions(handles_->consumer.get(), to_partition_list(partitions).get());
}

Status KafkaConsumer::seek(std::span<const std::pair<TopicPartition, int64_t>> positions) {
  if (positions.empty()) return Status::ok();
  PartitionList list = to_partition_list(positions);
  rd_kafka_error_t* failure = rd_kafka_seek_partitions(handles_->consumer.get(), list.get(), 10000);
  std::string problems;
  if (failure != nullptr) {
    problems = rd_kafka_error_string(failure);
    rd_kafka_error_destroy(failure);
  }
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

Result<std::optional<int64_t>> KafkaConsumer::offset_for_time(const TopicPartition& tp, int64_t timestamp_ms,
                                                             std::chrono::milliseconds timeout) {
  const std::pair<TopicPartition, int64_t> query[] = {{tp, timestamp_ms}};
  PartitionList list = to_partition_list(query);
  rd_kafka_resp_err_t error =
      rd_kafka_offsets_for_times(handles_->consumer.get(), list.get(), static_cast<int>(timeout.count()));
  if (error == RD_KAFKA_RESP_ERR_NO_ERROR) error = list->elems[0].err;
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::error(ErrorKind::Transient, "cannot look up offsets by time for topic=" + tp.topic +
                                                   " partition=" + std::to_string(tp.partition) + ": " +
                                                   rd_kafka_err2str(error));
  }
  const int64_t offset = list->elems[0].offset;
  return offset >= 0 ? std::optional<int64_t>(offset) : std::nullopt;
}

std::vector<std::pair<TopicPartition, int64_t>> KafkaConsumer::partition_lags() const {
  std::vector<std::pair<TopicPartition, int64_t>> lags;
  if (assignment_.empty()) return lags;
  PartitionList list = to_partition_list(assignment_);
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
  char* member_id = rd_kafka_memberid(handles_->consumer.get());
  const bool member = member_id != nullptr && *member_id != '\0';
  if (member_id != nullptr) rd_kafka_mem_free(handles_->consumer.get(), member_id);
  return member;
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
    const auto deadline = std::chrono::steady_clock::now() + kLeaveGroupTimeout;
    while (!assignment_.empty() && std::chrono::steady_clock::now() < deadline) {
      // Records still arriving are dropped: PostgreSQL's offsets say where to resume.
      if (rd_kafka_message_t* message = rd_kafka_consumer_poll(handle, 100)) rd_kafka_message_destroy(message);
    }
  }
  const rd_kafka_resp_err_t error = rd_kafka_consumer_close(handle);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) log::warn("leaving the consumer group failed: ", rd_kafka_err2str(error));
}

std::vector<ConfigProblem> check_kafka_properties(const KafkaConfig& config) {
  std::vector<ConfigProblem> problems;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error_text[512];
  for (const auto& [name, value] : config.properties) {
    const std::string path = "kafka.properties." + name;
    if (std::find(kOwnedProperties.begin(), kOwnedProperties.end(), name) != kOwnedProperties.end()) {
      problems.push_back({path, "set by kafka-pg-sink itself (offsets are stored in PostgreSQL); remove it"});
    } else if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error_text, sizeof error_text) !=
               RD_KAFKA_CONF_OK) {
      problems.push_back({path, looks_secret(name) ? "invalid value" : std::string(error_text)});
    }
  }
  rd_kafka_conf_destroy(conf);
  return problems;
}

std::string librdkafka_version() { return rd_kafka_version_str(); }

}  // namespace kps
