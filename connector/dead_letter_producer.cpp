#include "connector/dead_letter_producer.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <cstdint>
#include <span>
#include <stdexcept>

#include "connector/kafka_handles.h"
#include "connector/log.h"

namespace kps {
namespace {

constexpr std::string_view kConnectorName = "kafka-pg-sink";

// What makes an acknowledged letter durable and never duplicated by librdkafka's own
// retries; set by the daemon, a user may not override them.
constexpr std::array<std::string_view, 5> kOwnedProperties = {
    "enable.idempotence", "acks", "request.required.acks", "transactional.id", "bootstrap.servers"};

// librdkafka 2.0.2's consumer-only properties (CONFIGURATION.md, C/P = C). kafka.properties
// configures the consumer first; handing these to a producer only makes librdkafka warn
// that it ignores them.
constexpr std::array<std::string_view, 31> kConsumerOnlyProperties = {
    "auto.commit.enable", "auto.commit.interval.ms", "auto.offset.reset", "check.crcs",
    "consume.callback.max.messages", "coordinator.query.interval.ms", "enable.auto.commit",
    "enable.auto.offset.store", "enable.partition.eof", "fetch.error.backoff.ms", "fetch.max.bytes",
    "fetch.message.max.bytes", "fetch.min.bytes", "fetch.wait.max.ms", "group.id", "group.instance.id",
    "group.protocol.type", "heartbeat.interval.ms", "isolation.level", "max.partition.fetch.bytes",
    "max.poll.interval.ms", "offset.store.method", "offset.store.path", "offset.store.sync.interval.ms",
    "partition.assignment.strategy", "queued.max.messages.kbytes", "queued.min.messages", "session.timeout.ms",
    "consume_cb", "rebalance_cb", "offset_commit_cb"};

bool contains(std::span<const std::string_view> names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string owned_property_problem() {
  return "set by kafka-pg-sink itself for the dead letter producer (idempotent, acks=all); remove it";
}

void log_from_librdkafka(const rd_kafka_t*, int level, const char* facility, const char* message) {
  log::emit(rdkafka::log_level_of_syslog(level), "librdkafka dead letter producer ", facility, ": ", message);
}

/// Decimal text of an integer, without allocating.
class DecimalText {
 public:
  explicit DecimalText(int64_t number) {
    size_ = static_cast<size_t>(std::to_chars(digits_.data(), digits_.data() + digits_.size(), number).ptr -
                                digits_.data());
  }
  std::string_view view() const { return {digits_.data(), size_}; }

 private:
  std::array<char, 24> digits_{};
  size_t size_ = 0;
};

void add_header(rd_kafka_headers_t* headers, std::string_view name, std::string_view value) {
  rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                      static_cast<ssize_t>(value.size()));
}

/// librdkafka's own bound, and the largest value its message.max.bytes accepts.
constexpr uint64_t kLibrdkafkaMaxMessageBytes = 1000000000;
/// What librdkafka's local size check counts beyond key, value and header bytes.
constexpr size_t kPerHeaderOverheadBytes = 16;
constexpr size_t kLetterOverheadBytes = 512;

/// The header bytes librdkafka's local size check counts, generously.
size_t header_bytes(const rd_kafka_headers_t* headers) {
  size_t total = 0;
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  for (size_t index = 0; rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
       ++index) {
    total += std::string_view(name).size() + size + kPerHeaderOverheadBytes;
  }
  return total;
}

std::string_view header_text(const rd_kafka_headers_t* headers, std::string_view name) {
  const void* value = nullptr;
  size_t size = 0;
  const std::string name_text(name);
  if (rd_kafka_header_get_last(headers, name_text.c_str(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      value == nullptr) {
    return {};
  }
  return {static_cast<const char*>(value), size};
}

/// Marks a letter whose value was cut, keeping the size of the value it was cut from.
void add_cut_headers(rd_kafka_headers_t* headers, size_t original_value_bytes) {
  namespace names = dead_letter_headers;
  const std::string name_truncated(names::kValueTruncated);
  const std::string name_original(names::kValueOriginalBytes);
  // A letter cut again (the broker refused the first cut) keeps one pair of them.
  rd_kafka_header_remove(headers, name_truncated.c_str());
  rd_kafka_header_remove(headers, name_original.c_str());
  const DecimalText original(static_cast<int64_t>(original_value_bytes));
  add_header(headers, names::kValueTruncated, "true");
  add_header(headers, names::kValueOriginalBytes, original.view());
}

}  // namespace

const char* dead_letter_stage_name(DeadLetterStage stage) {
  switch (stage) {
    case DeadLetterStage::Decode: return "decode";
    case DeadLetterStage::Database: return "database";
  }
  return "unknown";
}

DeadLetter make_dead_letter(const RecordView& record, DeadLetterStage stage, std::string column,
                            std::string sqlstate, std::string reason) {
  DeadLetter letter;
  letter.topic = record.topic;
  letter.partition = record.partition;
  letter.offset = record.offset;
  letter.timestamp_ms = record.timestamp_ms;
  if (record.key) letter.key.emplace(*record.key);
  if (record.value) letter.value.emplace(*record.value);
  letter.headers.reserve(record.headers.size());
  for (const RecordHeader& header : record.headers) {
    std::optional<std::string> value;
    if (header.value) value.emplace(*header.value);
    letter.headers.emplace_back(std::string(header.name), std::move(value));
  }
  letter.stage = stage;
  letter.column = std::move(column);
  letter.sqlstate = std::move(sqlstate);
  letter.reason = std::move(reason);
  return letter;
}

std::vector<ConfigProblem> check_dead_letter_properties(const KafkaConfig& config) {
  std::vector<ConfigProblem> problems;
  for (const auto& [name, value] : config.properties) {
    if (contains(kOwnedProperties, name)) problems.push_back({"kafka.properties." + name, owned_property_problem()});
  }
  return problems;
}

/// Lives on the heap so the pointer librdkafka holds as its opaque survives moves of
/// the DeadLetterProducer.
struct DeadLetterProducer::State {
  explicit State(const Clock& time) : clock(time) {}

  const Clock& clock;
  rdkafka::Handle producer;
  // Each flush() closes a generation. A letter carries its generation as its message
  // opaque, so a report arriving after its flush gave up is not counted in a later one.
  uintptr_t generation = 1;
  size_t enqueued = 0;
  size_t acknowledged = 0;
  size_t failed = 0;
  size_t replaced = 0;  // refused by the broker as too large; a cut copy was (or will be) enqueued instead
  std::string first_error;
  std::string first_error_code;
  Status fatal;
  uint64_t max_message_bytes = 0;

  /// A letter the broker refused as too large, to be sent again with its value cut.
  struct CutLetter {
    std::optional<std::string> key;
    std::string value;
    rdkafka::Headers headers;
  };
  std::vector<CutLetter> to_resend;

  void note_failure(rd_kafka_resp_err_t error) {
    if (failed++ == 0) {
      first_error = rd_kafka_err2str(error);
      first_error_code = rd_kafka_err2name(error);
    }
  }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
    auto* state = static_cast<State*>(opaque);
    if (reinterpret_cast<uintptr_t>(message->_private) != state->generation) return;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++state->acknowledged;
      return;
    }
    if (message->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && message->payload != nullptr && message->len > 0) {
      state->cut_refused(*message);
      return;
    }
    state->note_failure(message->err);
  }

