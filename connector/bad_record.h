#pragma once
// What the pipeline knows about a bad record, and where such records go under
// `errors.tolerance: all`. No vendor headers: the pipeline stays testable without Kafka.

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "connector/config.h"
#include "connector/record.h"
#include "connector/status.h"

namespace kps {

/// Where a bad record was found: `decode` (the value does not fit the table's columns) or
/// `database` (PostgreSQL refused it, SQLSTATE class 22 or 23).
enum class BadRecordStage { Decode, Database };

inline const char* bad_record_stage_name(BadRecordStage stage) {
  return stage == BadRecordStage::Decode ? "decode" : "database";
}

struct BadRecord {
  TopicPartition topic_partition;
  int64_t offset = 0;
  BadRecordStage stage = BadRecordStage::Decode;
  std::string column;       // the failing column; empty when the record as a whole is bad
  std::string reason_code;  // a metric label: a decode failure name, or the SQLSTATE
  std::string sqlstate;     // empty unless the database refused it
  std::string reason;       // human-readable

  /// "topic=T partition=P offset=O column=C: reason": how every log line names it.
  std::string describe() const {
    std::string text = "topic=" + topic_partition.topic + " partition=" + std::to_string(topic_partition.partition) +
                       " offset=" + std::to_string(offset);
    if (!column.empty()) text += " column=" + column;
    text += ": " + reason;
    if (!sqlstate.empty()) text += " (SQLSTATE " + sqlstate + ")";
    return text;
  }
};

/// The dead letter topic, seen from the pipeline. Called from the polling thread only.
/// A partition's offset moves past a bad record only after a flush() that covered its
/// letter returned ok.
class DeadLetterSink {
 public:
  virtual ~DeadLetterSink() = default;
  /// Queues the letter of a record the consumer still holds (its bytes are copied).
  virtual Status enqueue(const RecordView& record, const BadRecord& bad) = 0;
  /// Queues the letters of records already released (PostgreSQL refused them after
  /// their batch was encoded): they are read again from Kafka by position.
  virtual Status enqueue_released(std::span<const BadRecord> bad) = 0;
  /// Waits until every queued letter is acknowledged by the broker. Not ok: none of the
  /// letters queued since the last ok flush may be taken as delivered.
  virtual Status flush() = 0;
  virtual bool has_unflushed() const = 0;
};

/// The share of bad records among the most recent ones. A bad record now and then is a
/// poison pill; most records bad is a schema change upstream, and dead-lettering a whole
/// topic would only hide it.
class CircuitBreaker {
 public:
  explicit CircuitBreaker(const CircuitBreakerConfig& config)
      : max_bad_share_(config.max_bad_share), window_(config.window_records, 0) {}

  /// Notes one record. True when the window is full and more than the allowed share
  /// of it is bad.
  bool note(bool bad) {
    uint8_t& slot = window_[next_];
    bad_in_window_ -= slot;
    slot = bad ? 1 : 0;
    bad_in_window_ += slot;
    next_ = next_ + 1 == window_.size() ? 0 : next_ + 1;
    if (seen_ < window_.size()) ++seen_;
    return bad && seen_ == window_.size() &&
           static_cast<double>(bad_in_window_) > max_bad_share_ * static_cast<double>(window_.size());
  }
  size_t bad_in_window() const { return bad_in_window_; }
  size_t window() const { return window_.size(); }
  /// Forgets everything seen: after a rewind the same records are seen again.
  void reset() {
    std::fill(window_.begin(), window_.end(), 0);
    bad_in_window_ = 0;
    seen_ = 0;
    next_ = 0;
  }

 private:
  double max_bad_share_;
  std::vector<uint8_t> window_;
  size_t bad_in_window_ = 0;
  size_t seen_ = 0;
  size_t next_ = 0;
};

}  // namespace kps
