// kps-bench-produce: writes integration/benchmark.sh's records into Kafka, and the same rows as
// CSV for the psql baselines, so that the daemon and psql load byte-for-byte the same data.
//
//   kps-bench-produce --bootstrap B --topic T --partitions P --records N
//                     [--first-id ID] [--csv PATH] [--rate RECORDS_PER_SECOND]
//                     [--property NAME=VALUE]...
//
// Record I (ids FIRST..FIRST+N-1) has key "I", goes to partition I % P and reads
//   {"id":I,"device":"dev-17","ts":"2026-11-21T10:00:00.123456Z","temperature":21.5,
//    "site":"berlin","attrs":{"fw":"1.2.3","ok":true}}
// (~135 bytes with 7-digit ids). Without --rate every value derives from I and the records go
// out as fast as the cluster takes them. With --rate they are paced at that rate and "ts" is
// the moment the record was handed to the producer, for the latency probe. --property
// overrides the producer settings below (lz4, full batches). Prints one summary line; a record
// that was not delivered is an error (exit 1).

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace kps {
namespace {

constexpr int kFlushTimeoutMs = 120000;
// 2026-11-21T00:00:00Z: the generated timestamps start here, about a millisecond apart.
constexpr int64_t kFirstTimestampMicros = 1795219200LL * 1000000;
constexpr std::string_view kSites[] = {"berlin", "lisbon", "osaka", "toronto", "lagos", "lima", "oslo", "perth"};
constexpr size_t kRecordCapacity = 512;
constexpr size_t kCsvBufferBytes = 1 << 20;

// The mock cluster keeps only ~5 MB of (compressed) batches per partition: lz4, and a linger
// that fills the batches so they compress well, are what let a million records fit.
const std::vector<std::pair<std::string, std::string>> kBulkProducerProperties = {
    {"compression.codec", "lz4"},
    {"linger.ms", "100"},
    {"batch.num.messages", "10000"},
    {"batch.size", "1000000"},
    {"queue.buffering.max.messages", "1000000"},
};
// The latency probe measures the sink, not the producer: hand each record over at once.
const std::vector<std::pair<std::string, std::string>> kPacedProducerProperties = {
    {"compression.codec", "lz4"},
    {"linger.ms", "1"},
};

struct KafkaHandleDeleter {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaHandleDeleter>;

struct TopicHandleDeleter {
  void operator()(rd_kafka_topic_t* topic) const { rd_kafka_topic_destroy(topic); }
};
using TopicHandle = std::unique_ptr<rd_kafka_topic_t, TopicHandleDeleter>;

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

struct Options {
  std::string bootstrap;
  std::string topic;
  int partitions = 0;
  int64_t records = 0;
  int64_t first_id = 1;
  std::string csv_path;
  double rate = 0;  // records per second; 0 = as fast as possible
  std::vector<std::pair<std::string, std::string>> properties;
};

/// Delivery reports, counted on the thread that calls rd_kafka_poll/flush (this one).
struct DeliveryTally {
  int64_t delivered = 0;
  int64_t failed = 0;
  std::string first_error;
};

constexpr std::string_view kUsage =
    "usage: kps-bench-produce --bootstrap B --topic T --partitions P --records N\n"
    "                         [--first-id ID] [--csv PATH] [--rate RECORDS_PER_SECOND]\n"
    "                         [--property NAME=VALUE]...\n";

int64_t parse_integer(const std::string& text, const std::string& flag, int64_t minimum, int64_t maximum) {
  size_t consumed = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &consumed);
  } catch (const std::exception&) {
    consumed = 0;
  }
  if (text.empty() || consumed != text.size() || value < minimum || value > maximum) {
    throw std::runtime_error(flag + " must be an integer from " + std::to_string(minimum) + " to " +
                             std::to_string(maximum) + ", got '" + text + "'");
  }
  return value;
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw std::runtime_error("flag " + flag + " needs a value");
    const std::string value = argv[i + 1];
    if (flag == "--bootstrap") {
      options.bootstrap = value;
    } else if (flag == "--topic") {
      options.topic = value;
    } else if (flag == "--partitions") {
      options.partitions = static_cast<int>(parse_integer(value, flag, 1, 100000));
    } else if (flag == "--records") {
      options.records = parse_integer(value, flag, 1, std::numeric_limits<int32_t>::max());
    } else if (flag == "--first-id") {
      options.first_id = parse_integer(value, flag, 0, std::numeric_limits<int64_t>::max() / 2);
    } else if (flag == "--csv") {
      options.csv_path = value;
    } else if (flag == "--rate") {
      options.rate = static_cast<double>(parse_integer(value, flag, 1, 10000000));
    } else if (flag == "--property") {
      const auto equals = value.find('=');
      if (equals == std::string::npos || equals == 0) {
        throw std::runtime_error("--property expects NAME=VALUE, got '" + value + "'");
      }
      options.properties.emplace_back(value.substr(0, equals), value.substr(equals + 1));
    } else {
      throw std::runtime_error("unknown flag " + flag);
    }
  }
  if (options.bootstrap.empty()) throw std::runtime_error("missing required flag --bootstrap");
  if (options.topic.empty()) throw std::runtime_error("missing required flag --topic");
  if (options.partitions == 0) throw std::runtime_error("missing required flag --partitions");
  if (options.records == 0) throw std::runtime_error("missing required flag --records");
  return options;
}

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto& tally = *static_cast<DeliveryTally*>(opaque);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++tally.delivered;
    return;
  }
  if (tally.failed++ == 0) {
    tally.first_error = "partition " + std::to_string(message->partition) + ": " + rd_kafka_err2str(message->err);
  }
}

