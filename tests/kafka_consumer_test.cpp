// The consumer adapter's batched lookups and the range reader, against librdkafka's
// in-process mock cluster: what a big assignment asks of Kafka in one round, and how the
// dedup rebuild re-reads many partitions at once. Also the configuration every consumer
// gets (the group member's, the range reader's, the offsets admin's), and the deadlines of
// those consumers on a manual clock.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "connector/kafka_consumer.h"
#include "connector/kafka_consumer_conf.h"
#include "connector/kafka_offsets_admin.h"
#include "tests/test_support.h"

namespace kps {
namespace {

using namespace std::chrono_literals;

struct DestroyHandle {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
struct DestroyCluster {
  void operator()(rd_kafka_mock_cluster_t* cluster) const { rd_kafka_mock_cluster_destroy(cluster); }
};

constexpr const char* kTopic = "many";
constexpr int kPartitions = 64;

/// Partition p holds p % 7 + 1 records; the value of each is "p/offset", with a header
/// naming the partition.
int64_t records_in(int partition) { return partition % 7 + 1; }

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
    if (rd_kafka_mock_topic_create(cluster_.get(), kTopic, kPartitions, 1) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("cannot create the topic");
    }
    produce();
  }

  KafkaConfig config() const {
    KafkaConfig config;
    config.bootstrap_servers = rd_kafka_mock_cluster_bootstraps(cluster_.get());
    config.group_id = "kafka-consumer-test";
    config.properties = {{"log_level", "0"}};
    return config;
  }

