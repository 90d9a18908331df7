#include "connector/connector.h"

#include <algorithm>
#include <thread>

#include "connector/log.h"
#include "connector/pg_writer.h"
#include "connector/pipeline.h"

namespace kps {
namespace {

constexpr std::chrono::milliseconds kMaxPollWait{100};
constexpr std::chrono::milliseconds kMetadataTimeout{10000};
constexpr int kMetadataAttempts = 6;
constexpr std::chrono::milliseconds kCatchUpDatabaseCheckInterval{1000};

}  // namespace

Connector::Connector(const Config& config, RunOptions options, const std::atomic<bool>& stop_requested)
    : config_(config), options_(options), stop_requested_(stop_requested) {}

Connector::~Connector() = default;

Status Connector::run() {
  started_at_ = clock_.now();
  last_progress_at_ = started_at_;
  next_progress_at_ = started_at_ + config_.log.progress_interval;
  next_database_check_at_ = started_at_;

  writer_ = std::make_unique<PgWriter>(config_);
  if (Status status = writer_->open(); !status) return status;
  log::info("connected to PostgreSQL (", redact_dsn(config_.postgres.dsn), ")");
  for (const SinkConfig& sink : config_.sinks) {
    if (sink.dedup) {
      log::warn("sinks: dedup for table ", quote_qualified_name(sink.table),
                " is not applied by this version; records are deduplicated by offset only");
    }
  }
  pipeline_ = std::make_unique<Pipeline>(config_, *writer_, clock_);
  consumer_ = std::make_unique<KafkaConsumer>(config_.kafka, *this);

  if (options_.until_caught_up) {
    if (Status status = start_catch_up(); !status) return status;
  }
  std::vector<std::string> topics;
  std::vector<std::string> patterns;
  for (const SinkConfig& sink : config_.sinks) {
    if (!sink.topic.empty()) topics.push_back(sink.topic);
    if (!sink.topic_pattern.empty()) patterns.push_back(sink.topic_pattern);
  }
  if (Status status = consumer_->subscribe(topics, patterns); !status) return status;
  log::info("consuming as group ", config_.kafka.group_id, " from ", topics.size(), " topic(s) and ",
            patterns.size(), " pattern(s)");

  while (!stop_requested_.load()) {
    if (catch_up_ && catch_up_->done()) break;
    if (Status status = poll_once(); !status) {
      if (status.kind() == ErrorKind::Poison) {
        // Stop at the bad record, after applying and committing everything before it.
        log::error(status.message());
        if (Status drained = drain(); !drained) log::error("could not flush before stopping: ", drained.message());
        return status;
      }
      failure_ = status;
      consumer_->close();
      return status;
    }
  }
  if (Status status = drain(); !status) return status;
  if (catch_up_) log::info("caught up: every record below the starting high watermarks is applied and committed");
  return Status::ok();
}

Status Connector::start_catch_up() {
  auto wanted = [this](std::string_view topic) {
    return std::any_of(config_.sinks.begin(), config_.sinks.end(),
                       [&](const SinkConfig& sink) { return sink_matches_topic(sink, topic); });
  };
  Result<std::vector<PartitionWatermarks>> marks = Status::error(ErrorKind::Transient, "not queried");
  for (int attempt = 1; attempt <= kMetadataAttempts && !stop_requested_.load(); ++attempt) {
    marks = consumer_->query_watermarks(wanted, kMetadataTimeout);
    if (marks) break;
    log::warn("attempt ", attempt, " of ", kMetadataAttempts, ": ", marks.status().message());
  }
  if (!marks) return marks.status();
  std::vector<CatchUpTarget> targets;
  int64_t records = 0;
  for (const PartitionWatermarks& mark : marks.value()) {
    targets.push_back({mark.topic_partition, mark.low, mark.high});
    records += std::max<int64_t>(0, mark.high - mark.low);
  }
  log::info("catching up: ", targets.size(), " partition(s), ", records, " record(s) below the high watermarks");
  catch_up_.emplace(std::move(targets));
  refresh_catch_up_from_database();
  return Status::ok();
}

Status Connector::poll_once() {
  std::chrono::milliseconds wait = kMaxPollWait;
  if (const auto until_flush = pipeline_->time_until_next_flush()) wait = std::min(wait, *until_flush);
  Result<PollResult> polled = consumer_->poll(wait);
  if (!polled) return polled.status();
  if (!failure_.is_ok()) return failure_;

  const PollResult& event = polled.value();
  if (event.kind == PollResult::Kind::Record) {
    if (Status status = pipeline_->add(event.record); !status) return status;
  } else if (event.kind == PollResult::Kind::PartitionEnd && catch_up_) {
    catch_up_->note_partition_end(event.end_of_partition, event.end_offset);
  }
  if (Status status = pipeline_->flush_due(); !status) return status;
  if (Status status = commit_durable_offsets(false); !status) return status;

  const auto now = clock_.now();
  if (catch_up_) {
    catch_up_->settle([this](const TopicPartition& tp) { return pipeline_->has_unwritten_records(tp); });
    // Partitions owned by other members of the group finish when PostgreSQL says so.
    if (!catch_up_->done() && now >= next_database_check_at_) {
      refresh_catch_up_from_database();
      next_database_check_at_ = now + kCatchUpDatabaseCheckInterval;
    }
  }
  if (config_.log.progress_interval.count() > 0 && now >= next_progress_at_) {
    log_progress(false);
    next_progress_at_ = now + config_.log.progress_interval;
  }
  return Status::ok();
}

Status Connector::commit_durable_offsets(bool synchronous) {
  const auto durable = pipeline_->take_durable_offsets();
  if (durable.empty()) return Status::ok();
  if (catch_up_) {
    for (const auto& [tp, next_offset] : durable) catch_up_->note_stored(tp, next_offset);
  }
  const Status status = consumer_->commit(durable, synchronous);
  // PostgreSQL holds the truth; a failed Kafka commit only delays lag reporting.
  if (!status) log::warn(status.message());
  return Status::ok();
}

void Connector::refresh_catch_up_from_database() {
  auto stored = writer_->load_offsets();
  if (!stored) {
    log::warn("cannot read stored offsets: ", stored.status().message());
    return;
  }
  for (const StoredOffset& offset : stored.value()) catch_up_->note_stored(offset.topic_partition, offset.next_offset);
}

Status Connector::drain() {
  Status status = pipeline_->flush_all();
  if (status) commit_durable_offsets(true);
  log_progress(true);
  consumer_->close();
  if (status && !failure_.is_ok()) status = failure_;
  return status;
}

void Connector::log_progress(bool final_line) {
  const auto now = clock_.now();
  const PipelineCounters& counters = pipeline_->counters();
  const double seconds = std::chrono::duration<double>(now - last_progress_at_).count();
  const double rows_per_second =
      seconds > 0 ? static_cast<double>(counters.rows_written - rows_at_last_progress_) / seconds : 0.0;
  rows_at_last_progress_ = counters.rows_written;
  last_progress_at_ = now;
  std::string catch_up_part;
  if (catch_up_) {
    catch_up_part = " remaining_partitions=" + std::to_string(catch_up_->remaining_partitions()) +
                    " remaining_records=" + std::to_string(catch_up_->remaining_records());
  }
  log::info(final_line ? "totals:" : "progress:", " consumed=", counters.records_consumed,
            " rows_written=", counters.rows_written, " batches=", counters.batches_written,
            " rows_per_s=", static_cast<int64_t>(rows_per_second), " lag=", consumer_->consumer_lag(),
            " partitions=", consumer_->assignment().size(), catch_up_part);
}

Result<std::vector<std::optional<int64_t>>> Connector::on_partitions_assigned(
    std::span<const TopicPartition> partitions) {
  auto stored = writer_->load_offsets();
  if (!stored) {
    failure_ = stored.status();
    return stored.status();
  }
  std::vector<std::optional<int64_t>> start_offsets;
  for (const TopicPartition& tp : partitions) {
    std::optional<int64_t> next_offset;
    for (const StoredOffset& offset : stored.value()) {
      if (offset.topic_partition == tp) next_offset = offset.next_offset;
    }
    pipeline_->assign(tp, next_offset);
    start_offsets.push_back(next_offset);
    if (next_offset) {
      log::info("assigned topic=", tp.topic, " partition=", tp.partition, " resuming at offset=", *next_offset,
                " (stored in PostgreSQL)");
    } else {
      log::info("assigned topic=", tp.topic, " partition=", tp.partition,
                " with no stored offset (starting from the group's committed offset, else the earliest)");
    }
  }
  return start_offsets;
}

void Connector::on_partitions_revoked(std::span<const TopicPartition> partitions) {
  if (!failure_.is_ok()) return;  // stopping on a failure: what was not written stays unstored
  const Status status = pipeline_->revoke(partitions);
  if (!status) {
    failure_ = status;
    return;
  }
  // With the eager protocol the group waits for us here, so this commit is safe;
  // cooperative rebalances in librdkafka 2.0.x can lose the assignment on a commit.
  if (!consumer_->rebalance_is_cooperative()) commit_durable_offsets(true);
}

}  // namespace kps
