#pragma once
// A small Prometheus registry and the daemon's metrics. The hot path looks a series up
// once (by family and label values), keeps the returned reference and updates it with
// relaxed atomics; the HTTP thread renders the text exposition format (0.0.4) under the
// registry's mutex. No vendor headers.
//
// Thread-safety: every operation may be called from any thread. Registering a family,
// looking a series up and rendering take the registry's mutex; updating a series does not.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "connector/bad_record.h"
#include "connector/record.h"

namespace kps {

/// A value that only goes up (records, errors, retries).
class Counter {
 public:
  void inc(uint64_t by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

/// A value that goes up and down (lag, assigned partitions, state size).
class Gauge {
 public:
  void set(double value) { value_.store(value, std::memory_order_relaxed); }
  void add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

/// Observations counted into fixed buckets. Buckets are stored per bucket, not
/// cumulatively, so an observation touches one bucket; render() accumulates them.
class Histogram {
 public:
  /// `upper_bounds` (strictly increasing, finite) must outlive the histogram; the family owns them.
  explicit Histogram(std::span<const double> upper_bounds);

  /// Counts `value` into the first bucket whose upper bound is >= value (le is inclusive).
  void observe(double value);

  std::span<const double> upper_bounds() const { return upper_bounds_; }
  /// Observations in bucket `index` alone (not cumulative); index upper_bounds().size() is +Inf.
  uint64_t bucket_count(size_t index) const { return buckets_[index].load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::span<const double> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // upper_bounds_.size() + 1, the last is +Inf
  std::atomic<double> sum_{0.0};
};

enum class MetricType { Counter, Gauge, Histogram };

/// What every family of series has in common; rendering and bookkeeping live in metrics.cpp.
class MetricFamilyBase {
 public:
  virtual ~MetricFamilyBase() = default;
  MetricFamilyBase(const MetricFamilyBase&) = delete;
  MetricFamilyBase& operator=(const MetricFamilyBase&) = delete;

  const std::string& name() const { return name_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

 protected:
  MetricFamilyBase(std::mutex& mutex, MetricType type, std::string name, std::string help,
                   std::vector<std::string> label_names);

  /// Index of the series with these label values, or -1. Caller holds mutex_.
  std::ptrdiff_t find_series(std::span<const std::string_view> label_values) const;
  /// Throws std::invalid_argument when the count of values does not match the label names.
  void check_label_count(std::span<const std::string_view> label_values) const;

  std::mutex& mutex_;  // the registry's
  const MetricType type_;
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  std::vector<std::vector<std::string>> series_labels_;  // label values of each series, in creation order

 private:
  friend class MetricsRegistry;
  /// Appends HELP, TYPE and every series. Caller holds mutex_.
  void render(std::string& out) const;
  virtual void render_series(std::string& out, size_t index, std::string_view labels) const = 0;
};

/// Every series of one metric name, one per combination of label values.
template <typename Metric>
class MetricFamily final : public MetricFamilyBase {
 public:
  /// The series with these label values (in the order of label_names()), created the first
  /// time. The reference stays valid until remove() of the same values or the registry's
  /// end: keep it rather than looking it up per record. Allocates only when creating.
  /// Throws std::invalid_argument when the number of values differs from label_names().
  Metric& with(std::initializer_list<std::string_view> label_values = {}) {
    return with(std::span<const std::string_view>(label_values.begin(), label_values.size()));
  }
  Metric& with(std::span<const std::string_view> label_values);

  /// Drops a series, e.g. the lag of a partition this instance no longer owns, so it
  /// stops being exported. References to it dangle afterwards. False when it did not exist.
  bool remove(std::initializer_list<std::string_view> label_values) {
    return remove(std::span<const std::string_view>(label_values.begin(), label_values.size()));
  }
  bool remove(std::span<const std::string_view> label_values);

  /// Bucket upper bounds of a histogram family; empty for others.
  std::span<const double> upper_bounds() const { return upper_bounds_; }

 private:
  friend class MetricsRegistry;
  MetricFamily(std::mutex& mutex, std::string name, std::string help, std::vector<std::string> label_names,
               std::vector<double> upper_bounds);
  void render_series(std::string& out, size_t index, std::string_view labels) const override;

  const std::vector<double> upper_bounds_;
  std::vector<std::unique_ptr<Metric>> series_;  // same index as series_labels_
};

extern template class MetricFamily<Counter>;
extern template class MetricFamily<Gauge>;
extern template class MetricFamily<Histogram>;
using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

struct Label {
  std::string_view name;
  std::string_view value;
};

/// Owns every metric family and renders them. Families are registered once (at start-up);
/// registering the same name again returns the existing family when type, label names and
/// buckets agree. Breaking Prometheus' rules (bad metric or label name, a name reused with
/// another type or other labels, buckets not strictly increasing) is a programming error:
/// std::invalid_argument naming the metric.
class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  CounterFamily& counter_family(std::string_view name, std::string_view help,
                                std::initializer_list<std::string_view> label_names = {});
  GaugeFamily& gauge_family(std::string_view name, std::string_view help,
                            std::initializer_list<std::string_view> label_names = {});
  /// `upper_bounds`: strictly increasing finite bucket bounds; +Inf is added. A histogram
  /// may not use the label name "le".
  HistogramFamily& histogram_family(std::string_view name, std::string_view help,
                                    std::span<const double> upper_bounds,
                                    std::initializer_list<std::string_view> label_names = {});

  /// Family and series in one call, for metrics looked up once.
  Counter& counter(std::string_view name, std::string_view help, std::initializer_list<Label> labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, std::initializer_list<Label> labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, std::span<const double> upper_bounds,
                       std::initializer_list<Label> labels = {});

  /// Text exposition format 0.0.4: families in registration order, each with # HELP and
  /// # TYPE (also when it has no series yet), series in creation order.
  std::string render() const;

 private:
  template <typename Metric>
  MetricFamily<Metric>& family(MetricType type, std::string_view name, std::string_view help,
                               std::span<const std::string_view> label_names, std::span<const double> upper_bounds);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<MetricFamilyBase>> families_;
};

// ---------------------------------------------------------------------------------------
// The daemon's metrics.

/// Bucket bounds, in seconds, for a batch's COPY-to-COMMIT time.
inline constexpr double kFlushDurationBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                   0.25,  0.5,    1,     2.5,  5,     10,   30};
/// Bucket bounds, in seconds, from a record's Kafka timestamp to the commit that applied it.
inline constexpr double kEndToEndLatencyBuckets[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,   2.5,
                                                     5,    10,    30,   60,  300,  900, 3600};
/// Bucket bounds, in rows, for the rows one batch wrote (the default max_rows is 10000).
inline constexpr double kBatchRowsBuckets[] = {1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000};

enum class RebalanceKind { Assign, Revoke, Lost };

const char* rebalance_kind_name(RebalanceKind kind);

/// Records consumed from one topic whose effect one batch applied.
struct TopicRecordCount {
  std::string_view topic;
  uint64_t records = 0;
};

/// What the connector knows once a batch's transaction has committed.
struct BatchWritten {
  std::string_view table;  // as configured, e.g. "public.events"
  /// Records whose effect the batch applied, per source topic: consumed records minus
  /// those dropped by dedup and bad records (one entry unless the sink has a topic_pattern).
  std::span<const TopicRecordCount> records_by_topic;
  uint64_t rows = 0;                                // rows written after key reduction
  std::chrono::duration<double> flush_duration{};  // first statement to COMMIT
  /// Kafka timestamp (ms since the epoch) of the batch's oldest record; nullopt when the
  /// broker gave none. `committed_at_unix_ms` is the wall clock at COMMIT.
  std::optional<int64_t> oldest_record_timestamp_ms;
  int64_t committed_at_unix_ms = 0;
};

/// Every metric the daemon exports, all named kafka_pg_sink_*, declared at construction so
/// that /metrics lists them all from the first scrape. The accessors return stable
/// references (see MetricFamily::with): per-record paths look a series up once per topic
/// or table and keep it. Thread-safe like the registry.
class SinkMetrics {
 public:
  /// `registry` must outlive this object. Sets kafka_pg_sink_up to 1 and
  /// kafka_pg_sink_build_info{version} to 1.
  SinkMetrics(MetricsRegistry& registry, std::string_view version);

  // Per record.
  Counter& records_consumed(std::string_view topic) { return records_consumed_.with({topic}); }
  Counter& bad_records(std::string_view topic, BadRecordStage stage, std::string_view reason) {
    return bad_records_.with({topic, bad_record_stage_name(stage), reason});
  }
  Counter& dead_letters(std::string_view topic, BadRecordStage stage, std::string_view reason) {
    return dead_letters_.with({topic, bad_record_stage_name(stage), reason});
  }
  Counter& dedup_dropped(std::string_view table) { return dedup_dropped_.with({table}); }
  /// A top-level field of a record that no column of its table takes (columns by name).
  Counter& ignored_fields(std::string_view table) { return ignored_fields_.with({table}); }
  /// Debezium change events by op (c r u d t m).
  Counter& change_events(std::string_view table, std::string_view op) { return change_events_.with({table, op}); }
  Counter& truncates(std::string_view table) { return truncates_.with({table}); }

  // Per batch; on_batch_written() updates all of these.
  Counter& records_written(std::string_view topic, std::string_view table) {
    return records_written_.with({topic, table});
  }
  Counter& rows_written(std::string_view table) { return rows_written_.with({table}); }
  Histogram& batch_flush_duration(std::string_view table) { return batch_flush_duration_.with({table}); }
  Histogram& batch_rows(std::string_view table) { return batch_rows_.with({table}); }
  Histogram& end_to_end_latency(std::string_view table) { return end_to_end_latency_.with({table}); }

  /// After a batch's COMMIT: records_written per topic, rows_written, batch_flush_duration,
  /// batch_rows, and end_to_end_latency once per batch from its oldest record (the batch's
  /// worst latency; a clock behind the broker's counts as 0).
  void on_batch_written(const BatchWritten& batch);

  // Per decision.
  /// Counted under the SQLSTATE's class (its first two characters: "08", "23", ...);
  /// an empty or malformed SQLSTATE (no reply from the server) counts as "unknown".
  Counter& database_errors(std::string_view sqlstate);
  /// `reason`: a short fixed token such as "database_unavailable" or "commit_failed".
  Counter& retries(std::string_view reason) { return retries_.with({reason}); }
  Counter& rebalances(RebalanceKind kind) { return rebalances_.with({rebalance_kind_name(kind)}); }
  Gauge& assigned_partitions() { return assigned_partitions_; }

  /// Records between the partition's high watermark and the next offset to consume.
  void set_consumer_lag(const TopicPartition& tp, int64_t records);
  /// Stops exporting a revoked or lost partition's lag (another instance reports it now).
  void forget_partition(const TopicPartition& tp);

  Gauge& dedup_state_keys() { return dedup_state_keys_; }
  Gauge& dedup_state_bytes() { return dedup_state_bytes_; }
  /// Seconds since the write in flight started, 0 when none; refreshed about once a second.
  Gauge& write_in_flight_seconds() { return write_in_flight_seconds_; }
  /// Writer lanes with a batch write in flight (0 to postgres.pool_size); refreshed about once a second.
  Gauge& writes_in_flight() { return writes_in_flight_; }

 private:
  CounterFamily& records_consumed_;
  CounterFamily& records_written_;
  CounterFamily& rows_written_;
  CounterFamily& bad_records_;
  CounterFamily& dead_letters_;
  CounterFamily& dedup_dropped_;
  CounterFamily& ignored_fields_;
  CounterFamily& change_events_;
  CounterFamily& truncates_;
  HistogramFamily& batch_flush_duration_;
  HistogramFamily& batch_rows_;
  HistogramFamily& end_to_end_latency_;
  CounterFamily& database_errors_;
  CounterFamily& retries_;
  CounterFamily& rebalances_;
  Gauge& assigned_partitions_;
  GaugeFamily& consumer_lag_;
  Gauge& dedup_state_keys_;
  Gauge& dedup_state_bytes_;
  Gauge& write_in_flight_seconds_;
  Gauge& writes_in_flight_;
};

}  // namespace kps