KafkaHandle new_producer(const Options& options, DeliveryTally& tally) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto properties = options.rate > 0 ? kPacedProducerProperties : kBulkProducerProperties;
  properties.emplace_back("bootstrap.servers", options.bootstrap);
  properties.insert(properties.end(), options.properties.begin(), options.properties.end());
  char error[512];
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error("producer property " + name + "=" + value + ": " + error);
    }
  }
  rd_kafka_conf_set_dr_msg_cb(conf, &on_delivery);
  rd_kafka_conf_set_opaque(conf, &tally);
  // rd_kafka_new takes ownership of conf only when it succeeds.
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("creating the Kafka producer: ") + error);
  }
  return KafkaHandle(handle);
}

/// The values of one row, each already in the text form that both JSON and CSV use. The
/// buffers are sized for the widest text their formats could produce, not for the values used.
struct BenchRow {
  int64_t id = 0;
  char device[32];
  char ts[96];
  char temperature[48];
  std::string_view site;
  char fw[48];
  bool ok = false;
};

void format_timestamp(int64_t micros, char (&out)[96]) {
  const std::time_t seconds = micros / 1000000;
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", parts.tm_year + 1900, parts.tm_mon + 1,
                parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, static_cast<int>(micros % 1000000));
}

/// A temperature with one decimal, written from integer tenths so that JSON, CSV and both
/// parsers agree on the exact double.
void format_temperature(int64_t tenths, char (&out)[48]) {
  const int64_t magnitude = tenths < 0 ? -tenths : tenths;
  std::snprintf(out, sizeof out, "%s%" PRId64 ".%" PRId64, tenths < 0 ? "-" : "", magnitude / 10, magnitude % 10);
}

void fill_row(int64_t id, int64_t ts_micros, BenchRow& row) {
  row.id = id;
  std::snprintf(row.device, sizeof row.device, "dev-%" PRId64, id % 5000);
  format_timestamp(ts_micros, row.ts);
  format_temperature((id * 37) % 600 - 100, row.temperature);
  row.site = kSites[id % std::size(kSites)];
  std::snprintf(row.fw, sizeof row.fw, "1.%" PRId64 ".%" PRId64, id % 5, id % 13);
  row.ok = id % 7 != 0;
}

/// Returns the length written into out; the fields are bounded, so it always fits.
size_t format_json(const BenchRow& row, char (&out)[kRecordCapacity]) {
  const int length = std::snprintf(
      out, sizeof out,
      R"({"id":%)" PRId64 R"(,"device":"%s","ts":"%s","temperature":%s,"site":"%.*s","attrs":{"fw":"%s","ok":%s}})",
      row.id, row.device, row.ts, row.temperature, static_cast<int>(row.site.size()), row.site.data(), row.fw,
      row.ok ? "true" : "false");
  return static_cast<size_t>(length);
}

/// The same row in PostgreSQL's CSV format, columns in table order; the jsonb field is quoted
/// with its quotes doubled.
size_t format_csv(const BenchRow& row, char (&out)[kRecordCapacity]) {
  const int length = std::snprintf(
      out, sizeof out, R"(%)" PRId64 R"(,%s,%s,%s,%.*s,"{""fw"":""%s"",""ok"":%s}")" "\n", row.id, row.device,
      row.ts, row.temperature, static_cast<int>(row.site.size()), row.site.data(), row.fw, row.ok ? "true" : "false");
  return static_cast<size_t>(length);
}

