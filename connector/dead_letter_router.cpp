#include "connector/dead_letter_router.h"

#include <algorithm>
#include <map>
#include <vector>

#include "connector/kafka_consumer.h"

namespace kps {
namespace {

constexpr std::chrono::milliseconds kRereadTimeout{30000};

DeadLetterStage stage_of(const BadRecord& bad) {
  return bad.stage == BadRecordStage::Decode ? DeadLetterStage::Decode : DeadLetterStage::Database;
}

}  // namespace

DeadLetterRouter::DeadLetterRouter(const KafkaConfig& kafka, const ErrorsConfig& errors, KafkaConsumer& consumer,
                                   std::chrono::milliseconds flush_timeout)
    : producer_(kafka, errors.dead_letter_topic, errors.max_record_bytes),
      consumer_(consumer),
      flush_timeout_(flush_timeout) {}

Status DeadLetterRouter::enqueue_letter(const DeadLetter& letter) {
  Status status = producer_.enqueue(letter);
  if (status || status.kind() != ErrorKind::Transient) return status;
  // The local queue is full: wait for what is in it, then try once more.
  if (Status flushed = flush(); !flushed) return flushed;
  status = producer_.enqueue(letter);
  if (status || status.kind() != ErrorKind::Transient) return status;
  return Status::error(ErrorKind::Transient, Cause::DeadLetters, status.message());
}

Status DeadLetterRouter::enqueue(const RecordView& record, const BadRecord& bad) {
  return enqueue_letter(make_dead_letter(record, stage_of(bad), bad.column, bad.sqlstate, bad.reason));
}

Status DeadLetterRouter::enqueue_released(std::span<const BadRecord> bad) {
  // One short-lived reader per partition, over the span of its refused records.
  std::map<TopicPartition, std::vector<const BadRecord*>> by_partition;
  for (const BadRecord& record : bad) by_partition[record.topic_partition].push_back(&record);
  for (auto& [tp, records] : by_partition) {
    std::sort(records.begin(), records.end(), [](const BadRecord* a, const BadRecord* b) { return a->offset < b->offset; });
    size_t next = 0;
    Status status;
    const Status read = consumer_.read_range(
        tp, records.front()->offset, records.back()->offset + 1,
        [&](const RecordView& record) {
          while (next < records.size() && records[next]->offset < record.offset) ++next;
          if (!status || next == records.size() || records[next]->offset != record.offset) return;
          const BadRecord& refused = *records[next];
          status = enqueue_letter(make_dead_letter(record, stage_of(refused), refused.column, refused.sqlstate,
                                                   refused.reason));
          ++next;
        },
        kRereadTimeout);
    // Kafka, not PostgreSQL, failed here: the recovery must not count it as a database outage.
    if (!read) return Status::error(read.kind(), Cause::DeadLetters,
                                    "reading refused records back for their dead letters: " + read.message());
    if (!status) return status;
    if (next < records.size()) {
      // Fewer records came back than were refused: never move past one without its letter.
      return Status::error(ErrorKind::Transient, Cause::DeadLetters,
                           "could not read back topic=" + tp.topic + " partition=" + std::to_string(tp.partition) +
                               " offset=" + std::to_string(records[next]->offset) + " for its dead letter");
    }
  }
  return Status::ok();
}

Status DeadLetterRouter::flush() {
  const Status status = producer_.flush(flush_timeout_);
  if (status || status.kind() != ErrorKind::Transient) return status;
  return Status::error(ErrorKind::Transient, Cause::DeadLetters, status.message());
}

}  // namespace kps
