// kps-mock-kafka: hosts a librdkafka mock cluster in its own process, so integration tests
// can produce with kcat, run the daemon against it and kill -9 the daemon without losing the
// broker, and reads back what a test needs to assert (committed offsets, watermarks).
//
//   kps-mock-kafka serve [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file PATH]
//                        [--control PATH [--control-log PATH]]
//   kps-mock-kafka committed --bootstrap B --group G --topic T [--partitions N]
//   kps-mock-kafka commit --bootstrap B --group G --topic T --partition P --offset O
//   kps-mock-kafka watermarks --bootstrap B --topic T [--partitions N]
//   kps-mock-kafka produce --bootstrap B --topic T [--timeout-ms MS]   < KEY<TAB>VALUE lines
//
// Errors go to stderr and exit 1.
//
// With --control, `serve` polls PATH for appended lines, one fault-injection command each,
// applies it with the rdkafka_mock API and acknowledges it by appending
// `ok LINE COMMAND` or `error LINE COMMAND: REASON` to the control log (LINE counts from 1),
// so a test knows the fault is in place before it goes on:
//   broker-down ID | broker-up ID          take a broker off the network, bring it back
//   rtt ID MS                              delay every response of a broker
//   coordinator group|transaction KEY ID   move a group's (or transactional id's) coordinator
//   leader TOPIC PARTITION ID              move a partition's leadership
//   errors APIKEY COUNT ERRNAME...         fail the next COUNT requests of APIKEY (a name such as
//                                          OffsetCommit, or its number), cycling through the
//                                          error names (REQUEST_TIMED_OUT, NOT_COORDINATOR, ...)
//   errors-clear APIKEY                    drop the errors of APIKEY not yet returned
//   create-topic NAME:PARTITIONS           create a topic while clients run (producing to a
//                                          missing topic creates it too, with the mock's default
//                                          partition count)
//   ping                                   do nothing (a barrier)
// A file rather than a FIFO: a writer never blocks on a reader that died.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
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

/// `customize` may install callbacks (and their opaque) before the handle is created.
KafkaHandle new_handle(rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& properties,
                       const std::function<void(rd_kafka_conf_t*)>& customize = {}) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (customize) customize(conf);
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


/// Kafka API keys by the names the protocol documentation uses; numbers are accepted too.
constexpr std::array<std::pair<std::string_view, int16_t>, 19> kApiKeys = {{
    {"Produce", 0},          {"Fetch", 1},          {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},     {"OffsetFetch", 9},    {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},       {"LeaveGroup", 13},    {"SyncGroup", 14},       {"DescribeGroups", 15},
    {"ListGroups", 16},      {"ApiVersions", 18},   {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},        {"TxnOffsetCommit", 28},
}};

int16_t parse_api_key(const std::string& text) {
  for (const auto& [name, key] : kApiKeys) {
    if (text == name) return key;
  }
  if (!text.empty() && std::isdigit(static_cast<unsigned char>(text.front()))) {
    return static_cast<int16_t>(parse_integer(text, "API key", 0, std::numeric_limits<int16_t>::max()));
  }
  throw std::runtime_error("unknown API key '" + text + "' (use a name such as OffsetCommit, or a number)");
}

/// An error code from its name as rd_kafka_err2name() prints it, with or without the
/// RD_KAFKA_RESP_ERR_ prefix.
rd_kafka_resp_err_t parse_error_name(std::string_view name) {
  constexpr std::string_view kPrefix = "RD_KAFKA_RESP_ERR_";
  if (name.starts_with(kPrefix)) name.remove_prefix(kPrefix.size());
  const rd_kafka_err_desc* descriptions = nullptr;
  size_t count = 0;
  rd_kafka_get_err_descs(&descriptions, &count);
  for (size_t index = 0; index < count; ++index) {
    if (descriptions[index].name != nullptr && name == descriptions[index].name) return descriptions[index].code;
  }
  throw std::runtime_error("unknown Kafka error name '" + std::string(name) + "'");
}

int32_t parse_broker_id(const std::string& text) {
  return static_cast<int32_t>(parse_integer(text, "broker id", 1, std::numeric_limits<int32_t>::max()));
}

void expect_arguments(const std::vector<std::string>& words, size_t minimum, size_t maximum, const char* usage) {
  const size_t arguments = words.size() - 1;
  if (arguments < minimum || arguments > maximum) throw std::runtime_error(std::string("usage: ") + usage);
}

void check_mock_result(rd_kafka_resp_err_t err) {
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) throw std::runtime_error(rd_kafka_err2str(err));
}