  /// The broker's limit is below the producer's: keep the letter, not the whole value.
  void cut_refused(const rd_kafka_message_t& message) {
    rd_kafka_headers_t* original_headers = nullptr;
    if (rd_kafka_message_headers(&message, &original_headers) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      original_headers = nullptr;
    }
    CutLetter letter;
    letter.headers.reset(original_headers != nullptr ? rd_kafka_headers_copy(original_headers)
                                                     : rd_kafka_headers_new(2));
    size_t original_bytes = message.len;
    const std::string_view written_original = header_text(letter.headers.get(), dead_letter_headers::kValueOriginalBytes);
    if (!written_original.empty()) {
      std::from_chars(written_original.data(), written_original.data() + written_original.size(), original_bytes);
    }
    const size_t keep = message.len > kBrokerCutValueBytes ? kBrokerCutValueBytes : 0;
    if (message.key != nullptr) letter.key.emplace(static_cast<const char*>(message.key), message.key_len);
    letter.value.assign(static_cast<const char*>(message.payload), keep);
    add_cut_headers(letter.headers.get(), original_bytes);
    log::warn("dead letter of topic=", header_text(letter.headers.get(), dead_letter_headers::kTopic),
              " partition=", header_text(letter.headers.get(), dead_letter_headers::kPartition),
              " offset=", header_text(letter.headers.get(), dead_letter_headers::kOffset),
              " refused by the broker as too large (", message.len, " value bytes): sending it again with the value cut to ",
              keep, " of its ", original_bytes, " bytes");
    to_resend.push_back(std::move(letter));
    ++replaced;
  }

