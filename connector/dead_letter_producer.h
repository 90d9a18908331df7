#pragma once
// librdkafka adapter for `errors.tolerance: all`: produces each bad record to the dead
// letter topic with its original key, value and headers plus Kafka Connect style
// `__connect.errors.*` headers saying where it came from and why it was rejected.
//
// The delivery promise depends on one rule the caller keeps: a partition's offset moves
// past a bad record only after flush() returned ok for the flush that covered its dead
// letter. The producer is idempotent with acks=all, so an acknowledged dead letter is
// durable on the broker and a retried produce is not written twice by librdkafka itself.
// Dead letters are still at-least-once end to end: a letter whose flush failed may have
// reached the broker anyway, and the caller re-enqueues it after rewinding. Each carries
// its original topic, partition and offset, so readers of the topic can deduplicate.
//
// dead_letter_producer.cpp is the only other file (besides kafka_consumer.cpp) that
// includes librdkafka.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connector/clock.h"
#include "connector/config.h"
#include "connector/record.h"
#include "connector/status.h"

namespace kps {

/// Where in the pipeline a record was found bad; the value of `__connect.errors.stage`.
enum class DeadLetterStage {
  Decode,    // "decode": the payload does not fit the table mapping
  Database,  // "database": PostgreSQL rejected the row (22*, 23*)
};

const char* dead_letter_stage_name(DeadLetterStage stage);

/// One bad record and why it is bad. Owns copies of everything: the consumer's message
/// that held the record may be released long before the letter is produced (a database
/// reject is known only after the batch was written).
struct DeadLetter {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::optional<int64_t> timestamp_ms;  // the original record's timestamp, when it had one
  std::optional<std::string> key;       // nullopt: null key
  std::optional<std::string> value;     // nullopt: tombstone
  /// The original headers, in their original order; nullopt: a header with a null value.
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  DeadLetterStage stage = DeadLetterStage::Decode;
  std::string column;    // the failing column; empty when no single column is at fault
  std::string sqlstate;  // empty unless stage is Database
  std::string reason;    // human-readable, e.g. "/ts: not a valid timestamptz"
};

/// Copies `record` (topic, partition, offset, timestamp, key, value, headers) into a
/// dead letter with the given error details.
DeadLetter make_dead_letter(const RecordView& record, DeadLetterStage stage, std::string column,
                            std::string sqlstate, std::string reason);

/// Header names written on every dead letter. Kafka Connect's own names where it has
/// one (topic, partition, offset, connector.name, stage, exception.message); the rest
/// are ours under the same prefix. Values are UTF-8 text; numbers in decimal.
namespace dead_letter_headers {
inline constexpr std::string_view kTopic = "__connect.errors.topic";
inline constexpr std::string_view kPartition = "__connect.errors.partition";
inline constexpr std::string_view kOffset = "__connect.errors.offset";
inline constexpr std::string_view kTimestamp = "__connect.errors.timestamp";  // ms since epoch; absent if none
inline constexpr std::string_view kConnectorName = "__connect.errors.connector.name";  // "kafka-pg-sink"
inline constexpr std::string_view kStage = "__connect.errors.stage";          // "decode" | "database"
inline constexpr std::string_view kColumn = "__connect.errors.column";        // absent when empty
inline constexpr std::string_view kSqlstate = "__connect.errors.sqlstate";    // absent when empty
inline constexpr std::string_view kExceptionMessage = "__connect.errors.exception.message";  // the reason
// Only on a letter whose value was cut to fit the producer's or the broker's size limit:
inline constexpr std::string_view kValueTruncated = "__connect.errors.value.truncated";  // "true"
inline constexpr std::string_view kValueOriginalBytes = "__connect.errors.value.original.bytes";  // the full size
}  // namespace dead_letter_headers

/// What a dead letter may add to its record's key, value and headers (the error
/// headers above): the producer's message.max.bytes is errors.max_record_bytes plus this.
inline constexpr uint64_t kDeadLetterHeadroomBytes = 64 * 1024;

/// Producer settings kafka-pg-sink owns: a dead letter producer without them could lose
/// or reorder letters, so kafka.properties may not set them.
/// One ConfigProblem per such property, for --check-config.
std::vector<ConfigProblem> check_dead_letter_properties(const KafkaConfig& config);

/// Not thread-safe: one thread calls enqueue() and flush() (delivery reports are served
/// inside flush() on that thread). Move-only.
class DeadLetterProducer {
 public:
  /// Connects lazily (no I/O here). Uses bootstrap_servers and every kafka.properties
  /// entry that also applies to a producer (security, SASL, timeouts): consumer-only
  /// properties (group.id, fetch.*, session.timeout.ms, ...) are left out so librdkafka
  /// does not warn about them. Always enable.idempotence=true and acks=all.
  /// message.max.bytes (and batch.size, which caps a request) default to
  /// `max_record_bytes` + kDeadLetterHeadroomBytes, so that every bad record fits in its
  /// letter; a value set in kafka.properties wins.
  /// Throws std::runtime_error naming the property when librdkafka rejects the config,
  /// or when kafka.properties sets one the producer owns (see check_dead_letter_properties).
  /// `clock` (which must outlive the producer) measures flush()'s timeout.
  DeadLetterProducer(const KafkaConfig& kafka, std::string dead_letter_topic,
                     uint64_t max_record_bytes = ErrorsConfig().max_record_bytes, const Clock& clock = steady_clock());
  /// Abandons letters not yet acknowledged: they were never reported ok, so no offset
  /// moved past their records.
  ~DeadLetterProducer();
  DeadLetterProducer(DeadLetterProducer&&) noexcept;
  DeadLetterProducer& operator=(DeadLetterProducer&&) noexcept;
  DeadLetterProducer(const DeadLetterProducer&) = delete;
  DeadLetterProducer& operator=(const DeadLetterProducer&) = delete;

