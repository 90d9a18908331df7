// The dead letter producer against librdkafka's in-process mock cluster: what reaches
// the topic (read back with a real consumer), and what flush() says when it does not.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "connector/dead_letter_producer.h"
#include "tests/test_support.h"

namespace kps {
namespace {

using namespace std::chrono_literals;
using Header = std::pair<std::string, std::optional<std::string>>;

struct DestroyHandle {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
struct DestroyCluster {
  void operator()(rd_kafka_mock_cluster_t* cluster) const { rd_kafka_mock_cluster_destroy(cluster); }
};
struct DestroyMessage {
  void operator()(rd_kafka_message_t* message) const { rd_kafka_message_destroy(message); }
};
struct DestroyList {
  void operator()(rd_kafka_topic_partition_list_t* list) const { rd_kafka_topic_partition_list_destroy(list); }
};

constexpr const char* kDeadLetterTopic = "events.dead-letters";

/// One mock broker hosted by a client of its own, with the dead letter topic created
/// with one partition so letters read back in produce order.
class MockKafka {
 public:
  MockKafka() {
    char error_text[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", error_text, sizeof error_text);
    host_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf, error_text, sizeof error_text));
    if (!host_) throw std::runtime_error(std::string("mock host: ") + error_text);
    cluster_.reset(rd_kafka_mock_cluster_new(host_.get(), 1));
    if (!cluster_) throw std::runtime_error("cannot start the mock cluster");
    if (rd_kafka_mock_topic_create(cluster_.get(), kDeadLetterTopic, 1, 1) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("cannot create the dead letter topic");
    }
  }

  rd_kafka_mock_cluster_t* cluster() { return cluster_.get(); }
  std::string bootstrap() const { return rd_kafka_mock_cluster_bootstraps(cluster_.get()); }

 private:
  std::unique_ptr<rd_kafka_t, DestroyHandle> host_;  // destroyed after the cluster it hosts
  std::unique_ptr<rd_kafka_mock_cluster_t, DestroyCluster> cluster_;
};

struct ReadBack {
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<Header> headers;