  static constexpr size_t kBrokerCutValueBytes = DeadLetterProducer::kBrokerCutValueBytes;

  /// One produce call; librdkafka takes `headers` only when it returns no error.
  rd_kafka_resp_err_t produce(const std::string& topic, std::optional<std::string_view> key,
                              std::optional<std::string_view> value, rd_kafka_headers_t* headers);
  /// Produces the cut copies of letters the broker refused; each counts as enqueued.
  void resend_cut_letters(const std::string& topic);

  static void on_error(rd_kafka_t* handle, int code, const char* reason, void* opaque) {
    auto* state = static_cast<State*>(opaque);
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
      char detail[512];
      const rd_kafka_resp_err_t cause = rd_kafka_fatal_error(handle, detail, sizeof detail);
      state->fatal = Status::error(ErrorKind::Fatal, std::string("dead letter producer failed: ") + detail,
                                   rd_kafka_err2name(cause));
      return;
    }
    // Transport errors heal by themselves (librdkafka reconnects); flush() reports the
    // letters they hold up.
    log::warn("kafka dead letter producer: ", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(code)), ": ",
              reason);
  }

  void start_next_generation() {
    ++generation;
    enqueued = acknowledged = failed = replaced = 0;
    to_resend.clear();
    first_error.clear();
    first_error_code.clear();
  }
};

DeadLetterProducer::DeadLetterProducer(const KafkaConfig& kafka, std::string dead_letter_topic,
                                       uint64_t max_record_bytes, const Clock& clock)
    : topic_(std::move(dead_letter_topic)), state_(std::make_unique<State>(clock)) {
  if (topic_.empty()) throw std::runtime_error("errors.dead_letter_topic: must not be empty");
  rdkafka::Conf conf(rd_kafka_conf_new());
  char error_text[512];
  auto set = [&](std::string_view name, const std::string& value) {
    const std::string name_text(name);
    if (rd_kafka_conf_set(conf.get(), name_text.c_str(), value.c_str(), error_text, sizeof error_text) !=
        RD_KAFKA_CONF_OK) {
      const std::string detail = rdkafka::looks_secret(name) ? "invalid value" : std::string(error_text);
      throw std::runtime_error("kafka.properties." + name_text + " (dead letter producer): " + detail);
    }
  };
  set("client.id", "kafka-pg-sink-dead-letters");
  // librdkafka's default (1000000) is below errors.max_record_bytes' (8MiB): a big bad
  // record would otherwise have no letter. Set first, so kafka.properties still wins.
  const std::string letter_bytes =
      std::to_string(std::min(max_record_bytes + kDeadLetterHeadroomBytes, kLibrdkafkaMaxMessageBytes));
  set("message.max.bytes", letter_bytes);
  set("batch.size", letter_bytes);
  for (const auto& [name, value] : kafka.properties) {
    if (contains(kOwnedProperties, name)) {
      throw std::runtime_error("kafka.properties." + name + ": " + owned_property_problem());
    }
    if (!contains(kConsumerOnlyProperties, name)) set(name, value);
  }
  set("bootstrap.servers", kafka.bootstrap_servers);
  set("enable.idempotence", "true");
  set("acks", "all");
  char effective[32];
  size_t effective_size = sizeof effective;
  if (rd_kafka_conf_get(conf.get(), "message.max.bytes", effective, &effective_size) == RD_KAFKA_CONF_OK) {
    std::from_chars(effective, effective + std::strlen(effective), state_->max_message_bytes);
  }
  rd_kafka_conf_set_opaque(conf.get(), state_.get());
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &State::on_delivery);
  rd_kafka_conf_set_error_cb(conf.get(), &State::on_error);
  rd_kafka_conf_set_log_cb(conf.get(), &log_from_librdkafka);

  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error_text, sizeof error_text);
  if (handle == nullptr) {
    throw std::runtime_error(std::string("cannot create the dead letter producer: ") + error_text);
  }
  conf.release();  // rd_kafka_new took ownership
  state_->producer.reset(handle);
}

