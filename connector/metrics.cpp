#include "connector/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace kps {
namespace {

bool is_metric_name(std::string_view name) {
  if (name.empty()) return false;
  const auto allowed = [](char c, bool first) {
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    return letter || (!first && c >= '0' && c <= '9');
  };
  for (size_t i = 0; i < name.size(); ++i) {
    if (!allowed(name[i], i == 0)) return false;
  }
  return true;
}

// Like a metric name without ':'; names starting with "__" are Prometheus' own.
bool is_label_name(std::string_view name) {
  return is_metric_name(name) && name.find(':') == std::string_view::npos && !name.starts_with("__");
}

const char* type_name(MetricType type) {
  switch (type) {
    case MetricType::Counter: return "counter";
    case MetricType::Gauge: return "gauge";
    case MetricType::Histogram: return "histogram";
  }
  return "untyped";
}

void append_integer(std::string& out, std::integral auto value) {
  char digits[24];
  const auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

// Prometheus parses Go's float syntax: NaN, +Inf, -Inf, and shortest round-trip decimals.
// Whole numbers print without an exponent so bucket bounds read "100000", not "1e+05".
void append_double(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else if (constexpr double kExactIntegers = 9007199254740992.0;  // 2^53
             std::trunc(value) == value && std::fabs(value) < kExactIntegers) {
    append_integer(out, static_cast<int64_t>(value));
  } else {
    char digits[32];
    const auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
    out.append(digits, end);
  }
}

void append_escaped_label_value(std::string& out, std::string_view value) {
  for (const char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void append_escaped_help(std::string& out, std::string_view help) {
  for (const char c : help) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

// `labels` is the series' rendered label pairs without braces; `extra` one more pair (le).
void append_sample(std::string& out, std::string_view name, std::string_view suffix, std::string_view labels,
                   std::string_view extra, auto value) {
  out += name;
  out += suffix;
  if (!labels.empty() || !extra.empty()) {
    out += '{';
    out += labels;
    if (!labels.empty() && !extra.empty()) out += ',';
    out += extra;
    out += '}';
  }
  out += ' ';
  if constexpr (std::is_floating_point_v<decltype(value)>) {
    append_double(out, value);
  } else {
    append_integer(out, value);
  }
  out += '\n';
}

[[noreturn]] void misuse(std::string_view metric, std::string_view problem) {
  throw std::invalid_argument("metric " + std::string(metric) + ": " + std::string(problem));
}

}  // namespace

// ---------------------------------------------------------------------------------------

Histogram::Histogram(std::span<const double> upper_bounds)
    : upper_bounds_(upper_bounds), buckets_(std::make_unique<std::atomic<uint64_t>[]>(upper_bounds.size() + 1)) {}

void Histogram::observe(double value) {
  // NaN compares false with every bound: like Prometheus' own clients, count it under +Inf.
  const size_t index = std::isnan(value)
                           ? upper_bounds_.size()
                           : static_cast<size_t>(std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) -
                                                 upper_bounds_.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------------------

MetricFamilyBase::MetricFamilyBase(std::mutex& mutex, MetricType type, std::string name, std::string help,
                                   std::vector<std::string> label_names)
    : mutex_(mutex), type_(type), name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

std::ptrdiff_t MetricFamilyBase::find_series(std::span<const std::string_view> label_values) const {
  const auto found = std::find_if(series_labels_.begin(), series_labels_.end(), [&](const auto& values) {
    return std::equal(values.begin(), values.end(), label_values.begin(), label_values.end());
  });
  return found == series_labels_.end() ? -1 : found - series_labels_.begin();
}

void MetricFamilyBase::check_label_count(std::span<const std::string_view> label_values) const {
  if (label_values.size() != label_names_.size()) {
    misuse(name_, "expected " + std::to_string(label_names_.size()) + " label values, got " +
                      std::to_string(label_values.size()));
  }
}

void MetricFamilyBase::render(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  append_escaped_help(out, help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_name(type_);
  out += '\n';
  std::string labels;
  for (size_t index = 0; index < series_labels_.size(); ++index) {
    labels.clear();
    const std::vector<std::string>& values = series_labels_[index];
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) labels += ',';
      labels += label_names_[i];
      labels += "=\"";
      append_escaped_label_value(labels, values[i]);
      labels += '"';
    }
    render_series(out, index, labels);
  }
}

template <typename Metric>
MetricFamily<Metric>::MetricFamily(std::mutex& mutex, std::string name, std::string help,
                                   std::vector<std::string> label_names, std::vector<double> upper_bounds)
    : MetricFamilyBase(mutex, std::is_same_v<Metric, Counter> ? MetricType::Counter
                              : std::is_same_v<Metric, Gauge> ? MetricType::Gauge
                                                              : MetricType::Histogram,
                       std::move(name), std::move(help), std::move(label_names)),
      upper_bounds_(std::move(upper_bounds)) {}

template <typename Metric>
Metric& MetricFamily<Metric>::with(std::span<const std::string_view> label_values) {
  check_label_count(label_values);
  const std::lock_guard lock(mutex_);
  if (const std::ptrdiff_t index = find_series(label_values); index >= 0) return *series_[static_cast<size_t>(index)];
  if constexpr (std::is_same_v<Metric, Histogram>) {
    series_.push_back(std::make_unique<Histogram>(upper_bounds_));
  } else {
    series_.push_back(std::make_unique<Metric>());
  }
  series_labels_.emplace_back(label_values.begin(), label_values.end());
  return *series_.back();
}

template <typename Metric>
bool MetricFamily<Metric>::remove(std::span<const std::string_view> label_values) {
  check_label_count(label_values);
  const std::lock_guard lock(mutex_);
  const std::ptrdiff_t index = find_series(label_values);
  if (index < 0) return false;
  series_.erase(series_.begin() + index);
  series_labels_.erase(series_labels_.begin() + index);
  return true;
}

template <typename Metric>
void MetricFamily<Metric>::render_series(std::string& out, size_t index, std::string_view labels) const {
  const Metric& metric = *series_[index];
  if constexpr (std::is_same_v<Metric, Histogram>) {
    // Buckets are stored apart; Prometheus wants each le to count everything at or below it.
    std::string le;
    uint64_t cumulative = 0;
    for (size_t bucket = 0; bucket <= upper_bounds_.size(); ++bucket) {
      cumulative += metric.bucket_count(bucket);
      le = "le=\"";
      append_double(le, bucket < upper_bounds_.size() ? upper_bounds_[bucket] : std::numeric_limits<double>::infinity());
      le += '"';
      append_sample(out, name_, "_bucket", labels, le, cumulative);
    }
    append_sample(out, name_, "_sum", labels, {}, metric.sum());
    append_sample(out, name_, "_count", labels, {}, cumulative);  // equals +Inf even mid-update
  } else {
    append_sample(out, name_, {}, labels, {}, metric.value());
  }
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

// ---------------------------------------------------------------------------------------

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

template <typename Metric>
MetricFamily<Metric>& MetricsRegistry::family(MetricType type, std::string_view name, std::string_view help,
                                              std::span<const std::string_view> label_names,
                                              std::span<const double> upper_bounds) {
  const std::lock_guard lock(mutex_);
  for (const std::unique_ptr<MetricFamilyBase>& existing : families_) {
    if (existing->name() != name) continue;
    auto* same = dynamic_cast<MetricFamily<Metric>*>(existing.get());
    if (same == nullptr) {
      misuse(name, std::string("is already registered as a ") + type_name(existing->type()) + ", not a " +
                       type_name(type));
    }
    if (!std::equal(label_names.begin(), label_names.end(), same->label_names().begin(), same->label_names().end())) {
      misuse(name, "is already registered with other label names");
    }
    if (!std::ranges::equal(upper_bounds, same->upper_bounds())) {
      misuse(name, "is already registered with other bucket bounds");
    }
    return *same;
  }

  if (!is_metric_name(name)) misuse(name, "is not a valid Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string_view label = label_names[i];
    if (!is_label_name(label)) {
      misuse(name, "label \"" + std::string(label) +
                       "\" is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)");
    }
    if (std::find(label_names.begin(), label_names.begin() + static_cast<std::ptrdiff_t>(i), label) !=
        label_names.begin() + static_cast<std::ptrdiff_t>(i)) {
      misuse(name, "label \"" + std::string(label) + "\" appears twice");
    }
    if (type == MetricType::Histogram && label == "le") misuse(name, "a histogram may not use the label le");
  }
  if (type == MetricType::Histogram) {
    if (upper_bounds.empty()) misuse(name, "a histogram needs at least one bucket bound");
    for (size_t i = 0; i < upper_bounds.size(); ++i) {
      if (!std::isfinite(upper_bounds[i])) misuse(name, "bucket bounds must be finite (+Inf is added)");
      if (i > 0 && upper_bounds[i] <= upper_bounds[i - 1]) misuse(name, "bucket bounds must be strictly increasing");
    }
  }

  auto created = std::unique_ptr<MetricFamily<Metric>>(new MetricFamily<Metric>(
      mutex_, std::string(name), std::string(help), std::vector<std::string>(label_names.begin(), label_names.end()),
      std::vector<double>(upper_bounds.begin(), upper_bounds.end())));
  MetricFamily<Metric>& result = *created;
  families_.push_back(std::move(created));
  return result;
}

CounterFamily& MetricsRegistry::counter_family(std::string_view name, std::string_view help,
                                               std::initializer_list<std::string_view> label_names) {
  return family<Counter>(MetricType::Counter, name, help, {label_names.begin(), label_names.size()}, {});
}

GaugeFamily& MetricsRegistry::gauge_family(std::string_view name, std::string_view help,
                                           std::initializer_list<std::string_view> label_names) {
  return family<Gauge>(MetricType::Gauge, name, help, {label_names.begin(), label_names.size()}, {});
}

HistogramFamily& MetricsRegistry::histogram_family(std::string_view name, std::string_view help,
                                                   std::span<const double> upper_bounds,
                                                   std::initializer_list<std::string_view> label_names) {
  return family<Histogram>(MetricType::Histogram, name, help, {label_names.begin(), label_names.size()},
                           upper_bounds);
}

namespace {

struct SplitLabels {
  std::vector<std::string_view> names;
  std::vector<std::string_view> values;
};

SplitLabels split(std::initializer_list<Label> labels) {
  SplitLabels split;
  for (const Label& label : labels) {
    split.names.push_back(label.name);
    split.values.push_back(label.value);
  }
  return split;
}

}  // namespace

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help, std::initializer_list<Label> labels) {
  const SplitLabels parts = split(labels);
  return family<Counter>(MetricType::Counter, name, help, parts.names, {}).with(parts.values);
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help, std::initializer_list<Label> labels) {
  const SplitLabels parts = split(labels);
  return family<Gauge>(MetricType::Gauge, name, help, parts.names, {}).with(parts.values);
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                      std::span<const double> upper_bounds, std::initializer_list<Label> labels) {
  const SplitLabels parts = split(labels);
  return family<Histogram>(MetricType::Histogram, name, help, parts.names, upper_bounds).with(parts.values);
}

std::string MetricsRegistry::render() const {
  std::string out;
  const std::lock_guard lock(mutex_);
  for (const std::unique_ptr<MetricFamilyBase>& family : families_) family->render(out);
  return out;
}

// ---------------------------------------------------------------------------------------

const char* rebalance_kind_name(RebalanceKind kind) {
  switch (kind) {
    case RebalanceKind::Assign: return "assign";
    case RebalanceKind::Revoke: return "revoke";
    case RebalanceKind::Lost: return "lost";
  }
  return "unknown";
}

SinkMetrics::SinkMetrics(MetricsRegistry& registry, std::string_view version)
    : records_consumed_(registry.counter_family("kafka_pg_sink_records_consumed_total",
                                                "Records polled from Kafka, before decoding.", {"topic"})),
      records_written_(registry.counter_family(
          "kafka_pg_sink_records_written_total",
          "Records whose effect is committed to PostgreSQL: consumed minus dedup drops and bad records.",
          {"topic", "table"})),
      rows_written_(registry.counter_family("kafka_pg_sink_rows_written_total",
                                            "Rows written to PostgreSQL, after reducing each batch to one row per key.",
                                            {"table"})),
      bad_records_(registry.counter_family(
          "kafka_pg_sink_bad_records_total",
          "Records that cannot be applied, by where they were found (decode or database) and why.",
          {"topic", "stage", "reason"})),
      dead_letters_(registry.counter_family("kafka_pg_sink_dead_letters_total",
                                            "Bad records queued for the dead letter topic, by stage and reason.",
                                            {"topic", "stage", "reason"})),
      dedup_dropped_(registry.counter_family(
          "kafka_pg_sink_dedup_dropped_total",
          "Records dropped because their dedup identity was already applied within the TTL.", {"table"})),
      ignored_fields_(registry.counter_family(
          "kafka_pg_sink_ignored_fields_total",
          "Top-level record fields ignored because their table has no column of that name (columns by name).",
          {"table"})),
      change_events_(registry.counter_family("kafka_pg_sink_change_events_total",
                                             "Debezium change events read, by op (c r u d t m).", {"table", "op"})),
      truncates_(registry.counter_family("kafka_pg_sink_truncates_total",
                                         "Debezium truncate events applied (on_truncate: apply), counted once committed.",
                                         {"table"})),
      batch_flush_duration_(registry.histogram_family(
          "kafka_pg_sink_batch_flush_duration_seconds",
          "Time to write one batch and its offsets, from the first statement to COMMIT.", kFlushDurationBuckets,
          {"table"})),
      batch_rows_(registry.histogram_family("kafka_pg_sink_batch_rows",
                                            "Rows one batch wrote, after key reduction.", kBatchRowsBuckets,
                                            {"table"})),
      end_to_end_latency_(registry.histogram_family(
          "kafka_pg_sink_end_to_end_latency_seconds",
          "Time from the Kafka timestamp of each batch's oldest record to the COMMIT that applied it.",
          kEndToEndLatencyBuckets, {"table"})),
      database_errors_(registry.counter_family("kafka_pg_sink_database_errors_total",
                                               "PostgreSQL errors, by SQLSTATE class (unknown: no SQLSTATE).",
                                               {"sqlstate_class"})),
      retries_(registry.counter_family("kafka_pg_sink_retries_total",
                                       "Attempts repeated after a transient failure, by reason.", {"reason"})),
      rebalances_(registry.counter_family("kafka_pg_sink_rebalances_total",
                                          "Consumer group rebalance events, by kind (assign, revoke, lost).",
                                          {"kind"})),
      assigned_partitions_(registry.gauge("kafka_pg_sink_assigned_partitions",
                                          "Partitions currently assigned to this instance.")),
      consumer_lag_(registry.gauge_family(
          "kafka_pg_sink_consumer_lag",
          "Records between each assigned partition's high watermark and the next offset to consume.",
          {"topic", "partition"})),
      dedup_state_keys_(registry.gauge("kafka_pg_sink_dedup_state_keys",
                                       "Estimated dedup identities kept in the RocksDB state.")),
      dedup_state_bytes_(registry.gauge("kafka_pg_sink_dedup_state_bytes",
                                        "Estimated size of the RocksDB dedup state on disk.")),
      write_in_flight_seconds_(registry.gauge(
          "kafka_pg_sink_write_in_flight_seconds",
          "Age of the batch write in flight in PostgreSQL (0 when none): grows while a write is blocked.")),
      writes_in_flight_(registry.gauge(
          "kafka_pg_sink_writes_in_flight",
          "Writer lanes with a batch write in flight in PostgreSQL (0 to postgres.pool_size).")) {
  registry.gauge("kafka_pg_sink_up", "1 while the daemon runs.").set(1);
  registry.gauge("kafka_pg_sink_build_info", "Always 1; the version is in the label.", {{"version", version}})
      .set(1);
}

void SinkMetrics::on_batch_written(const BatchWritten& batch) {
  for (const TopicRecordCount& topic : batch.records_by_topic) {
    records_written_.with({topic.topic, batch.table}).inc(topic.records);
  }
  rows_written_.with({batch.table}).inc(batch.rows);
  batch_flush_duration_.with({batch.table}).observe(batch.flush_duration.count());
  batch_rows_.with({batch.table}).observe(static_cast<double>(batch.rows));
  if (batch.oldest_record_timestamp_ms) {
    constexpr double kMillisecondsPerSecond = 1000.0;
    const int64_t latency_ms = std::max<int64_t>(0, batch.committed_at_unix_ms - *batch.oldest_record_timestamp_ms);
    end_to_end_latency_.with({batch.table}).observe(static_cast<double>(latency_ms) / kMillisecondsPerSecond);
  }
}

Counter& SinkMetrics::database_errors(std::string_view sqlstate) {
  constexpr size_t kSqlstateLength = 5;
  const bool well_formed =
      sqlstate.size() == kSqlstateLength && std::all_of(sqlstate.begin(), sqlstate.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
      });
  return database_errors_.with({well_formed ? sqlstate.substr(0, 2) : std::string_view("unknown")});
}

namespace {

// A partition number as label text, without allocating.
struct PartitionLabel {
  char digits[12];
  std::string_view text;
  explicit PartitionLabel(int32_t partition) {
    const auto [end, error] = std::to_chars(digits, digits + sizeof digits, partition);
    text = std::string_view(digits, static_cast<size_t>(end - digits));
  }
  PartitionLabel(const PartitionLabel&) = delete;  // `text` points into this object
  PartitionLabel& operator=(const PartitionLabel&) = delete;
};

}  // namespace

void SinkMetrics::set_consumer_lag(const TopicPartition& tp, int64_t records) {
  const PartitionLabel partition(tp.partition);
  consumer_lag_.with({tp.topic, partition.text}).set(static_cast<double>(records));
}

void SinkMetrics::forget_partition(const TopicPartition& tp) {
  const PartitionLabel partition(tp.partition);
  consumer_lag_.remove({tp.topic, partition.text});
}

}  // namespace kps
