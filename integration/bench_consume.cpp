// kps-bench-consume: the floor under the daemon's CPU per record. It consumes a topic with
// librdkafka exactly as the daemon's consumer is configured (same prefetch queue, fetch size,
// partition EOF, a new consumer group, offsets not committed) and does nothing with the
// records but read their key, value and headers, so its CPU-seconds per million records are
// what librdkafka itself costs before any decoding, batching or writing. integration/benchmark.sh
// runs it as the "librdkafka alone" baseline.
//
//   kps-bench-consume --bootstrap B --topic T --records N [--property NAME=VALUE]...
//
// Exits once N records have been read and every assigned partition reached its end; prints one
// line: records, seconds from the first record, and user+system CPU-seconds of the process.

#include <librdkafka/rdkafka.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

struct Options {
  std::string bootstrap;
  std::string topic;
  int64_t records = 0;
  std::vector<std::pair<std::string, std::string>> properties;
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "kps-bench-consume: " << problem << "\n"
            << "usage: kps-bench-consume --bootstrap B --topic T --records N [--property NAME=VALUE]...\n";
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string value = argv[i + 1];
    if (flag == "--bootstrap") {
      options.bootstrap = value;
    } else if (flag == "--topic") {
      options.topic = value;
    } else if (flag == "--records") {
      options.records = std::stoll(value);
    } else if (flag == "--property") {
      const size_t equals = value.find('=');
      if (equals == std::string::npos) usage("--property takes NAME=VALUE");
      options.properties.emplace_back(value.substr(0, equals), value.substr(equals + 1));
    } else {
      usage("unknown flag " + flag);
    }
  }
  if (options.bootstrap.empty() || options.topic.empty() || options.records <= 0) {
    usage("--bootstrap, --topic and --records are required");
  }
  return options;
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct KafkaDeleter {
  void operator()(rd_kafka_t* kafka) const {
    rd_kafka_consumer_close(kafka);
    rd_kafka_destroy(kafka);
  }
};

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  const auto set = [&](const std::string& name, const std::string& value) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
      usage(name + ": " + error);
    }
  };
  // The daemon's consumer settings (connector/kafka_consumer_conf.cpp), so the floor is its floor.
  set("bootstrap.servers", options.bootstrap);
  set("group.id", "kps-bench-consume-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  set("auto.offset.reset", "earliest");
  set("enable.auto.commit", "false");
  set("enable.auto.offset.store", "false");
  set("enable.partition.eof", "true");
  set("queued.min.messages", "1000000");
  set("queued.max.messages.kbytes", "32768");
  set("max.partition.fetch.bytes", "4194304");
  set("fetch.error.backoff.ms", "20");
  for (const auto& [name, value] : options.properties) set(name, value);
  std::unique_ptr<rd_kafka_t, KafkaDeleter> kafka(rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error));
  if (!kafka) usage(std::string("cannot create the consumer: ") + error);
  rd_kafka_poll_set_consumer(kafka.get());
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, options.topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (const rd_kafka_resp_err_t err = rd_kafka_subscribe(kafka.get(), topics)) usage(rd_kafka_err2str(err));
  rd_kafka_topic_partition_list_destroy(topics);

  int64_t records = 0;
  uint64_t bytes = 0;  // read, so the payloads are really touched
  int64_t partitions_at_end = 0;
  std::chrono::steady_clock::time_point first_record_at;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  while (records < options.records || partitions_at_end == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::cerr << "kps-bench-consume: read " << records << " of " << options.records << " records in 10 minutes\n";
      return 1;
    }
    rd_kafka_message_t* message = rd_kafka_consumer_poll(kafka.get(), 100);
    if (message == nullptr) continue;
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ++partitions_at_end;
    } else if (message->err) {
      std::cerr << "kps-bench-consume: " << rd_kafka_message_errstr(message) << "\n";
    } else {
      if (records++ == 0) first_record_at = std::chrono::steady_clock::now();
      bytes += message->len + message->key_len;
      rd_kafka_headers_t* headers = nullptr;
      if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        bytes += rd_kafka_header_cnt(headers);
      }
    }
    rd_kafka_message_destroy(message);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - first_record_at).count();
  std::printf("consumed %lld records (%llu bytes) in %.3f s from the first record, cpu %.3f s\n",
              static_cast<long long>(records), static_cast<unsigned long long>(bytes), seconds, cpu_seconds());
  return 0;
}
