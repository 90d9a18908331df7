// Which topics the daemon subscribes to: whole names only, in the one regex dialect the
// pipeline routes by, never the dead letter topic.

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "connector/config.h"
#include "connector/topic_selector.h"

using kps::Config;
using kps::SinkConfig;
using kps::TopicSelector;

namespace {

SinkConfig sink_on(std::string topic, std::string topic_pattern) {
  SinkConfig sink;
  sink.topic = std::move(topic);
  sink.topic_pattern = std::move(topic_pattern);
  return sink;
}

const std::vector<std::string> kCluster = {"orders", "orders.eu", "orders-archive", "orders-dlq", "ordersX",
                                           "audit", "pre-orders"};

}  // namespace

TEST_CASE("a topic_pattern that starts with ^ selects whole names only, not every name it begins") {
  Config config;
  config.sinks.push_back(sink_on("", "^orders"));
  const TopicSelector selector(config);
  CHECK(selector.follows_cluster());
  CHECK(selector.select(kCluster) == std::vector<std::string>{"orders"});
}

TEST_CASE("a topic_pattern selects the topics whose whole name it matches, sorted") {
  Config config;
  config.sinks.push_back(sink_on("", "orders(\\.eu)?"));
  CHECK(TopicSelector(config).select(kCluster) == std::vector<std::string>{"orders", "orders.eu"});
}

TEST_CASE("the dead letter topic is never selected, even by a pattern that matches it") {
  Config config;
  config.errors.dead_letter_topic = "orders-dlq";
  config.sinks.push_back(sink_on("", "orders.*"));
  CHECK(TopicSelector(config).select(kCluster) ==
        std::vector<std::string>{"orders", "orders-archive", "orders.eu", "ordersX"});
}

TEST_CASE("exact topics are selected whether or not they exist yet, and only once") {
  Config config;
  config.sinks.push_back(sink_on("payments", ""));
  config.sinks.push_back(sink_on("audit", ""));
  config.sinks.push_back(sink_on("", "aud.t"));
  const TopicSelector selector(config);
  CHECK(selector.select(kCluster) == std::vector<std::string>{"audit", "payments"});
  CHECK(selector.select({}) == std::vector<std::string>{"audit", "payments"});
}

TEST_CASE("a config without patterns does not follow the cluster's topics") {
  Config config;
  config.sinks.push_back(sink_on("orders", ""));
  CHECK_FALSE(TopicSelector(config).follows_cluster());
}

TEST_CASE("kafka.topic_refresh_interval_ms defaults to 30 s and takes a duration of at least 100 ms") {
  const std::string head = "postgres: {dsn: 'host=db'}\nsinks:\n  - {topic_pattern: 'orders.*', table: t, "
                           "columns: {id: {path: /id, type: bigint}}}\n";
  using namespace std::chrono_literals;
  CHECK(kps::parse_config("kafka: {bootstrap_servers: 'b:9092'}\n" + head, {}).kafka.topic_refresh_interval == 30000ms);
  CHECK(kps::parse_config("kafka: {bootstrap_servers: 'b:9092', topic_refresh_interval_ms: 2s}\n" + head, {})
            .kafka.topic_refresh_interval == 2000ms);
  try {
    kps::parse_config("kafka: {bootstrap_servers: 'b:9092', topic_refresh_interval_ms: 10}\n" + head, {});
    FAIL("an interval of 10 ms was accepted");
  } catch (const kps::ConfigError& error) {
    REQUIRE(error.problems().size() == 1);
    CHECK(error.problems()[0].path == "kafka.topic_refresh_interval_ms");
  }
}

TEST_CASE("wants() answers for one name what select() picks: never the dead letter or an internal topic") {
  Config config;
  config.errors.dead_letter_topic = "orders-dlq";
  config.sinks.push_back(sink_on("payments", ""));
  config.sinks.push_back(sink_on("", "orders.*"));
  config.sinks.push_back(sink_on("", ".*offsets"));
  const TopicSelector selector(config);
  CHECK(selector.wants("payments"));
  CHECK(selector.wants("orders"));
  CHECK(selector.wants("orders.eu"));
  CHECK_FALSE(selector.wants("orders-dlq"));          // what --until-caught-up would wait for forever
  CHECK_FALSE(selector.wants("__consumer_offsets"));  // matched by .*offsets, still Kafka's own
  CHECK_FALSE(selector.wants("pre-orders"));
  for (const std::string& topic : kCluster) {
    const auto selected = selector.select(std::vector<std::string>{topic});
    CHECK(selector.wants(topic) == (std::find(selected.begin(), selected.end(), topic) != selected.end()));
  }
}