DeadLetterProducer::~DeadLetterProducer() {
  if (!state_ || !state_->producer) return;
  // rd_kafka_destroy would otherwise wait for in-flight requests to a broker that may be away.
  rd_kafka_purge(state_->producer.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_poll(state_->producer.get(), 0);
}

DeadLetterProducer::DeadLetterProducer(DeadLetterProducer&&) noexcept = default;
DeadLetterProducer& DeadLetterProducer::operator=(DeadLetterProducer&&) noexcept = default;

size_t DeadLetterProducer::pending() const { return state_->enqueued; }

uint64_t DeadLetterProducer::max_message_bytes() const { return state_->max_message_bytes; }

Status DeadLetterProducer::enqueue(const DeadLetter& letter) {
  if (!state_->fatal.is_ok()) return state_->fatal;
  rd_kafka_t* producer = state_->producer.get();

  // One allocation per dead letter: librdkafka owns the header list once the produce
  // call succeeds. Bad records are the exception, so this is off the hot path.
  rdkafka::Headers headers(rd_kafka_headers_new(letter.headers.size() + 9));
  for (const auto& [name, value] : letter.headers) {
    rd_kafka_header_add(headers.get(), name.data(), static_cast<ssize_t>(name.size()),
                        value ? value->data() : nullptr, value ? static_cast<ssize_t>(value->size()) : 0);
  }
  namespace names = dead_letter_headers;
  const DecimalText partition(letter.partition);
  const DecimalText offset(letter.offset);
  add_header(headers.get(), names::kTopic, letter.topic);
  add_header(headers.get(), names::kPartition, partition.view());
  add_header(headers.get(), names::kOffset, offset.view());
  if (letter.timestamp_ms) {
    const DecimalText timestamp(*letter.timestamp_ms);
    add_header(headers.get(), names::kTimestamp, timestamp.view());
  }
  add_header(headers.get(), names::kConnectorName, kConnectorName);
  add_header(headers.get(), names::kStage, dead_letter_stage_name(letter.stage));
  if (!letter.column.empty()) add_header(headers.get(), names::kColumn, letter.column);
  if (!letter.sqlstate.empty()) add_header(headers.get(), names::kSqlstate, letter.sqlstate);
  add_header(headers.get(), names::kExceptionMessage, letter.reason);

  auto where = [&] {
    return "dead letter of topic=" + letter.topic + " partition=" + std::to_string(letter.partition) +
           " offset=" + std::to_string(letter.offset);
  };
  const std::optional<std::string_view> key =
      letter.key ? std::optional<std::string_view>(*letter.key) : std::nullopt;
  const std::optional<std::string_view> value =
      letter.value ? std::optional<std::string_view>(*letter.value) : std::nullopt;
  rd_kafka_resp_err_t error = state_->produce(topic_, key, value, headers.get());
  if (error == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && value && !value->empty()) {
    // Larger than message.max.bytes (set in kafka.properties below the default): the
    // letter goes with as much of the value as fits, and says so.
    add_cut_headers(headers.get(), value->size());
    const size_t fixed = key.value_or("").size() + header_bytes(headers.get()) + kLetterOverheadBytes;
    const size_t room = state_->max_message_bytes > fixed ? state_->max_message_bytes - fixed : 0;
    const size_t keep = std::min(room, value->size() - 1);
    log::warn(where(), ": ", value->size(), " value bytes exceed the dead letter producer's message.max.bytes (",
              state_->max_message_bytes, "): sending it with the value cut to ", keep, " bytes");
    error = state_->produce(topic_, key, value->substr(0, keep), headers.get());
  }
  // Serve delivery reports as we go so a long run of enqueues does not let them pile up.
  rd_kafka_poll(producer, 0);

  switch (error) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      headers.release();  // produced: librdkafka owns them now
      ++state_->enqueued;
      return Status::ok();
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return Status::error(ErrorKind::Transient,
                           where() + ": the producer's local queue is full; flush, then enqueue again",
                           rd_kafka_err2name(error));
    // librdkafka remembers a topic-level error from the last metadata or produce reply and
    // fails new letters at once until the metadata changes: the topic is unavailable, the
    // partition waits for it.
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
      return Status::error(ErrorKind::Transient,
                           where() + ": dead letter topic " + topic_ + " unavailable: " + rd_kafka_err2str(error),
                           rd_kafka_err2name(error));
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
      return Status::error(ErrorKind::Fatal,
                           where() + ": its key and headers alone are larger than the producer's message.max.bytes (" +
                               std::to_string(state_->max_message_bytes) + "); raise it in kafka.properties",
                           rd_kafka_err2name(error));
    case RD_KAFKA_RESP_ERR__FATAL: {
      char detail[512];
      rd_kafka_fatal_error(producer, detail, sizeof detail);
      state_->fatal = Status::error(ErrorKind::Fatal, std::string("dead letter producer failed: ") + detail,
                                    rd_kafka_err2name(error));
      return state_->fatal;
    }
    default:
      return Status::error(ErrorKind::Fatal, where() + " to topic " + topic_ + " rejected: " + rd_kafka_err2str(error),
                           rd_kafka_err2name(error));
  }
}

