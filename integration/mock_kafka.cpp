// kps-mock-kafka: hosts a librdkafka mock cluster in its own process, so integration tests
// can produce with kcat, run the daemon against it and kill -9 the daemon without losing the
// broker, and reads back what a test needs to assert (committed offsets, watermarks).
//
//   kps-mock-kafka serve [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file PATH]
//   kps-mock-kafka committed --bootstrap B --group G --topic T [--partitions N]
//   kps-mock-kafka commit --bootstrap B --group G --topic T --partition P --offset O
//   kps-mock-kafka watermarks --bootstrap B --topic T [--partitions N]
//
// Errors go to stderr and exit 1.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace kps {
namespace {

constexpr int kRequestTimeoutMs = 10000;

struct KafkaHandleDeleter {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaHandleDeleter>;

struct MockClusterDeleter {
  void operator()(rd_kafka_mock_cluster_t* cluster) const { rd_kafka_mock_cluster_destroy(cluster); }
};
using MockCluster = std::unique_ptr<rd_kafka_mock_cluster_t, MockClusterDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

struct TopicHandleDeleter {
  void operator()(rd_kafka_topic_t* topic) const { rd_kafka_topic_destroy(topic); }
};
using TopicHandle = std::unique_ptr<rd_kafka_topic_t, TopicHandleDeleter>;

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* metadata) const { rd_kafka_metadata_destroy(metadata); }
};
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

struct TopicSpec {
  std::string name;
  int partitions = 1;
};

/// The flags after the subcommand: `--name value` pairs, repeatable.
class Flags {
 public:
  Flags(int argc, char** argv, int first) {
    for (int i = first; i < argc; i += 2) {
      std::string_view name = argv[i];
      if (!name.starts_with("--")) throw std::runtime_error("expected a --flag, got '" + std::string(name) + "'");
      if (i + 1 >= argc) throw std::runtime_error("flag " + std::string(name) + " needs a value");
      values_.emplace(std::string(name.substr(2)), argv[i + 1]);
    }
  }

  /// Every flag must be one the subcommand knows: a typo must not be silently ignored.
  void allow_only(const std::vector<std::string>& known) const {
    for (const auto& [name, value] : values_) {
      if (std::ranges::find(known, name) == known.end()) throw std::runtime_error("unknown flag --" + name);
    }
  }

  std::vector<std::string> all(const std::string& name) const {
    std::vector<std::string> result;
    auto [begin, end] = values_.equal_range(name);
    for (auto it = begin; it != end; ++it) result.push_back(it->second);
    return result;
  }

  std::string optional(const std::string& name, std::string fallback = {}) const {
    auto values = all(name);
    if (values.size() > 1) throw std::runtime_error("flag --" + name + " given more than once");
    return values.empty() ? fallback : values.front();
  }

  std::string required(const std::string& name) const {
    auto value = optional(name);
    if (value.empty()) throw std::runtime_error("missing required flag --" + name);
    return value;
  }

 private:
  std::multimap<std::string, std::string> values_;
};

int64_t parse_integer(const std::string& text, const std::string& what, int64_t minimum, int64_t maximum) {
  size_t consumed = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &consumed);
  } catch (const std::exception&) {
    consumed = 0;
  }
  if (consumed != text.size() || value < minimum || value > maximum) {
    throw std::runtime_error(what + " must be an integer from " + std::to_string(minimum) + " to " +
                             std::to_string(maximum) + ", got '" + text + "'");
  }
  return value;
}

int parse_count(const std::string& text, const std::string& what) {
  return static_cast<int>(parse_integer(text, what, 1, std::numeric_limits<int>::max()));
}

TopicSpec parse_topic_spec(const std::string& spec) {
  auto colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    throw std::runtime_error("--topic expects NAME:PARTITIONS, got '" + spec + "'");
  }
  return {spec.substr(0, colon), parse_count(spec.substr(colon + 1), "partition count in --topic " + spec)};
}