/// Applies one control command to the cluster; throws with the reason when it cannot.
void apply_control_command(rd_kafka_mock_cluster_t* cluster, const std::vector<std::string>& words) {
  const std::string& command = words.front();
  if (command == "ping") {
    expect_arguments(words, 0, 0, "ping");
  } else if (command == "broker-down") {
    expect_arguments(words, 1, 1, "broker-down ID");
    check_mock_result(rd_kafka_mock_broker_set_down(cluster, parse_broker_id(words[1])));
  } else if (command == "broker-up") {
    expect_arguments(words, 1, 1, "broker-up ID");
    check_mock_result(rd_kafka_mock_broker_set_up(cluster, parse_broker_id(words[1])));
  } else if (command == "rtt") {
    expect_arguments(words, 2, 2, "rtt ID MS");
    const auto rtt_ms = static_cast<int>(parse_integer(words[2], "rtt", 0, 600000));
    check_mock_result(rd_kafka_mock_broker_set_rtt(cluster, parse_broker_id(words[1]), rtt_ms));
  } else if (command == "coordinator") {
    expect_arguments(words, 3, 3, "coordinator group|transaction KEY BROKER_ID");
    if (words[1] != "group" && words[1] != "transaction") {
      throw std::runtime_error("coordinator type must be group or transaction, got '" + words[1] + "'");
    }
    check_mock_result(
        rd_kafka_mock_coordinator_set(cluster, words[1].c_str(), words[2].c_str(), parse_broker_id(words[3])));
  } else if (command == "leader") {
    expect_arguments(words, 3, 3, "leader TOPIC PARTITION BROKER_ID");
    const auto partition =
        static_cast<int32_t>(parse_integer(words[2], "partition", 0, std::numeric_limits<int32_t>::max()));
    check_mock_result(
        rd_kafka_mock_partition_set_leader(cluster, words[1].c_str(), partition, parse_broker_id(words[3])));
  } else if (command == "errors") {
    expect_arguments(words, 3, std::numeric_limits<size_t>::max(), "errors APIKEY COUNT ERRNAME...");
    const int16_t api_key = parse_api_key(words[1]);
    const int count = parse_count(words[2], "error count");
    std::vector<rd_kafka_resp_err_t> cycle;
    for (size_t index = 3; index < words.size(); ++index) cycle.push_back(parse_error_name(words[index]));
    std::vector<rd_kafka_resp_err_t> errors;
    for (int index = 0; index < count; ++index) errors.push_back(cycle[static_cast<size_t>(index) % cycle.size()]);
    rd_kafka_mock_push_request_errors_array(cluster, api_key, errors.size(), errors.data());
  } else if (command == "create-topic") {
    expect_arguments(words, 1, 1, "create-topic NAME:PARTITIONS");
    const TopicSpec topic = parse_topic_spec(words[1]);
    check_mock_result(rd_kafka_mock_topic_create(cluster, topic.name.c_str(), topic.partitions, 1));
  } else if (command == "errors-clear") {
    expect_arguments(words, 1, 1, "errors-clear APIKEY");
    rd_kafka_mock_clear_request_errors(cluster, parse_api_key(words[1]));
  } else {
    throw std::runtime_error("unknown command (known: broker-down, broker-up, rtt, coordinator, leader, errors, "
                             "errors-clear, create-topic, ping)");
  }
}

/// Follows the control file as lines are appended to it, and reports each command's outcome.
class ControlChannel {
 public:
  ControlChannel(std::string path, std::string log_path) : path_(std::move(path)), log_path_(std::move(log_path)) {
    // Created empty up front, so writers only ever append.
    std::ofstream create(path_, std::ios::app);
    if (!create) throw std::runtime_error("cannot create the control file " + path_);
    if (!log_path_.empty()) {
      std::ofstream create_log(log_path_, std::ios::app);
      if (!create_log) throw std::runtime_error("cannot create the control log " + log_path_);
    }
  }