  /// Queues one dead letter; librdkafka copies its bytes, so `letter` may be destroyed
  /// on return. Does no network I/O. A letter larger than message.max.bytes is queued
  /// with its value cut to fit, and the headers kValueTruncated and kValueOriginalBytes
  /// say so: a bad record must never stop the daemon for its size. Errors:
  ///   Transient  the local queue is full (flush first, then re-enqueue);
  ///   Fatal      the letter can never be produced (its key and headers alone exceed
  ///              message.max.bytes), or the producer failed fatally (an idempotence
  ///              invariant broke).
  Status enqueue(const DeadLetter& letter);

  /// Waits, serving delivery reports, until every letter enqueued since the previous
  /// flush() is acknowledged by the broker or has failed, for at most `timeout`.
  /// A letter the broker refuses as too large (MSG_SIZE_TOO_LARGE) is sent again within
  /// the same flush with its value cut, first to kBrokerCutValueBytes, then to nothing,
  /// with the kValueTruncated headers; the cut copy is what counts as acknowledged (it
  /// may land after letters enqueued later).
  /// Ok only if all of them were acknowledged (also when there were none). Otherwise:
  ///   Transient  "M of N dead letters to topic T not acknowledged: F failed (first error:
  ///              ...), P still unacknowledged after ... ms", code = the first librdkafka
  ///              error name. Letters not yet sent are purged so a retry does not queue
  ///              them twice; the caller must treat every letter of this flush as not
  ///              produced and retry from its stored offsets.
  ///   Fatal      the producer failed fatally; recreate it (or stop).
  /// Either way the next flush() starts a new count: reports that arrive later for this
  /// flush's letters are ignored.
  Status flush(std::chrono::milliseconds timeout);

  const std::string& topic() const { return topic_; }
  /// The producer's effective message.max.bytes.
  uint64_t max_message_bytes() const;

  /// How much of a value a letter refused by the broker as too large keeps.
  static constexpr size_t kBrokerCutValueBytes = 64 * 1024;
  /// Letters enqueued since the last flush().
  size_t pending() const;

 private:
  struct State;
  std::string topic_;
  std::unique_ptr<State> state_;
};

}  // namespace kps