  /// The value of the one header named `name`; fails the test if it is absent or repeated.
  std::optional<std::string> header(std::string_view name) const {
    const Header* found = nullptr;
    for (const Header& header : headers) {
      if (header.first != name) continue;
      REQUIRE(found == nullptr);
      found = &header;
    }
    REQUIRE(found != nullptr);
    return found->second;
  }
  bool has_header(std::string_view name) const {
    for (const Header& header : headers) {
      if (header.first == name) return true;
    }
    return false;
  }
};

/// Every record of the dead letter topic, read from the beginning until the end of the
/// partition (or `timeout`).
std::vector<ReadBack> read_dead_letters(const std::string& bootstrap, std::chrono::milliseconds timeout = 10s) {
  char error_text[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error_text, sizeof error_text);
  rd_kafka_conf_set(conf, "group.id", "dead-letter-reader", error_text, sizeof error_text);
  rd_kafka_conf_set(conf, "enable.partition.eof", "true", error_text, sizeof error_text);
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", error_text, sizeof error_text);
  rd_kafka_conf_set(conf, "fetch.message.max.bytes", "16777216", error_text, sizeof error_text);
  std::unique_ptr<rd_kafka_t, DestroyHandle> consumer(
      rd_kafka_new(RD_KAFKA_CONSUMER, conf, error_text, sizeof error_text));
  REQUIRE(consumer);
  std::unique_ptr<rd_kafka_topic_partition_list_t, DestroyList> assignment(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(assignment.get(), kDeadLetterTopic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  REQUIRE(rd_kafka_assign(consumer.get(), assignment.get()) == RD_KAFKA_RESP_ERR_NO_ERROR);

  std::vector<ReadBack> letters;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<rd_kafka_message_t, DestroyMessage> message(rd_kafka_consumer_poll(consumer.get(), 100));
    if (!message) continue;
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) break;
    REQUIRE(message->err == RD_KAFKA_RESP_ERR_NO_ERROR);
    ReadBack letter;
    if (message->key) letter.key.emplace(static_cast<const char*>(message->key), message->key_len);
    if (message->payload) letter.value.emplace(static_cast<const char*>(message->payload), message->len);
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(message.get(), &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      size_t size = 0;
      for (size_t index = 0; rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++index) {
        std::optional<std::string> text;
        if (value) text.emplace(static_cast<const char*>(value), size);
        letter.headers.emplace_back(name, std::move(text));
      }
    }
    letters.push_back(std::move(letter));
  }
  rd_kafka_consumer_close(consumer.get());
  return letters;
}

KafkaConfig kafka_config(const std::string& bootstrap, std::vector<std::pair<std::string, std::string>> properties = {}) {
  KafkaConfig config;
  config.bootstrap_servers = bootstrap;
  config.properties = std::move(properties);
  return config;
}

DeadLetter decode_letter(int64_t offset) {
  DeadLetter letter;
  letter.topic = "events";
  letter.partition = 2;
  letter.offset = offset;
  letter.timestamp_ms = 1700000000000 + offset;
  letter.key = "key-" + std::to_string(offset);
  letter.value = R"({"id": "not a number"})";
  letter.headers = {{"trace-id", "t-" + std::to_string(offset)}, {"source", "app"}};
  letter.stage = DeadLetterStage::Decode;
  letter.column = "id";
  letter.reason = "/id: expected a number for bigint";
  return letter;
}

std::vector<std::string> offsets_of(const std::vector<ReadBack>& letters) {
  std::vector<std::string> offsets;
  for (const ReadBack& letter : letters) offsets.push_back(letter.header(dead_letter_headers::kOffset).value_or("null"));
  return offsets;
}

/// What `action` writes to stderr (file descriptor 2, where kps::log and librdkafka write).
template <typename Action>
std::string capture_stderr(Action action) {
  std::fflush(stderr);
  std::FILE* capture = std::tmpfile();
  REQUIRE(capture != nullptr);
  const int saved = ::dup(2);
  ::dup2(::fileno(capture), 2);
  action();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::string text;
  std::rewind(capture);
  for (int c = std::fgetc(capture); c != EOF; c = std::fgetc(capture)) text.push_back(static_cast<char>(c));
  std::fclose(capture);
  return text;
}

}  // namespace

TEST_CASE("dead letters reach the topic with their original key, value and headers and every error header") {
  MockKafka kafka;
  DeadLetterProducer producer(kafka_config(kafka.bootstrap()), kDeadLetterTopic);

  DeadLetter database_reject = decode_letter(12);
  database_reject.stage = DeadLetterStage::Database;
  database_reject.column = "device_id";
  database_reject.sqlstate = "23514";
  database_reject.reason = "new row violates check constraint \"events_device_id_check\"";
  REQUIRE(producer.enqueue(decode_letter(10)));
  REQUIRE(producer.enqueue(decode_letter(11)));
  REQUIRE(producer.enqueue(database_reject));
  CHECK(producer.pending() == 3);

  const Status flushed = producer.flush(10s);
  INFO(flushed.message());
  REQUIRE(flushed.is_ok());
  CHECK(producer.pending() == 0);

  const std::vector<ReadBack> letters = read_dead_letters(kafka.bootstrap());
  REQUIRE(letters.size() == 3);
  namespace names = dead_letter_headers;
  for (size_t index = 0; index < letters.size(); ++index) {
    const ReadBack& letter = letters[index];
    const std::string offset = std::to_string(10 + index);
    INFO("letter for offset " << offset);
    CHECK(letter.key == "key-" + offset);
    CHECK(letter.value == R"({"id": "not a number"})");
    // The original headers come first, in their original order.
    REQUIRE(letter.headers.size() >= 2);
    CHECK(letter.headers[0] == Header{"trace-id", "t-" + offset});
    CHECK(letter.headers[1] == Header{"source", "app"});
    CHECK(letter.header(names::kTopic) == "events");
    CHECK(letter.header(names::kPartition) == "2");
    CHECK(letter.header(names::kOffset) == offset);
    CHECK(letter.header(names::kTimestamp) == std::to_string(1700000000000 + 10 + index));
    CHECK(letter.header(names::kConnectorName) == "kafka-pg-sink");
  }
  CHECK(letters[0].header(names::kStage) == "decode");
  CHECK(letters[0].header(names::kColumn) == "id");
  CHECK_FALSE(letters[0].has_header(names::kSqlstate));
  CHECK(letters[0].header(names::kExceptionMessage) == "/id: expected a number for bigint");
  CHECK(letters[2].header(names::kStage) == "database");
  CHECK(letters[2].header(names::kColumn) == "device_id");
  CHECK(letters[2].header(names::kSqlstate) == "23514");
  CHECK(letters[2].header(names::kExceptionMessage) ==
        "new row violates check constraint \"events_device_id_check\"");
  // Exactly the original headers plus the nine error headers: nothing else is added.
  CHECK(letters[0].headers.size() == 2 + 8);
  CHECK(letters[2].headers.size() == 2 + 9);
}

TEST_CASE("a tombstone, a null key and a null header value round-trip as null") {
  MockKafka kafka;
  DeadLetterProducer producer(kafka_config(kafka.bootstrap()), kDeadLetterTopic);

  DeadLetter tombstone;
  tombstone.topic = "events";
  tombstone.partition = 0;
  tombstone.offset = 7;
  tombstone.key = R"({"id": 1})";
  tombstone.value = std::nullopt;
  tombstone.headers = {{"empty", std::string()}, {"nothing", std::nullopt}};
  tombstone.reason = "a tombstone for a table without delete_on_tombstone";

  DeadLetter keyless;
  keyless.topic = "events";
  keyless.offset = 8;
  keyless.key = std::nullopt;
  keyless.value = std::string();  // empty, which is not null
  keyless.reason = "empty payload";

  REQUIRE(producer.enqueue(tombstone));
  REQUIRE(producer.enqueue(keyless));
  const Status flushed = producer.flush(10s);
  INFO(flushed.message());
  REQUIRE(flushed.is_ok());

  const std::vector<ReadBack> letters = read_dead_letters(kafka.bootstrap());
  REQUIRE(letters.size() == 2);
  CHECK(letters[0].key == R"({"id": 1})");
  CHECK_FALSE(letters[0].value.has_value());
  CHECK(letters[0].header("empty") == std::string());
  CHECK_FALSE(letters[0].header("nothing").has_value());
  // No timestamp on the original, no column: those error headers are left out, not empty.
  CHECK_FALSE(letters[0].has_header(dead_letter_headers::kTimestamp));
  CHECK_FALSE(letters[0].has_header(dead_letter_headers::kColumn));
  CHECK_FALSE(letters[1].key.has_value());
  REQUIRE(letters[1].value.has_value());
  CHECK(letters[1].value->empty());
}

TEST_CASE("flush reports how many dead letters the broker rejected and a retry delivers them exactly once") {
  MockKafka kafka;
  DeadLetterProducer producer(kafka_config(kafka.bootstrap()), kDeadLetterTopic);
  // Warm up: the idempotent producer's id and the topic's leader are known, so the
  // injected errors hit Produce requests and nothing else.
  REQUIRE(producer.enqueue(decode_letter(1)));
  REQUIRE(producer.flush(10s));

  // Non-retriable: librdkafka fails the letters at once instead of retrying them.
  rd_kafka_mock_push_request_errors(kafka.cluster(), 0 /* Produce */, 1, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  REQUIRE(producer.enqueue(decode_letter(2)));
  REQUIRE(producer.enqueue(decode_letter(3)));
  REQUIRE(producer.enqueue(decode_letter(4)));
  const Status failed = producer.flush(10s);
  REQUIRE_FALSE(failed.is_ok());
  CHECK(failed.kind() == ErrorKind::Transient);
  CHECK(failed.code() == "TOPIC_AUTHORIZATION_FAILED");
  CHECK_THAT(failed.message(), Catch::Contains("3 of 3 dead letters to topic events.dead-letters not acknowledged") &&
                                   Catch::Contains("3 failed") && Catch::Contains("Topic authorization failed"));

  // The caller retries from its stored offsets, the same letters again, with a backoff:
  // librdkafka holds on to the topic's error until its metadata is refreshed, and until
  // then enqueue() says the topic is unavailable.
  Status retried = Status::error(ErrorKind::Transient, "not tried");
  int attempts = 0;
  for (; attempts < 40 && !retried.is_ok(); ++attempts) {
    if (attempts > 0) std::this_thread::sleep_for(250ms);
    retried = Status::ok();
    for (int64_t offset = 2; offset <= 4 && retried.is_ok(); ++offset) retried = producer.enqueue(decode_letter(offset));
    if (!retried.is_ok()) {
      CHECK(retried.kind() == ErrorKind::Transient);
      CHECK_THAT(retried.message(), Catch::Contains("dead letter topic events.dead-letters unavailable"));
    }
    // Settles a half-done attempt too (with the topic error cached, the first enqueue fails).
    const Status flushed = producer.flush(10s);
    if (retried.is_ok()) retried = flushed;
  }
  INFO(retried.message() << " after " << attempts << " attempts");
  REQUIRE(retried.is_ok());
  CHECK(offsets_of(read_dead_letters(kafka.bootstrap())) == std::vector<std::string>{"1", "2", "3", "4"});
}

TEST_CASE("flush gives up after its timeout while the broker is down, and unsent letters are not sent later") {
  MockKafka kafka;
  DeadLetterProducer producer(kafka_config(kafka.bootstrap()), kDeadLetterTopic);
  REQUIRE(producer.enqueue(decode_letter(1)));
  REQUIRE(producer.flush(10s));

  REQUIRE(rd_kafka_mock_broker_set_down(kafka.cluster(), 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  REQUIRE(producer.enqueue(decode_letter(2)));
  REQUIRE(producer.enqueue(decode_letter(3)));
  const auto started = std::chrono::steady_clock::now();
  const Status waited = producer.flush(700ms);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  REQUIRE_FALSE(waited.is_ok());
  CHECK(waited.kind() == ErrorKind::Transient);
  CHECK_THAT(waited.message(), Catch::Contains("2 of 2 dead letters to topic events.dead-letters not acknowledged") &&
                                   Catch::Contains("2 still unacknowledged after 700 ms"));
  CHECK(elapsed >= 700ms);
  CHECK(elapsed < 5s);

  REQUIRE(rd_kafka_mock_broker_set_up(kafka.cluster(), 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  REQUIRE(producer.enqueue(decode_letter(2)));
  REQUIRE(producer.enqueue(decode_letter(3)));
  const Status retried = producer.flush(15s);
  INFO(retried.message());
  REQUIRE(retried.is_ok());
  // The letters of the failed flush were purged, not held back and sent beside the retry.
  CHECK(offsets_of(read_dead_letters(kafka.bootstrap())) == std::vector<std::string>{"1", "2", "3"});
}

TEST_CASE("flush gives up once its timeout has passed on the producer's clock, not on the wall clock") {
  MockKafka kafka;
  testing::ManualClock clock;
  DeadLetterProducer producer(kafka_config(kafka.bootstrap()), kDeadLetterTopic, ErrorsConfig().max_record_bytes, clock);
  REQUIRE(rd_kafka_mock_broker_set_down(kafka.cluster(), 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  REQUIRE(producer.enqueue(decode_letter(1)));
  clock.advance_on_every_read(std::chrono::minutes(1));
  const auto started = std::chrono::steady_clock::now();
  const Status waited = producer.flush(std::chrono::minutes(10));
  REQUIRE_FALSE(waited.is_ok());
  CHECK(waited.kind() == ErrorKind::Transient);
  CHECK_THAT(waited.message(), Catch::Contains("1 of 1 dead letters to topic events.dead-letters not acknowledged") &&
                                   Catch::Contains("1 still unacknowledged after 600000 ms"));
  // Ten minutes on the producer's clock; each wait for reports is at most 100 ms of real time.
  CHECK(std::chrono::steady_clock::now() - started < 5s);
}

TEST_CASE("flush with nothing enqueued is ok without waiting") {
  MockKafka kafka;
  DeadLetterProducer producer(kafka_config(kafka.bootstrap()), kDeadLetterTopic);
  const auto started = std::chrono::steady_clock::now();
  CHECK(producer.flush(5s).is_ok());
  CHECK(std::chrono::steady_clock::now() - started < 1s);
}

TEST_CASE("the dead letter producer refuses to let kafka.properties weaken its acknowledgements") {
  const KafkaConfig config = kafka_config("localhost:9", {{"security.protocol", "plaintext"},
                                                         {"acks", "1"},
                                                         {"enable.idempotence", "false"}});
  const std::vector<ConfigProblem> problems = check_dead_letter_properties(config);
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].path == "kafka.properties.acks");
  CHECK(problems[1].path == "kafka.properties.enable.idempotence");
  CHECK_THAT(problems[0].message, Catch::Contains("dead letter producer"));
  CHECK_THROWS_WITH(DeadLetterProducer(config, kDeadLetterTopic),
                    Catch::StartsWith("kafka.properties.acks: set by kafka-pg-sink itself"));
}

TEST_CASE("the dead letter producer accepts the consumer's properties and names a rejected one") {
  // Consumer-only properties are left out rather than handed to the producer, where
  // librdkafka would warn "is a consumer property and will be ignored".
  const std::string log = capture_stderr([] {
    DeadLetterProducer producer(kafka_config("localhost:9", {{"session.timeout.ms", "6000"},
                                                             {"isolation.level", "read_committed"},
                                                             {"socket.timeout.ms", "10000"}}),
                                kDeadLetterTopic);
  });
  CHECK_THAT(log, !Catch::Contains("consumer property"));
  CHECK_THROWS_WITH(DeadLetterProducer(kafka_config("localhost:9", {{"socket.timeout.ms", "soon"}}), kDeadLetterTopic),
                    Catch::StartsWith("kafka.properties.socket.timeout.ms (dead letter producer): "));
  CHECK_THROWS_WITH(DeadLetterProducer(kafka_config("localhost:9"), ""),
                    "errors.dead_letter_topic: must not be empty");
}

namespace {

/// A decode letter whose value is `size` bytes of a recognisable pattern.
DeadLetter big_letter(int64_t offset, size_t size) {
  DeadLetter letter = decode_letter(offset);
  letter.value = std::string();
  letter.value->reserve(size);
  for (size_t index = 0; index < size; ++index) letter.value->push_back(static_cast<char>('a' + index % 26));
  return letter;
}

}  // namespace

TEST_CASE("the dead letter producer is sized for errors.max_record_bytes unless kafka.properties says otherwise") {
  CHECK(DeadLetterProducer(kafka_config("localhost:9"), kDeadLetterTopic).max_message_bytes() ==
        8 * 1024 * 1024 + kDeadLetterHeadroomBytes);
  CHECK(DeadLetterProducer(kafka_config("localhost:9"), kDeadLetterTopic, 2000).max_message_bytes() ==
        2000 + kDeadLetterHeadroomBytes);
  CHECK(DeadLetterProducer(kafka_config("localhost:9", {{"message.max.bytes", "50000"}}), kDeadLetterTopic)
            .max_message_bytes() == 50000);
}

TEST_CASE("a 2 MB dead letter reaches the topic whole with the default settings") {
  MockKafka kafka;
  DeadLetterProducer producer(kafka_config(kafka.bootstrap()), kDeadLetterTopic);
  const DeadLetter letter = big_letter(5, 2 * 1024 * 1024);
  REQUIRE(producer.enqueue(letter));  // librdkafka's own default (1000000) would refuse it here
  const Status flushed = producer.flush(20s);
  INFO(flushed.message());
  REQUIRE(flushed.is_ok());

  const std::vector<ReadBack> letters = read_dead_letters(kafka.bootstrap(), 20s);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].value == letter.value);
  CHECK(letters[0].header(dead_letter_headers::kOffset) == "5");
  CHECK_FALSE(letters[0].has_header(dead_letter_headers::kValueTruncated));
  CHECK_FALSE(letters[0].has_header(dead_letter_headers::kValueOriginalBytes));
}

TEST_CASE("a dead letter over the producer's message.max.bytes goes with its value cut and headers saying so") {
  MockKafka kafka;
  DeadLetterProducer producer(kafka_config(kafka.bootstrap(), {{"message.max.bytes", "100000"}}), kDeadLetterTopic);
  const DeadLetter letter = big_letter(6, 300000);
  REQUIRE(producer.enqueue(letter));
  REQUIRE(producer.enqueue(decode_letter(7)));  // a small one beside it is untouched
  const Status flushed = producer.flush(20s);
  INFO(flushed.message());
  REQUIRE(flushed.is_ok());

  const std::vector<ReadBack> letters = read_dead_letters(kafka.bootstrap(), 20s);
  REQUIRE(letters.size() == 2);
  REQUIRE(letters[0].value.has_value());
  CHECK(letters[0].value->size() < 100000);
  CHECK(letters[0].value->size() > 90000);  // as much of it as fits
  CHECK(*letters[0].value == letter.value->substr(0, letters[0].value->size()));
  CHECK(letters[0].key == "key-6");
  CHECK(letters[0].header("trace-id") == "t-6");  // the original headers stay
  CHECK(letters[0].header(dead_letter_headers::kValueTruncated) == "true");
  CHECK(letters[0].header(dead_letter_headers::kValueOriginalBytes) == "300000");
  CHECK(letters[0].header(dead_letter_headers::kExceptionMessage) == "/id: expected a number for bigint");
  CHECK(letters[1].value == R"({"id": "not a number"})");
  CHECK_FALSE(letters[1].has_header(dead_letter_headers::kValueTruncated));
}

TEST_CASE("a dead letter the broker refuses as too large is sent again within the flush with its value cut") {
  MockKafka kafka;
  DeadLetterProducer producer(kafka_config(kafka.bootstrap()), kDeadLetterTopic);
  // Warm up, so the injected error hits the letter's Produce request.
  REQUIRE(producer.enqueue(decode_letter(1)));
  REQUIRE(producer.flush(10s));

  // The broker's limit is below the producer's: it refuses the request.
  rd_kafka_mock_push_request_errors(kafka.cluster(), 0 /* Produce */, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  const DeadLetter letter = big_letter(2, 200000);
  REQUIRE(producer.enqueue(letter));
  const Status flushed = producer.flush(20s);
  INFO(flushed.message());
  REQUIRE(flushed.is_ok());
  CHECK(producer.pending() == 0);

  const std::vector<ReadBack> letters = read_dead_letters(kafka.bootstrap(), 20s);
  REQUIRE(offsets_of(letters) == std::vector<std::string>{"1", "2"});
  REQUIRE(letters[1].value.has_value());
  CHECK(letters[1].value->size() == DeadLetterProducer::kBrokerCutValueBytes);
  CHECK(*letters[1].value == letter.value->substr(0, DeadLetterProducer::kBrokerCutValueBytes));
  CHECK(letters[1].key == "key-2");
  CHECK(letters[1].header("trace-id") == "t-2");
  CHECK(letters[1].header(dead_letter_headers::kValueTruncated) == "true");
  CHECK(letters[1].header(dead_letter_headers::kValueOriginalBytes) == "200000");

  // Refused again after the cut: the value goes altogether, the letter still arrives.
  rd_kafka_mock_push_request_errors(kafka.cluster(), 0 /* Produce */, 2, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                    RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  REQUIRE(producer.enqueue(big_letter(3, 200000)));
  const Status flushed_again = producer.flush(20s);
  INFO(flushed_again.message());
  REQUIRE(flushed_again.is_ok());
  const std::vector<ReadBack> all = read_dead_letters(kafka.bootstrap(), 20s);
  REQUIRE(offsets_of(all) == std::vector<std::string>{"1", "2", "3"});
  REQUIRE(all[2].value.has_value());
  CHECK(all[2].value->empty());
  CHECK(all[2].header(dead_letter_headers::kValueOriginalBytes) == "200000");
}

}  // namespace kps