 private:
  void produce() {
    char error_text[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(cluster_.get()), error_text,
                      sizeof error_text);
    rd_kafka_conf_set(conf, "log_level", "0", error_text, sizeof error_text);
    std::unique_ptr<rd_kafka_t, DestroyHandle> producer(
        rd_kafka_new(RD_KAFKA_PRODUCER, conf, error_text, sizeof error_text));
    if (!producer) throw std::runtime_error(std::string("producer: ") + error_text);
    for (int partition = 0; partition < kPartitions; ++partition) {
      for (int64_t offset = 0; offset < records_in(partition); ++offset) {
        const std::string value = std::to_string(partition) + "/" + std::to_string(offset);
        const std::string header = std::to_string(partition);
        const rd_kafka_resp_err_t error = rd_kafka_producev(
            producer.get(), RD_KAFKA_V_TOPIC(kTopic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
            RD_KAFKA_V_HEADER("partition", header.data(), static_cast<ssize_t>(header.size())),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (error != RD_KAFKA_RESP_ERR_NO_ERROR) throw std::runtime_error(rd_kafka_err2str(error));
      }
    }
    if (rd_kafka_flush(producer.get(), 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) throw std::runtime_error("flush");
  }

  std::unique_ptr<rd_kafka_t, DestroyHandle> host_;  // destroyed after the cluster it hosts
  std::unique_ptr<rd_kafka_mock_cluster_t, DestroyCluster> cluster_;
};

/// A property of a configuration the adapter built, as librdkafka holds it.
std::string property(const rdkafka::Conf& conf, const char* name) {
  char value[512];
  size_t size = sizeof value;
  if (rd_kafka_conf_get(conf.get(), name, value, &size) != RD_KAFKA_CONF_OK) return "<unset>";
  return value;
}

KafkaConfig config_with(std::vector<std::pair<std::string, std::string>> properties) {
  KafkaConfig config;
  config.bootstrap_servers = "broker-1:9092";
  config.group_id = "orders-sink";
  config.properties = std::move(properties);
  return config;
}

/// What `action` writes to stderr (file descriptor 2, where kps::log writes).
template <typename Action>
std::string capture_stderr(Action action) {
  std::fflush(stderr);
  std::FILE* capture = std::tmpfile();
  if (capture == nullptr) throw std::runtime_error("no temporary file");
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

/// Plans every assignment in 1234 ms of the consumer's clock, as a slow read of PostgreSQL's
/// offsets would take.
class SlowPlanner final : public RebalanceListener {
 public:
  explicit SlowPlanner(testing::ManualClock& clock) : clock_(clock) {}
  AssignmentPlan on_partitions_assigned(std::span<const TopicPartition> partitions) override {
    clock_.advance(std::chrono::milliseconds(1234));
    assigned += partitions.size();
    return {};
  }
  void on_partitions_revoked(std::span<const TopicPartition>, bool) override {}
  size_t assigned = 0;

 private:
  testing::ManualClock& clock_;
};

class NoRebalances final : public RebalanceListener {
 public:
  AssignmentPlan on_partitions_assigned(std::span<const TopicPartition>) override { return {}; }
  void on_partitions_revoked(std::span<const TopicPartition>, bool) override {}
};

}  // namespace

TEST_CASE("the watermarks of many partitions come back from one call, in the order asked") {
  MockKafka kafka;
  NoRebalances listener;
  KafkaConsumer consumer(kafka.config(), listener);
  std::vector<TopicPartition> partitions;
  for (int partition = kPartitions - 1; partition >= 0; --partition) partitions.push_back({kTopic, partition});

  const auto marks = consumer.query_watermarks(partitions, 10s);
  REQUIRE(marks);
  REQUIRE(marks.value().size() == partitions.size());
  for (size_t index = 0; index < partitions.size(); ++index) {
    const PartitionWatermarks& mark = marks.value()[index];
    CAPTURE(index);
    CHECK(mark.topic_partition == partitions[index]);
    CHECK(mark.low == 0);
    CHECK(mark.high == records_in(partitions[index].partition));
  }
  const auto by_name = consumer.query_watermarks([](std::string_view topic) { return topic == kTopic; }, 10s);
  REQUIRE(by_name);
  CHECK(by_name.value().size() == static_cast<size_t>(kPartitions));
  const auto none = consumer.query_watermarks(std::span<const TopicPartition>{}, 10s);
  REQUIRE(none);
  CHECK(none.value().empty());
}

TEST_CASE("offsets by time are answered per partition, nothing where the broker cannot tell") {
  MockKafka kafka;
  NoRebalances listener;
  KafkaConsumer consumer(kafka.config(), listener);
  const std::vector<std::pair<TopicPartition, int64_t>> timestamps = {{{kTopic, 3}, 0}, {{kTopic, 5}, 0}};
  const auto offsets = consumer.offsets_for_times(timestamps, 10s);
  REQUIRE(offsets);
  // The mock cluster answers -1 for every timestamp lookup: the caller falls back to the log's start.
  CHECK(offsets.value() == std::vector<std::optional<int64_t>>{std::nullopt, std::nullopt});
}

TEST_CASE("a range reader re-reads the ranges of many partitions together and reports each range done once") {
  MockKafka kafka;
  std::vector<OffsetRange> ranges;
  for (int partition = 0; partition < kPartitions; ++partition) {
    // Skip the first record of each partition; the last partition's range ends beyond its log.
    const int64_t to = partition == kPartitions - 1 ? records_in(partition) + 100 : records_in(partition);
    ranges.push_back({{kTopic, partition}, 1, to});
  }
  auto opened = RangeReader::open(kafka.config(), ranges);
  REQUIRE(opened);
  RangeReader& reader = *opened.value();

  std::map<int32_t, std::vector<std::string>> values;
  std::map<int32_t, int> done;
  bool headers_seen = true;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!reader.done() && std::chrono::steady_clock::now() < deadline) {
    const Status status = reader.read_for(
        50ms,
        [&](const RecordView& record) {
          values[record.partition].emplace_back(*record.value);
          headers_seen = headers_seen && record.headers.size() == 1 && record.headers[0].name == "partition" &&
                         record.headers[0].value == std::to_string(record.partition);
        },
        [&](const TopicPartition& tp) { ++done[tp.partition]; });
    REQUIRE(status);
  }
  REQUIRE(reader.done());
  CHECK(headers_seen);
  for (int partition = 0; partition < kPartitions; ++partition) {
    CAPTURE(partition);
    std::vector<std::string> expected;
    for (int64_t offset = 1; offset < records_in(partition); ++offset) {
      expected.push_back(std::to_string(partition) + "/" + std::to_string(offset));
    }
    CHECK(values[partition] == expected);
    // A one-record partition has an empty range: done at once, never reported.
    CHECK(done[partition] == (records_in(partition) > 1 || partition == kPartitions - 1 ? 1 : 0));
  }
}

TEST_CASE("a dropped range is never reported done and its records are not handed over") {
  MockKafka kafka;
  const std::vector<OffsetRange> ranges = {{{kTopic, 6}, 0, 7}, {{kTopic, 13}, 0, 7}};
  auto opened = RangeReader::open(kafka.config(), ranges);
  REQUIRE(opened);
  RangeReader& reader = *opened.value();
  reader.drop({kTopic, 13});
  std::vector<int32_t> seen;
  std::vector<int32_t> done;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!reader.done() && std::chrono::steady_clock::now() < deadline) {
    REQUIRE(reader.read_for(
        50ms, [&](const RecordView& record) { seen.push_back(record.partition); },
        [&](const TopicPartition& tp) { done.push_back(tp.partition); }));
  }
  CHECK(seen == std::vector<int32_t>(7, 6));
  CHECK(done == std::vector<int32_t>{6});
}

TEST_CASE("every consumer the daemon opens gets what exactly-once depends on, whatever kafka.properties says") {
  const KafkaConfig config = config_with({{"enable.auto.commit", "true"}});
  for (const ConsumerRole role : {ConsumerRole::GroupMember, ConsumerRole::RangeReader, ConsumerRole::OffsetsAdmin}) {
    CAPTURE(static_cast<int>(role));
    // A property the daemon sets itself is refused, for every role alike.
    const auto refused = make_consumer_conf(config, role);
    REQUIRE_FALSE(refused);
    CHECK(refused.status().kind() == ErrorKind::Fatal);
    CHECK(refused.status().message() ==
          "kafka.properties.enable.auto.commit: set by kafka-pg-sink itself (offsets are stored in PostgreSQL); remove it");

    auto built = make_consumer_conf(config_with({{"session.timeout.ms", "12000"}}), role);
    REQUIRE(built);
    const rdkafka::Conf& conf = built.value();
    CHECK(property(conf, "bootstrap.servers") == "broker-1:9092");
    CHECK(property(conf, "enable.auto.commit") == "false");
    CHECK(property(conf, "enable.auto.offset.store") == "false");
    CHECK(property(conf, "enable.partition.eof") == "true");
    CHECK(property(conf, "session.timeout.ms") == "12000");  // the user's own properties reach every consumer
  }
  const auto group_id = [](ConsumerRole role) {
    auto built = make_consumer_conf(config_with({}), role);
    REQUIRE(built);
    return property(built.value(), "group.id") + " " + property(built.value(), "client.id");
  };
  CHECK(group_id(ConsumerRole::GroupMember) == "orders-sink kafka-pg-sink");
  CHECK(group_id(ConsumerRole::RangeReader) == "orders-sink.dedup-rebuild kafka-pg-sink-range-reader");
  CHECK(group_id(ConsumerRole::OffsetsAdmin) == "orders-sink kafka-pg-sink-offsets");
}

TEST_CASE("auto.offset.reset from kafka.properties steers the group member only; re-reads always start at the log's start") {
  const KafkaConfig config = config_with({{"auto.offset.reset", "latest"}});
  const auto reset = [&](const KafkaConfig& from, ConsumerRole role) {
    auto built = make_consumer_conf(from, role);
    REQUIRE(built);
    return property(built.value(), "auto.offset.reset");
  };
  // librdkafka keeps "latest" as "largest" and "earliest" as "smallest".
  CHECK(reset(config, ConsumerRole::GroupMember) == "largest");
  CHECK(reset(config, ConsumerRole::RangeReader) == "smallest");
  CHECK(reset(config, ConsumerRole::OffsetsAdmin) == "smallest");
  CHECK(reset(config_with({}), ConsumerRole::GroupMember) == "smallest");
  // Only the group member's fetch queue is sized for a backfill.
  auto member = make_consumer_conf(config_with({}), ConsumerRole::GroupMember);
  auto reader = make_consumer_conf(config_with({}), ConsumerRole::RangeReader);
  REQUIRE(member);
  REQUIRE(reader);
  CHECK(property(member.value(), "queued.max.messages.kbytes") == "32768");
  CHECK(property(reader.value(), "queued.max.messages.kbytes") != "32768");
}

TEST_CASE("a property librdkafka rejects is named with its reason, and a secret's reason is withheld") {
  const auto unknown = make_consumer_conf(config_with({{"no.such.property", "1"}}), ConsumerRole::RangeReader);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.status().kind() == ErrorKind::Fatal);
  CHECK_THAT(unknown.status().message(),
             Catch::StartsWith("kafka.properties.no.such.property: No such configuration property"));
  const auto secret = make_consumer_conf(config_with({{"no.such.password", "hunter2"}}), ConsumerRole::OffsetsAdmin);
  REQUIRE_FALSE(secret);
  CHECK(secret.status().message() == "kafka.properties.no.such.password: invalid value");
  // The group member's constructor says the same, as an exception.
  NoRebalances listener;
  CHECK_THROWS_WITH(KafkaConsumer(config_with({{"no.such.password", "hunter2"}}), listener),
                    "kafka.properties.no.such.password: invalid value");
}

TEST_CASE("read_range gives up once its timeout has passed on the consumer's clock, not on the wall clock") {
  MockKafka kafka;
  NoRebalances listener;
  testing::ManualClock clock;
  KafkaConsumer consumer(kafka.config(), listener, clock);
  clock.advance_on_every_read(std::chrono::minutes(1));
  const auto started = std::chrono::steady_clock::now();
  size_t records = 0;
  const Status status = consumer.read_range({kTopic, 6}, 0, 1000, [&](const RecordView&) { ++records; },
                                            std::chrono::minutes(10));
  REQUIRE_FALSE(status);
  CHECK(status.kind() == ErrorKind::Transient);
  CHECK(status.message() == "re-reading topic=many partition=6 did not reach offset 1000 in time");
  CHECK(std::chrono::steady_clock::now() - started < 5s);  // ten minutes on the consumer's clock
}

TEST_CASE("a range reader reads until its budget has passed on its clock") {
  MockKafka kafka;
  testing::ManualClock clock;
  clock.advance_on_every_read(1s);
  const std::vector<OffsetRange> ranges = {{{kTopic, 6}, 0, 7}, {{kTopic, 13}, 2, 7}};
  auto opened = RangeReader::open(kafka.config(), ranges, clock);
  REQUIRE(opened);
  RangeReader& reader = *opened.value();
  size_t records = 0;
  std::vector<int32_t> done;
  const auto count = [&](const RecordView&) { ++records; };
  const auto note_done = [&](const TopicPartition& tp) { done.push_back(tp.partition); };

  // Spent by the time it would wait: nothing is read, nothing is lost.
  REQUIRE(reader.read_for(500ms, count, note_done));
  CHECK(records == 0);
  CHECK_FALSE(reader.done());
  // An hour on its clock (a second per reading) outlasts both ranges: one call reads them whole.
  REQUIRE(reader.read_for(std::chrono::hours(1), count, note_done));
  CHECK(reader.done());
  CHECK(records == 7 + 5);
  std::sort(done.begin(), done.end());
  CHECK(done == std::vector<int32_t>{6, 13});
}

TEST_CASE("the offsets admin reads a partition by time while records come, and gives up once a wait passes on its clock") {
  MockKafka kafka;
  const std::vector<TopicPartition> partitions = {{kTopic, 6}};
  {
    // A clock that never moves: the broker cannot look up by time, so the partition is read
    // from its start; the first record is recent enough.
    testing::ManualClock clock;
    KafkaOffsetsAdmin admin(kafka.config(), 10s, clock);
    const auto found = admin.offsets_for_time(partitions, 0);
    REQUIRE(found);
    CHECK(found.value() == std::vector<std::optional<int64_t>>{0});
  }
  testing::ManualClock clock;
  clock.advance_on_every_read(std::chrono::minutes(1));
  KafkaOffsetsAdmin admin(kafka.config(), 10s, clock);
  const auto started = std::chrono::steady_clock::now();
  const auto gave_up = admin.offsets_for_time(partitions, 0);
  REQUIRE_FALSE(gave_up);
  CHECK(gave_up.status().kind() == ErrorKind::Transient);
  CHECK(gave_up.status().message() == "reading topic=many partition=6 did not finish within 10000 ms");
  CHECK(std::chrono::steady_clock::now() - started < 5s);
}

TEST_CASE("the rebalance log times an assignment's planning on the consumer's clock") {
  MockKafka kafka;
  testing::ManualClock clock;
  SlowPlanner planner(clock);
  bool subscribed = false;
  const std::string logged = capture_stderr([&] {
    KafkaConsumer consumer(kafka.config(), planner, clock);
    subscribed = consumer.subscribe({kTopic}).is_ok();
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (subscribed && planner.assigned == 0 && std::chrono::steady_clock::now() < deadline) {
      if (!consumer.poll(100ms)) break;
    }
    // Bounds close()'s wait for the revoke: a clock that never moves would never end it.
    clock.advance_on_every_read(1s);
    consumer.close();
  });
  REQUIRE(subscribed);
  REQUIRE(planner.assigned == static_cast<size_t>(kPartitions));
  CHECK_THAT(logged, Catch::Contains("rebalance: 64 partition(s) assigned, 64 owned; planned in 1234 ms"));
}

}  // namespace kps