  /// Applies every complete line appended since the last call.
  void poll(rd_kafka_mock_cluster_t* cluster) {
    std::ifstream in(path_, std::ios::binary);
    if (!in) return;
    in.seekg(static_cast<std::streamoff>(consumed_bytes_));
    std::string pending((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // A line still being written has no newline yet: it is read on a later poll.
    const size_t complete = pending.rfind('\n');
    if (complete == std::string::npos) return;
    consumed_bytes_ += complete + 1;
    std::istringstream lines(pending.substr(0, complete + 1));
    std::string line;
    while (std::getline(lines, line)) {
      ++line_number_;
      handle(cluster, line);
    }
  }

 private:
  void handle(rd_kafka_mock_cluster_t* cluster, const std::string& line) {
    std::istringstream split(line);
    std::vector<std::string> words;
    for (std::string word; split >> word;) words.push_back(word);
    if (words.empty()) {
      acknowledge("ok", line, "");
      return;
    }
    try {
      apply_control_command(cluster, words);
      acknowledge("ok", line, "");
    } catch (const std::exception& error) {
      acknowledge("error", line, error.what());
    }
  }

  void acknowledge(const char* outcome, const std::string& line, const std::string& reason) {
    std::string entry = std::string(outcome) + " " + std::to_string(line_number_) + " " + line;
    if (!reason.empty()) entry += ": " + reason;
    std::cout << "control: " << entry << std::endl;
    if (log_path_.empty()) return;
    std::ofstream log(log_path_, std::ios::app);
    log << entry << '\n';
    log.close();
    if (!log) std::cerr << "kps-mock-kafka: cannot append to the control log " << log_path_ << std::endl;
  }

  std::string path_;
  std::string log_path_;
  size_t consumed_bytes_ = 0;
  int line_number_ = 0;
};

int serve(const Flags& flags) {
  flags.allow_only({"brokers", "topic", "bootstrap-file", "control", "control-log"});
  const int brokers = parse_count(flags.optional("brokers", "1"), "--brokers");
  std::vector<TopicSpec> topics;
  for (const auto& spec : flags.all("topic")) topics.push_back(parse_topic_spec(spec));
  const std::string bootstrap_file = flags.optional("bootstrap-file");
  const std::string control_path = flags.optional("control");
  const std::string control_log_path = flags.optional("control-log");
  if (!control_log_path.empty() && control_path.empty()) throw std::runtime_error("--control-log needs --control");

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

  std::optional<ControlChannel> control;
  if (!control_path.empty()) control.emplace(control_path, control_log_path);

  const std::string bootstraps = rd_kafka_mock_cluster_bootstraps(cluster.get());
  if (!bootstrap_file.empty()) write_file_atomically(bootstrap_file, bootstraps);
  std::cout << bootstraps << std::endl;  // endl: the parent reads this line through a pipe

  if (!control) {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    return 0;
  }
  // Short enough that a test waiting for an acknowledgement barely notices the poll.
  constexpr timespec kControlPollInterval{0, 50'000'000};
  while (sigtimedwait(&stop_signals, nullptr, &kControlPollInterval) < 0) {
    if (errno != EAGAIN && errno != EINTR) throw std::runtime_error("sigtimedwait failed");
    control->poll(cluster.get());
  }
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


/// Outcome of the producer's deliveries, filled in by its delivery report callback.
struct DeliveryTally {
  int64_t delivered = 0;
  int64_t failed = 0;
  std::string first_error;
};

void count_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* tally = static_cast<DeliveryTally*>(opaque);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++tally->delivered;
    return;
  }
  if (tally->failed++ == 0) tally->first_error = rd_kafka_err2str(message->err);
}

/// Produces one record per stdin line `KEY<TAB>VALUE`, partitioned by key, as it reads them.
/// Unlike kcat, which gives up as soon as every broker is down, this producer rides out broker
/// outages (librdkafka retries until message.timeout.ms), and it is idempotent, so a retry
/// never writes a record twice: the fault tests produce through outages they cause.
int produce(const Flags& flags) {
  flags.allow_only({"bootstrap", "topic", "timeout-ms"});
  const std::string topic = flags.required("topic");
  const std::string timeout_ms = flags.optional("timeout-ms", "60000");
  parse_count(timeout_ms, "--timeout-ms");
  DeliveryTally tally;
  KafkaHandle producer = new_handle(
      RD_KAFKA_PRODUCER,
      {{"bootstrap.servers", flags.required("bootstrap")},
       {"enable.idempotence", "true"},
       {"linger.ms", "5"},
       {"message.timeout.ms", timeout_ms}},
      [&tally](rd_kafka_conf_t* conf) {
        rd_kafka_conf_set_dr_msg_cb(conf, &count_delivery);
        rd_kafka_conf_set_opaque(conf, &tally);
      });

  int64_t lines = 0;
  for (std::string line; std::getline(std::cin, line);) {
    ++lines;
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) {
      throw std::runtime_error("line " + std::to_string(lines) + " of stdin has no tab between key and value");
    }
    // Named first: the RD_KAFKA_V_* macros cast their argument text to void*.
    char* const key = line.data();
    char* const value = line.data() + tab + 1;
    while (true) {
      const rd_kafka_resp_err_t err =
          rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key, tab),
                            RD_KAFKA_V_VALUE(value, line.size() - tab - 1),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        throw std::runtime_error("producing line " + std::to_string(lines) + ": " + rd_kafka_err2str(err));
      }
      rd_kafka_poll(producer.get(), 100);  // the queue drains as deliveries complete
    }
    rd_kafka_poll(producer.get(), 0);
  }
  const rd_kafka_resp_err_t flushed = rd_kafka_flush(producer.get(), parse_count(timeout_ms, "--timeout-ms") + 5000);
  if (tally.failed > 0) {
    throw std::runtime_error(std::to_string(tally.failed) + " of " + std::to_string(lines) +
                             " record(s) were not delivered to " + topic + ": " + tally.first_error);
  }
  if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR || tally.delivered != lines) {
    throw std::runtime_error("only " + std::to_string(tally.delivered) + " of " + std::to_string(lines) +
                             " record(s) were delivered to " + topic + ": " + rd_kafka_err2str(flushed));
  }
  return 0;
}

constexpr std::string_view kUsage =
    "usage:\n"
    "  kps-mock-kafka serve [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file PATH]\n"
    "                       [--control PATH [--control-log PATH]]\n"
    "  kps-mock-kafka committed --bootstrap B --group G --topic T [--partitions N]\n"
    "  kps-mock-kafka commit --bootstrap B --group G --topic T --partition P --offset O\n"
    "  kps-mock-kafka watermarks --bootstrap B --topic T [--partitions N]\n"
    "  kps-mock-kafka produce --bootstrap B --topic T [--timeout-ms MS]   < KEY<TAB>VALUE lines\n";

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
  if (subcommand == "produce") return produce(flags);
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