KafkaHandle new_handle(rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& properties) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error("setting " + name + ": " + error);
    }
  }
  // rd_kafka_new takes ownership of conf only when it succeeds.
  rd_kafka_t* handle = rd_kafka_new(type, conf, error, sizeof error);
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("creating the Kafka client: ") + error);
  }
  return KafkaHandle(handle);
}

void write_file_atomically(const std::string& path, const std::string& content) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << content << '\n';
    out.close();
    if (!out) throw std::runtime_error("cannot write " + temporary);
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) throw std::runtime_error("cannot rename " + temporary + " to " + path + ": " + error.message());
}

int serve(const Flags& flags) {
  flags.allow_only({"brokers", "topic", "bootstrap-file"});
  const int brokers = parse_count(flags.optional("brokers", "1"), "--brokers");
  std::vector<TopicSpec> topics;
  for (const auto& spec : flags.all("topic")) topics.push_back(parse_topic_spec(spec));
  const std::string bootstrap_file = flags.optional("bootstrap-file");

  // Block the stop signals before librdkafka starts its threads, so they inherit the mask
  // and sigwait() below is the only place the signals are taken.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // The handle only hosts the cluster (its logging and threads); it must outlive the cluster,
  // which the declaration order guarantees.
  // log_level 4 hides the notice that this handle has no bootstrap.servers: it never connects.
  KafkaHandle host = new_handle(RD_KAFKA_PRODUCER, {{"log_level", "4"}});
  MockCluster cluster(rd_kafka_mock_cluster_new(host.get(), brokers));
  if (!cluster) throw std::runtime_error("rd_kafka_mock_cluster_new failed");

  for (const auto& topic : topics) {
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster.get(), topic.name.c_str(), topic.partitions, 1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("creating topic " + topic.name + ": " + rd_kafka_err2str(err));
    }
  }

  const std::string bootstraps = rd_kafka_mock_cluster_bootstraps(cluster.get());
  if (!bootstrap_file.empty()) write_file_atomically(bootstrap_file, bootstraps);
  std::cout << bootstraps << std::endl;  // endl: the parent reads this line through a pipe

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  return 0;
}

/// A consumer of --group that never subscribes: it only talks to the group coordinator and
/// does not join the group, so it cannot disturb a daemon that is a member.
KafkaHandle new_group_client(const Flags& flags) {
  return new_handle(RD_KAFKA_CONSUMER, {{"bootstrap.servers", flags.required("bootstrap")},
                                        {"group.id", flags.required("group")},
                                        {"enable.auto.commit", "false"}});
}

/// Partition count from --partitions, or from the broker's metadata when not given.
int partition_count(rd_kafka_t* handle, const Flags& flags, const std::string& topic) {
  const std::string given = flags.optional("partitions");
  if (!given.empty()) return parse_count(given, "--partitions");

  const rd_kafka_metadata_t* raw = nullptr;
  // A topic handle restricts the request to that topic (and never auto-creates other topics).
  TopicHandle topic_handle(rd_kafka_topic_new(handle, topic.c_str(), nullptr));
  rd_kafka_resp_err_t err = rd_kafka_metadata(handle, 0, topic_handle.get(), &raw, kRequestTimeoutMs);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("reading metadata of topic " + topic + ": " + rd_kafka_err2str(err));
  }
  Metadata metadata(raw);
  if (metadata->topic_cnt != 1 || metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("topic " + topic + " not found on the cluster");
  }
  return metadata->topics[0].partition_cnt;
}