int64_t system_clock_micros() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

/// Hands one record to librdkafka, waiting for room in its queue when it is full.
void produce_one(rd_kafka_t* producer, rd_kafka_topic_t* topic, int32_t partition, std::string_view key,
                 std::string_view value) {
  while (true) {
    const int result = rd_kafka_produce(topic, partition, RD_KAFKA_MSG_F_COPY, const_cast<char*>(value.data()),
                                        value.size(), key.data(), key.size(), nullptr);
    if (result == 0) return;
    const rd_kafka_resp_err_t error = rd_kafka_last_error();
    if (error != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      throw std::runtime_error("producing to partition " + std::to_string(partition) + ": " + rd_kafka_err2str(error));
    }
    rd_kafka_poll(producer, 50);
  }
}

int run(int argc, char** argv) {
  if (argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
    std::cout << kUsage;
    return 0;
  }
  const Options options = parse_options(argc, argv);

  File csv;
  if (!options.csv_path.empty()) {
    csv.reset(std::fopen(options.csv_path.c_str(), "w"));
    if (!csv) throw std::runtime_error("cannot open " + options.csv_path + " for writing");
    std::setvbuf(csv.get(), nullptr, _IOFBF, kCsvBufferBytes);
  }

  DeliveryTally tally;
  KafkaHandle producer = new_producer(options, tally);
  TopicHandle topic(rd_kafka_topic_new(producer.get(), options.topic.c_str(), nullptr));
  if (!topic) throw std::runtime_error("creating a handle for topic " + options.topic);

  const auto started = std::chrono::steady_clock::now();
  const bool paced = options.rate > 0;
  BenchRow row;
  char json[kRecordCapacity];
  char line[kRecordCapacity];
  char key[24];
  int64_t json_bytes = 0;
  for (int64_t index = 0; index < options.records; ++index) {
    const int64_t id = options.first_id + index;
    if (paced) {
      const auto due = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     std::chrono::duration<double>(static_cast<double>(index) / options.rate));
      while (std::chrono::steady_clock::now() < due) {
        rd_kafka_poll(producer.get(), 0);
        std::this_thread::sleep_until(due);
      }
    }
    fill_row(id, paced ? system_clock_micros() : kFirstTimestampMicros + (id * 1000) + (id * 7919) % 1000, row);
    const size_t json_length = format_json(row, json);
    const int key_length = std::snprintf(key, sizeof key, "%" PRId64, id);
    produce_one(producer.get(), topic.get(), static_cast<int32_t>(id % options.partitions),
                std::string_view(key, static_cast<size_t>(key_length)), std::string_view(json, json_length));
    json_bytes += static_cast<int64_t>(json_length);
    if (csv) {
      const size_t csv_length = format_csv(row, line);
      if (std::fwrite(line, 1, csv_length, csv.get()) != csv_length) {
        throw std::runtime_error("writing " + options.csv_path + " failed");
      }
    }
    if (index % 1024 == 0) rd_kafka_poll(producer.get(), 0);
  }

  if (csv) {
    const bool failed = std::fflush(csv.get()) != 0 || std::ferror(csv.get()) != 0;
    if (std::fclose(csv.release()) != 0 || failed) throw std::runtime_error("writing " + options.csv_path + " failed");
  }
  rd_kafka_flush(producer.get(), kFlushTimeoutMs);
  if (const int undelivered = rd_kafka_outq_len(producer.get()); undelivered > 0) {
    throw std::runtime_error(std::to_string(undelivered) + " record(s) still undelivered after " +
                             std::to_string(kFlushTimeoutMs / 1000) + " s");
  }
  if (tally.failed > 0) {
    throw std::runtime_error(std::to_string(tally.failed) + " record(s) failed delivery; the first: " +
                             tally.first_error);
  }
  if (tally.delivered != options.records) {
    throw std::runtime_error("delivered " + std::to_string(tally.delivered) + " record(s) of " +
                             std::to_string(options.records));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("produced %" PRId64 " records (%.1f MB of JSON, %.0f bytes each) to %s in %.2f s (%.0f records/s)\n",
              options.records, static_cast<double>(json_bytes) / 1e6,
              static_cast<double>(json_bytes) / static_cast<double>(options.records), options.topic.c_str(), seconds,
              static_cast<double>(options.records) / seconds);
  return 0;
}

}  // namespace
}  // namespace kps

int main(int argc, char** argv) {
  try {
    return kps::run(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "kps-bench-produce: " << error.what() << '\n' << kps::kUsage;
    return 1;
  }
}
