#include "connector/metrics.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>

namespace kps {
namespace {

bool contains_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

}  // namespace

TEST_CASE("the registry renders counters, gauges and histograms in text exposition format 0.0.4") {
  MetricsRegistry registry;
  registry.counter("jobs_total", "Jobs done.", {{"queue", "a"}}).inc(3);
  registry.counter("jobs_total", "Jobs done.", {{"queue", "b"}}).inc();
  registry.gauge("temperature_celsius", "Current temperature.").set(21.5);
  constexpr double kBounds[] = {0.25, 1, 10};
  Histogram& wait = registry.histogram("wait_seconds", "Time waited.", kBounds, {{"pool", "x"}});
  wait.observe(0.125);
  wait.observe(0.25);  // le is inclusive: counts under 0.25
  wait.observe(0.5);
  wait.observe(20);

  CHECK(registry.render() ==
        "# HELP jobs_total Jobs done.\n"
        "# TYPE jobs_total counter\n"
        "jobs_total{queue=\"a\"} 3\n"
        "jobs_total{queue=\"b\"} 1\n"
        "# HELP temperature_celsius Current temperature.\n"
        "# TYPE temperature_celsius gauge\n"
        "temperature_celsius 21.5\n"
        "# HELP wait_seconds Time waited.\n"
        "# TYPE wait_seconds histogram\n"
        "wait_seconds_bucket{pool=\"x\",le=\"0.25\"} 2\n"
        "wait_seconds_bucket{pool=\"x\",le=\"1\"} 3\n"
        "wait_seconds_bucket{pool=\"x\",le=\"10\"} 3\n"
        "wait_seconds_bucket{pool=\"x\",le=\"+Inf\"} 4\n"
        "wait_seconds_sum{pool=\"x\"} 20.875\n"
        "wait_seconds_count{pool=\"x\"} 4\n");
}

TEST_CASE("a histogram without labels renders le as its only label and counts NaN under +Inf") {
  MetricsRegistry registry;
  constexpr double kBounds[] = {1, 100000};
  Histogram& rows = registry.histogram("rows", "Rows.", kBounds);
  rows.observe(1);
  rows.observe(std::numeric_limits<double>::quiet_NaN());

  CHECK(registry.render() ==
        "# HELP rows Rows.\n"
        "# TYPE rows histogram\n"
        "rows_bucket{le=\"1\"} 1\n"
        "rows_bucket{le=\"100000\"} 1\n"
        "rows_bucket{le=\"+Inf\"} 2\n"
        "rows_sum NaN\n"
        "rows_count 2\n");
}

TEST_CASE("label values escape backslash, double quote and newline, and help escapes backslash and newline") {
  MetricsRegistry registry;
  registry.counter("odd_total", "Line one\nback\\slash \"quoted\".", {{"path", "C:\\dir \"x\"\nnext"}}).inc(2);

  CHECK(registry.render() ==
        "# HELP odd_total Line one\\nback\\\\slash \"quoted\".\n"
        "# TYPE odd_total counter\n"
        "odd_total{path=\"C:\\\\dir \\\"x\\\"\\nnext\"} 2\n");
}

TEST_CASE("gauge values print as Prometheus floats: whole numbers plainly, others shortest, infinities signed") {
  MetricsRegistry registry;
  GaugeFamily& values = registry.gauge_family("value", "A value.", {"case"});
  values.with({"negative"}).set(-3);
  values.with({"fraction"}).set(0.1);
  values.with({"huge"}).set(1e21);
  values.with({"infinite"}).set(-std::numeric_limits<double>::infinity());
  values.with({"added"}).add(2.5);
  values.with({"added"}).add(-1);

  const std::string text = registry.render();
  CHECK(contains_line(text, "value{case=\"negative\"} -3"));
  CHECK(contains_line(text, "value{case=\"fraction\"} 0.1"));
  CHECK(contains_line(text, "value{case=\"huge\"} 1e+21"));
  CHECK(contains_line(text, "value{case=\"infinite\"} -Inf"));
  CHECK(contains_line(text, "value{case=\"added\"} 1.5"));
}

TEST_CASE("looking a series up again returns the same object, so the hot path can keep the reference") {
  MetricsRegistry registry;
  CounterFamily& family = registry.counter_family("hits_total", "Hits.", {"topic"});
  Counter& first = family.with({"events"});
  first.inc(5);

  CHECK(&family.with({"events"}) == &first);
  CHECK(&registry.counter("hits_total", "Hits.", {{"topic", "events"}}) == &first);
  CHECK(&registry.counter_family("hits_total", "Hits.", {"topic"}) == &family);
  CHECK(family.with({"events"}).value() == 5);
  CHECK(&family.with({"other"}) != &first);
}

TEST_CASE("a family is listed with HELP and TYPE before it has any series") {
  MetricsRegistry registry;
  registry.counter_family("later_total", "Filled in later.", {"topic"});

  CHECK(registry.render() == "# HELP later_total Filled in later.\n# TYPE later_total counter\n");
}

TEST_CASE("removing a series drops it from the output and leaves the others") {
  MetricsRegistry registry;
  GaugeFamily& lag = registry.gauge_family("lag", "Lag.", {"partition"});
  lag.with({"0"}).set(7);
  lag.with({"1"}).set(9);

  CHECK(lag.remove({"0"}));
  CHECK_FALSE(lag.remove({"0"}));
  CHECK(registry.render() == "# HELP lag Lag.\n# TYPE lag gauge\nlag{partition=\"1\"} 9\n");
  CHECK(lag.with({"0"}).value() == 0);  // a new series starts from zero
}

TEST_CASE("the registry rejects what Prometheus would reject, naming the metric") {
  MetricsRegistry registry;
  registry.counter_family("taken_total", "Taken.", {"topic"});
  constexpr double kBounds[] = {1, 2};
  constexpr double kUnordered[] = {2, 1};
  constexpr double kInfinite[] = {1, std::numeric_limits<double>::infinity()};

  CHECK_THROWS_WITH(registry.gauge_family("taken_total", "Taken."),
                    Catch::Contains("taken_total") && Catch::Contains("already registered as a counter"));
  CHECK_THROWS_WITH(registry.counter_family("taken_total", "Taken.", {"table"}), Catch::Contains("other label names"));
  CHECK_THROWS_WITH(registry.counter_family("9lives_total", "Bad."), Catch::Contains("not a valid Prometheus metric name"));
  CHECK_THROWS_WITH(registry.counter_family("bad-name", "Bad."), Catch::Contains("bad-name"));
  CHECK_THROWS_WITH(registry.counter_family("ok_total", "Bad.", {"__reserved"}), Catch::Contains("__reserved"));
  CHECK_THROWS_WITH(registry.counter_family("ok_total", "Bad.", {"a", "a"}), Catch::Contains("appears twice"));
  CHECK_THROWS_WITH(registry.histogram_family("h_seconds", "Bad.", kBounds, {"le"}), Catch::Contains("le"));
  CHECK_THROWS_WITH(registry.histogram_family("h_seconds", "Bad.", kUnordered), Catch::Contains("strictly increasing"));
  CHECK_THROWS_WITH(registry.histogram_family("h_seconds", "Bad.", kInfinite), Catch::Contains("finite"));
  CHECK_THROWS_WITH(registry.histogram_family("h_seconds", "Bad.", {}), Catch::Contains("at least one bucket"));
  CHECK_THROWS_WITH(registry.counter_family("taken_total", "Taken.", {"topic"}).with({"a", "b"}),
                    Catch::Contains("expected 1 label values, got 2"));

  registry.histogram_family("good_seconds", "Good.", kBounds);
  constexpr double kOtherBounds[] = {1, 3};
  CHECK_THROWS_WITH(registry.histogram_family("good_seconds", "Good.", kOtherBounds),
                    Catch::Contains("other bucket bounds"));
}

TEST_CASE("counts from a writer thread are all rendered while another thread renders concurrently") {
  MetricsRegistry registry;
  CounterFamily& family = registry.counter_family("records_total", "Records.", {"topic"});
  constexpr uint64_t kIncrements = 200000;
  std::thread writer([&] {
    Counter& counter = family.with({"events"});
    constexpr double kBounds[] = {1};
    Histogram& histogram = registry.histogram("batch", "Batch.", kBounds);
    for (uint64_t i = 0; i < kIncrements; ++i) {
      counter.inc();
      histogram.observe(0.5);
      if (i % 1000 == 0) family.with({"topic-" + std::to_string(i / 1000 % 10)}).inc();
    }
  });
  for (int i = 0; i < 50; ++i) CHECK(registry.render().starts_with("# HELP records_total Records.\n"));
  writer.join();

  const std::string text = registry.render();
  CHECK(contains_line(text, "records_total{topic=\"events\"} 200000"));
  CHECK(contains_line(text, "batch_bucket{le=\"1\"} 200000"));
  CHECK(contains_line(text, "batch_sum 100000"));
  CHECK(contains_line(text, "batch_count 200000"));
  CHECK(contains_line(text, "records_total{topic=\"topic-9\"} 20"));
}

TEST_CASE("SinkMetrics declares every metric of the daemon under the kafka_pg_sink_ prefix") {
  MetricsRegistry registry;
  SinkMetrics metrics(registry, "1.2.3");
  const std::string text = registry.render();

  const std::pair<const char*, const char*> declared[] = {
      {"kafka_pg_sink_records_consumed_total", "counter"},
      {"kafka_pg_sink_records_written_total", "counter"},
      {"kafka_pg_sink_rows_written_total", "counter"},
      {"kafka_pg_sink_bad_records_total", "counter"},
      {"kafka_pg_sink_dead_letters_total", "counter"},
      {"kafka_pg_sink_dedup_dropped_total", "counter"},
      {"kafka_pg_sink_batch_flush_duration_seconds", "histogram"},
      {"kafka_pg_sink_batch_rows", "histogram"},
      {"kafka_pg_sink_end_to_end_latency_seconds", "histogram"},
      {"kafka_pg_sink_database_errors_total", "counter"},
      {"kafka_pg_sink_retries_total", "counter"},
      {"kafka_pg_sink_rebalances_total", "counter"},
      {"kafka_pg_sink_assigned_partitions", "gauge"},
      {"kafka_pg_sink_consumer_lag", "gauge"},
      {"kafka_pg_sink_dedup_state_keys", "gauge"},
      {"kafka_pg_sink_dedup_state_bytes", "gauge"},
      {"kafka_pg_sink_writes_in_flight", "gauge"},
      {"kafka_pg_sink_up", "gauge"},
      {"kafka_pg_sink_build_info", "gauge"},
  };
  for (const auto& [name, type] : declared) {
    INFO(name);
    CHECK(contains_line(text, std::string("# TYPE ") + name + " " + type));
    CHECK(text.find(std::string("# HELP ") + name + " ") != std::string::npos);
  }
  CHECK(contains_line(text, "kafka_pg_sink_up 1"));
  CHECK(contains_line(text, "kafka_pg_sink_build_info{version=\"1.2.3\"} 1"));
  CHECK(contains_line(text, "kafka_pg_sink_assigned_partitions 0"));

  // Every line is a comment about, or a sample of, a kafka_pg_sink_ metric.
  size_t line_start = 0;
  while (line_start < text.size()) {
    const size_t line_end = text.find('\n', line_start);
    const std::string line = text.substr(line_start, line_end - line_start);
    INFO(line);
    CHECK((line.starts_with("kafka_pg_sink_") || line.starts_with("# HELP kafka_pg_sink_") ||
           line.starts_with("# TYPE kafka_pg_sink_")));
    line_start = line_end + 1;
  }
}

TEST_CASE("SinkMetrics labels per-record counters by topic, stage and reason") {
  MetricsRegistry registry;
  SinkMetrics metrics(registry, "0.1.0");
  Counter& consumed = metrics.records_consumed("events");
  consumed.inc();
  consumed.inc();
  metrics.bad_records("events", BadRecordStage::Decode, "not_an_object").inc();
  metrics.bad_records("events", BadRecordStage::Database, "check_violation").inc();
  metrics.dead_letters("events", BadRecordStage::Decode, "not_an_object").inc(2);
  metrics.dedup_dropped("public.events").inc(4);
  metrics.retries("database_unavailable").inc();
  metrics.rebalances(RebalanceKind::Assign).inc();
  metrics.rebalances(RebalanceKind::Lost).inc();
  metrics.assigned_partitions().set(3);
  metrics.dedup_state_keys().set(1000);
  metrics.dedup_state_bytes().set(65536);
  metrics.writes_in_flight().set(3);

  CHECK(&metrics.records_consumed("events") == &consumed);
  const std::string text = registry.render();
  CHECK(contains_line(text, "kafka_pg_sink_records_consumed_total{topic=\"events\"} 2"));
  CHECK(contains_line(text,
                      "kafka_pg_sink_bad_records_total{topic=\"events\",stage=\"decode\",reason=\"not_an_object\"} 1"));
  CHECK(contains_line(
      text, "kafka_pg_sink_bad_records_total{topic=\"events\",stage=\"database\",reason=\"check_violation\"} 1"));
  CHECK(contains_line(text, "kafka_pg_sink_dead_letters_total{topic=\"events\",stage=\"decode\",reason=\"not_an_object\"} 2"));
  CHECK(contains_line(text, "kafka_pg_sink_dedup_dropped_total{table=\"public.events\"} 4"));
  CHECK(contains_line(text, "kafka_pg_sink_retries_total{reason=\"database_unavailable\"} 1"));
  CHECK(contains_line(text, "kafka_pg_sink_rebalances_total{kind=\"assign\"} 1"));
  CHECK(contains_line(text, "kafka_pg_sink_rebalances_total{kind=\"lost\"} 1"));
  CHECK(contains_line(text, "kafka_pg_sink_assigned_partitions 3"));
  CHECK(contains_line(text, "kafka_pg_sink_dedup_state_keys 1000"));
  CHECK(contains_line(text, "kafka_pg_sink_dedup_state_bytes 65536"));
  CHECK(contains_line(text, "kafka_pg_sink_writes_in_flight 3"));
}

TEST_CASE("on_batch_written counts records per topic and rows, and observes duration, rows and latency") {
  MetricsRegistry registry;
  SinkMetrics metrics(registry, "0.1.0");
  const TopicRecordCount topics[] = {{"events.eu", 7}, {"events.us", 3}};
  BatchWritten batch;
  batch.table = "public.events";
  batch.records_by_topic = topics;
  batch.rows = 6;  // 10 records reduced to 6 keys
  batch.flush_duration = std::chrono::milliseconds(20);
  batch.oldest_record_timestamp_ms = 1'700'000'000'000;
  batch.committed_at_unix_ms = 1'700'000'001'500;  // 1.5 s later
  metrics.on_batch_written(batch);

  batch.records_by_topic = std::span<const TopicRecordCount>(topics, 1);
  batch.rows = 1;
  batch.oldest_record_timestamp_ms = batch.committed_at_unix_ms + 300;  // broker clock ahead of ours
  metrics.on_batch_written(batch);

  const std::string text = registry.render();
  CHECK(contains_line(text, "kafka_pg_sink_records_written_total{topic=\"events.eu\",table=\"public.events\"} 14"));
  CHECK(contains_line(text, "kafka_pg_sink_records_written_total{topic=\"events.us\",table=\"public.events\"} 3"));
  CHECK(contains_line(text, "kafka_pg_sink_rows_written_total{table=\"public.events\"} 7"));
  CHECK(contains_line(text, "kafka_pg_sink_batch_flush_duration_seconds_bucket{table=\"public.events\",le=\"0.01\"} 0"));
  CHECK(contains_line(text, "kafka_pg_sink_batch_flush_duration_seconds_bucket{table=\"public.events\",le=\"0.025\"} 2"));
  CHECK(contains_line(text, "kafka_pg_sink_batch_flush_duration_seconds_count{table=\"public.events\"} 2"));
  CHECK(contains_line(text, "kafka_pg_sink_batch_rows_bucket{table=\"public.events\",le=\"1\"} 1"));
  CHECK(contains_line(text, "kafka_pg_sink_batch_rows_bucket{table=\"public.events\",le=\"10\"} 2"));
  CHECK(contains_line(text, "kafka_pg_sink_batch_rows_sum{table=\"public.events\"} 7"));
  CHECK(contains_line(text, "kafka_pg_sink_end_to_end_latency_seconds_bucket{table=\"public.events\",le=\"0.01\"} 1"));
  CHECK(contains_line(text, "kafka_pg_sink_end_to_end_latency_seconds_bucket{table=\"public.events\",le=\"1\"} 1"));
  CHECK(contains_line(text, "kafka_pg_sink_end_to_end_latency_seconds_bucket{table=\"public.events\",le=\"2.5\"} 2"));
  CHECK(contains_line(text, "kafka_pg_sink_end_to_end_latency_seconds_sum{table=\"public.events\"} 1.5"));
}

TEST_CASE("a batch without record timestamps observes no end-to-end latency") {
  MetricsRegistry registry;
  SinkMetrics metrics(registry, "0.1.0");
  BatchWritten batch;
  batch.table = "t";
  batch.rows = 1;
  metrics.on_batch_written(batch);

  CHECK(registry.render().find("kafka_pg_sink_end_to_end_latency_seconds_count") == std::string::npos);
  CHECK(metrics.batch_rows("t").bucket_count(0) == 1);
}

TEST_CASE("database errors are counted by SQLSTATE class, and errors without a SQLSTATE as unknown") {
  MetricsRegistry registry;
  SinkMetrics metrics(registry, "0.1.0");
  metrics.database_errors("08006").inc();
  metrics.database_errors("08001").inc();
  metrics.database_errors("23505").inc();
  metrics.database_errors("").inc();
  metrics.database_errors("connection lost").inc();

  const std::string text = registry.render();
  CHECK(contains_line(text, "kafka_pg_sink_database_errors_total{sqlstate_class=\"08\"} 2"));
  CHECK(contains_line(text, "kafka_pg_sink_database_errors_total{sqlstate_class=\"23\"} 1"));
  CHECK(contains_line(text, "kafka_pg_sink_database_errors_total{sqlstate_class=\"unknown\"} 2"));
}

TEST_CASE("consumer lag is exported per partition and no longer once the partition is forgotten") {
  MetricsRegistry registry;
  SinkMetrics metrics(registry, "0.1.0");
  metrics.set_consumer_lag({"events", 0}, 120);
  metrics.set_consumer_lag({"events", 11}, 5);
  metrics.set_consumer_lag({"events", 0}, 100);

  std::string text = registry.render();
  CHECK(contains_line(text, "kafka_pg_sink_consumer_lag{topic=\"events\",partition=\"0\"} 100"));
  CHECK(contains_line(text, "kafka_pg_sink_consumer_lag{topic=\"events\",partition=\"11\"} 5"));

  metrics.forget_partition({"events", 0});
  text = registry.render();
  CHECK(text.find("partition=\"0\"") == std::string::npos);
  CHECK(contains_line(text, "kafka_pg_sink_consumer_lag{topic=\"events\",partition=\"11\"} 5"));
}

}  // namespace kps