int committed(const Flags& flags) {
  flags.allow_only({"bootstrap", "group", "topic", "partitions"});
  const std::string topic = flags.required("topic");
  KafkaHandle consumer = new_group_client(flags);
  const int partitions = partition_count(consumer.get(), flags, topic);

  PartitionList list(rd_kafka_topic_partition_list_new(partitions));
  for (int partition = 0; partition < partitions; ++partition) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition);
  }
  rd_kafka_resp_err_t err = rd_kafka_committed(consumer.get(), list.get(), kRequestTimeoutMs);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("reading committed offsets of " + topic + ": " + rd_kafka_err2str(err));
  }
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& entry = list->elems[i];
    if (entry.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("reading committed offset of " + topic + " partition " +
                               std::to_string(entry.partition) + ": " + rd_kafka_err2str(entry.err));
    }
    // RD_KAFKA_OFFSET_INVALID (-1001) when the group has committed nothing for the partition.
    std::cout << topic << ' ' << entry.partition << ' ' << entry.offset << '\n';
  }
  return 0;
}

/// Commits an offset for a group from outside it, to stage a Kafka offset that disagrees with
/// the database. The mock accepts this only while the group has never had a member.
int commit(const Flags& flags) {
  flags.allow_only({"bootstrap", "group", "topic", "partition", "offset"});
  const std::string topic = flags.required("topic");
  const std::string partition_text = flags.required("partition");
  const std::string offset_text = flags.required("offset");
  const auto partition =
      static_cast<int32_t>(parse_integer(partition_text, "--partition", 0, std::numeric_limits<int32_t>::max()));
  const int64_t offset = parse_integer(offset_text, "--offset", 0, std::numeric_limits<int64_t>::max());
  KafkaHandle consumer = new_group_client(flags);
  PartitionList list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = offset;
  rd_kafka_resp_err_t err = rd_kafka_commit(consumer.get(), list.get(), 0);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR && list->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) err = list->elems[0].err;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("committing offset " + offset_text + " for " + topic + " partition " + partition_text +
                             ": " + rd_kafka_err2str(err) +
                             " (the mock takes commits from outside a group only before its first member joins)");
  }
  return 0;
}

int watermarks(const Flags& flags) {
  flags.allow_only({"bootstrap", "topic", "partitions"});
  const std::string topic = flags.required("topic");
  KafkaHandle consumer = new_handle(RD_KAFKA_CONSUMER, {{"bootstrap.servers", flags.required("bootstrap")}});
  const int partitions = partition_count(consumer.get(), flags, topic);
  for (int partition = 0; partition < partitions; ++partition) {
    int64_t low = 0;
    int64_t high = 0;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(consumer.get(), topic.c_str(), partition, &low, &high, kRequestTimeoutMs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("querying watermarks of " + topic + " partition " + std::to_string(partition) +
                               ": " + rd_kafka_err2str(err));
    }
    std::cout << topic << ' ' << partition << ' ' << low << ' ' << high << '\n';
  }
  return 0;
}

constexpr std::string_view kUsage =
    "usage:\n"
    "  kps-mock-kafka serve [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file PATH]\n"
    "  kps-mock-kafka committed --bootstrap B --group G --topic T [--partitions N]\n"
    "  kps-mock-kafka commit --bootstrap B --group G --topic T --partition P --offset O\n"
    "  kps-mock-kafka watermarks --bootstrap B --topic T [--partitions N]\n";

int run(int argc, char** argv) {
  if (argc < 2) throw std::runtime_error("missing subcommand");
  const std::string_view subcommand = argv[1];
  if (subcommand == "--help" || subcommand == "-h") {
    std::cout << kUsage;
    return 0;
  }
  const Flags flags(argc, argv, 2);
  if (subcommand == "serve") return serve(flags);
  if (subcommand == "committed") return committed(flags);
  if (subcommand == "commit") return commit(flags);
  if (subcommand == "watermarks") return watermarks(flags);
  throw std::runtime_error("unknown subcommand '" + std::string(subcommand) + "'");
}

}  // namespace
}  // namespace kps

int main(int argc, char** argv) {
  try {
    return kps::run(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "kps-mock-kafka: " << error.what() << '\n' << kps::kUsage;
    return 1;
  }
}
