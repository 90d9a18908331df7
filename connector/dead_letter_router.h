#pragma once
// The pipeline's DeadLetterSink for `errors.tolerance: all`: turns bad records into dead
// letters (DeadLetterProducer), reading records PostgreSQL refused back from Kafka,
// since their messages were released once encoded. Polling thread only.

#include <chrono>
#include <span>

#include "connector/bad_record.h"
#include "connector/dead_letter_producer.h"

namespace kps {

class KafkaConsumer;

class DeadLetterRouter final : public DeadLetterSink {
 public:
  /// `consumer` (used only to re-read records) must outlive the router. The producer
  /// writes to errors.dead_letter_topic and is sized for errors.max_record_bytes. Throws
  /// std::runtime_error when the producer's configuration is rejected.
  DeadLetterRouter(const KafkaConfig& kafka, const ErrorsConfig& errors, KafkaConsumer& consumer,
                   std::chrono::milliseconds flush_timeout);

  Status enqueue(const RecordView& record, const BadRecord& bad) override;
  Status enqueue_released(std::span<const BadRecord> bad) override;
  Status flush() override;
  bool has_unflushed() const override { return producer_.pending() > 0; }

 private:
  Status enqueue_letter(const DeadLetter& letter);

  DeadLetterProducer producer_;
  KafkaConsumer& consumer_;
  std::chrono::milliseconds flush_timeout_;
};

}  // namespace kps
