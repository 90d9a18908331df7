#include "connector/kafka_consumer_conf.h"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "connector/kafka_consumer.h"
#include "connector/log.h"

namespace kps {
namespace {

// Properties that exactly-once depends on: the daemon sets them, a user may not.
constexpr std::array<std::string_view, 5> kOwnedProperties = {
    "bootstrap.servers", "group.id", "enable.auto.commit", "enable.auto.offset.store", "enable.partition.eof"};

bool is_owned(std::string_view name) {
  return std::find(kOwnedProperties.begin(), kOwnedProperties.end(), name) != kOwnedProperties.end();
}

std::string owned_property_problem() {
  return "set by kafka-pg-sink itself (offsets are stored in PostgreSQL); remove it";
}

void log_every_level(const rd_kafka_t*, int level, const char* facility, const char* message) {
  log::emit(rdkafka::log_level_of_syslog(level), "librdkafka ", facility, ": ", message);
}

void log_errors_only(const rd_kafka_t*, int level, const char* facility, const char* message) {
  if (level <= 3) log::warn("librdkafka ", facility, ": ", message);
}

}  // namespace

Result<rdkafka::Conf> make_consumer_conf(const KafkaConfig& config, ConsumerRole role) {
  rdkafka::Conf conf(rd_kafka_conf_new());
  Status problem;
  char error_text[512];
  const auto set = [&](std::string_view name, const std::string& value) {
    if (!problem.is_ok()) return;
    const std::string name_text(name);
    if (rd_kafka_conf_set(conf.get(), name_text.c_str(), value.c_str(), error_text, sizeof error_text) !=
        RD_KAFKA_CONF_OK) {
      // The value may be a secret, and librdkafka's reason may quote it.
      const std::string detail = rdkafka::looks_secret(name) ? "invalid value" : std::string(error_text);
      problem = Status::error(ErrorKind::Fatal, "kafka.properties." + name_text + ": " + detail);
    }
  };

  // The role's defaults: kafka.properties may override them.
  set("auto.offset.reset", "earliest");
  switch (role) {
    case ConsumerRole::GroupMember:
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
      break;
    case ConsumerRole::RangeReader:
      set("client.id", "kafka-pg-sink-range-reader");
      break;
    case ConsumerRole::OffsetsAdmin:
      set("client.id", "kafka-pg-sink-offsets");
      break;
  }

  for (const auto& [name, value] : config.properties) {
    if (is_owned(name)) {
      return Status::error(ErrorKind::Fatal, "kafka.properties." + name + ": " + owned_property_problem());
    }
    set(name, value);
  }

  // What exactly-once depends on, whatever kafka.properties said.
  set("bootstrap.servers", config.bootstrap_servers);
  set("enable.auto.commit", "false");
  set("enable.auto.offset.store", "false");
  set("enable.partition.eof", "true");
  switch (role) {
    case ConsumerRole::GroupMember:
      set("group.id", config.group_id);
      rd_kafka_conf_set_log_cb(conf.get(), &log_every_level);
      break;
    case ConsumerRole::RangeReader:
      // A group id of its own that never joins or commits: assign() needs no group.
      set("group.id", config.group_id + ".dedup-rebuild");
      set("auto.offset.reset", "earliest");
      rd_kafka_conf_set_log_cb(conf.get(), &log_every_level);
      break;
    case ConsumerRole::OffsetsAdmin:
      // The group's own id: its committed offsets are what the command reads and moves.
      set("group.id", config.group_id);
      set("auto.offset.reset", "earliest");
      rd_kafka_conf_set_log_cb(conf.get(), &log_errors_only);
      break;
  }
  if (!problem.is_ok()) return problem;
  return conf;
}

std::vector<ConfigProblem> check_kafka_properties(const KafkaConfig& config) {
  std::vector<ConfigProblem> problems;
  const rdkafka::Conf conf(rd_kafka_conf_new());
  char error_text[512];
  for (const auto& [name, value] : config.properties) {
    const std::string path = "kafka.properties." + name;
    if (is_owned(name)) {
      problems.push_back({path, owned_property_problem()});
    } else if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), error_text, sizeof error_text) !=
               RD_KAFKA_CONF_OK) {
      problems.push_back({path, rdkafka::looks_secret(name) ? "invalid value" : std::string(error_text)});
    }
  }
  return problems;
}

}  // namespace kps