rd_kafka_resp_err_t DeadLetterProducer::State::produce(const std::string& topic, std::optional<std::string_view> key,
                                                       std::optional<std::string_view> value,
                                                       rd_kafka_headers_t* headers) {
  // The letter's own timestamp stays "now" (unlike Kafka Connect, which reuses the
  // original): a weeks-old timestamp would let time-based retention delete it at once.
  // A null pointer is what makes the key null and the value a tombstone.
  const void* key_bytes = key ? key->data() : nullptr;
  const size_t key_size = key ? key->size() : 0;
  void* value_bytes = value ? const_cast<char*>(value->data()) : nullptr;  // copied, never written
  const size_t value_size = value ? value->size() : 0;
  return rd_kafka_producev(
      producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_KEY(key_bytes, key_size), RD_KAFKA_V_VALUE(value_bytes, value_size),
      RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(generation)), RD_KAFKA_V_END);
}

void DeadLetterProducer::State::resend_cut_letters(const std::string& topic) {
  std::vector<CutLetter> letters = std::move(to_resend);
  to_resend.clear();
  for (CutLetter& letter : letters) {
    const std::optional<std::string_view> key =
        letter.key ? std::optional<std::string_view>(*letter.key) : std::nullopt;
    const rd_kafka_resp_err_t error = produce(topic, key, std::string_view(letter.value), letter.headers.get());
    ++enqueued;
    if (error == RD_KAFKA_RESP_ERR_NO_ERROR) {
      letter.headers.release();  // librdkafka owns them now
    } else {
      note_failure(error);  // the flush reports it as the letter it replaces
    }
  }
}

Status DeadLetterProducer::flush(std::chrono::milliseconds timeout) {
  State& state = *state_;
  rd_kafka_t* producer = state.producer.get();
  const auto deadline = state.clock.now() + timeout;
  // A refusal for size may have been reported already (by a poll inside enqueue()): its cut
  // copy waits in to_resend while the counts look complete, so send it before judging them.
  while (state.fatal.is_ok() &&
         (!state.to_resend.empty() || state.acknowledged + state.failed + state.replaced < state.enqueued)) {
    if (!state.to_resend.empty()) state.resend_cut_letters(topic_);
    const int left_ms = rdkafka::milliseconds_until(deadline, state.clock.now());
    if (left_ms <= 0) break;
    rd_kafka_poll(producer, std::min(left_ms, 100));
  }

  Status result;
  // Each cut copy stands in for the letter the broker refused: count the letters asked for.
  const size_t letters = state.enqueued - state.replaced;
  if (!state.fatal.is_ok()) {
    result = state.fatal;
  } else if (state.acknowledged < letters) {
    const size_t unacknowledged = letters - state.acknowledged;
    const size_t in_flight = unacknowledged - std::min(unacknowledged, state.failed);
    std::string message = std::to_string(unacknowledged) + " of " + std::to_string(letters) +
                          " dead letters to topic " + topic_ + " not acknowledged:";
    if (state.failed > 0) {
      message += " " + std::to_string(state.failed) + " failed (first error: " + state.first_error + ")";
    }
    if (in_flight > 0) {
      message += std::string(state.failed > 0 ? "," : "") + " " + std::to_string(in_flight) +
                 " still unacknowledged after " + std::to_string(timeout.count()) + " ms";
    }
    result = Status::error(ErrorKind::Transient, std::move(message),
                           state.failed > 0 ? state.first_error_code : rd_kafka_err2name(RD_KAFKA_RESP_ERR__TIMED_OUT));
    // Unsent letters would otherwise be sent later beside the copies the retry enqueues.
    rd_kafka_purge(producer, RD_KAFKA_PURGE_F_QUEUE);
  }
  state.start_next_generation();
  rd_kafka_poll(producer, 0);  // reports of purged letters now belong to a closed generation
  return result;
}

}  // namespace kps
