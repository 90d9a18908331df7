#include "connector/connector.h"

#include <algorithm>
#include <ctime>
#include <utility>
#include <unistd.h>

#include "connector/dead_letter_router.h"
#include "connector/dedup_store.h"
#include "connector/failpoint.h"
#include "connector/failure_policy.h"
#include "connector/log.h"
#include "connector/pg_route_resolver.h"
#include "connector/pg_writer.h"
#include "connector/pipeline.h"
#include "connector/writer_lanes.h"

namespace kps {
namespace {

constexpr std::chrono::milliseconds kMaxPollWait{100};
// At most this many records between two rounds of the loop's bookkeeping (flushing due
// batches, committing, progress): a few milliseconds at the slowest useful rates.
constexpr uint32_t kRecordsPerHousekeeping = 64;
// While paused for backpressure, how often the loop looks whether the write is done.
constexpr std::chrono::milliseconds kBackpressurePollWait{10};
constexpr std::chrono::milliseconds kMetadataTimeout{10000};
constexpr std::chrono::milliseconds kWatermarkCheckTimeout{5000};
constexpr int kMetadataAttempts = 6;
constexpr std::chrono::milliseconds kCatchUpDatabaseCheckInterval{1000};
// How often an idle daemon compares the stored offsets of its partitions with its own view: an
// `offsets reset` while nothing is written is noticed this soon (a write notices at once).
constexpr std::chrono::milliseconds kStoredOffsetsCheckInterval{3000};
// How long a dedup rebuild may take in all before the partitions are consumed anyway
// (with a warning: duplicates of the records not re-read may then be applied again).
constexpr std::chrono::milliseconds kDedupRebuildTimeout{120000};
// The share of one loop round the rebuild reads for, so the group consumer is polled
// (and the rebalance protocol served) between slices.
constexpr std::chrono::milliseconds kDedupRebuildSlice{50};
// A partition-by-partition log of a rebuild up to this many partitions; one line beyond.
constexpr size_t kRebuildPartitionsLogged = 10;
// How long one batch waits for its dead letters' acknowledgements before the partitions
// are rewound and tried again (the topic may be unavailable: then they wait, never skip).
constexpr std::chrono::milliseconds kDeadLetterFlushTimeout{30000};
// An outage is over once the daemon, reconnected, has had nothing to write for this much
// longer than a batch may wait (see DatabaseOutage::note_nothing_to_write).
constexpr std::chrono::milliseconds kOutageQuietMargin{5000};
// How often a stuck write is logged again while it stays stuck.
constexpr std::chrono::milliseconds kStuckWriteWarningInterval{30000};
// "table x ignores field f" lines: once per pair, and no more pairs than this (the metric
// counts every one): a stream of ever new field names must not grow memory without bound.
constexpr size_t kMaxIgnoredFieldLines = 1000;

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

Connector::Connector(const Config& config, RunOptions options, const std::atomic<bool>& stop_requested)
    : config_(config),
      options_(options),
      stop_requested_(stop_requested),
      // Seeded per process so that replicas which lost the same database spread out.
      outage_(clock_, config.retry, config.batch.max_latency + kOutageQuietMargin, static_cast<uint64_t>(getpid())),
      stuck_write_watch_(config.postgres.write_stuck_after, kStuckWriteWarningInterval),
      metrics_(registry_, KPS_VERSION),
      // A loop iteration blocks at most for a poll, one batch or one reconnect attempt.
      heartbeat_(clock_, std::chrono::milliseconds(120000)),
      topic_selector_(config) {}

Connector::~Connector() {
  // Leaving the group calls back into this object (the revoke): do it while every member
  // is still alive, not from the consumer's own destructor.
  if (consumer_) consumer_->close();
}

Status Connector::run() {
  started_at_ = clock_.now();
  last_progress_at_ = started_at_;
  next_progress_at_ = started_at_ + config_.log.progress_interval;
  next_database_check_at_ = started_at_;

  if (Status status = start_http_server(); !status) return status;
  // The dedup state first: lane 0's pipeline is built with it.
  if (Status status = open_dedup_state(); !status) return status;
  lanes_ = std::make_unique<WriterLanes>(config_, clock_, dedup_store_.get());
  route_resolver_ = std::make_unique<PgRouteResolver>(config_, lanes_->routes());
  lanes_->set_route_resolver([this](size_t sink_index, const RecordView& first_record) {
    return route_resolver_->resolve(sink_index, first_record);
  });
  lanes_->set_ignored_field_listener(
      [this](size_t route_index, std::string_view field) { on_ignored_field(route_index, field); });
  lanes_->set_change_event_listener([this](size_t route_index, char op) {
    metrics_.change_events(quote_qualified_name(lanes_->routes().route(route_index).table), std::string_view(&op, 1))
        .inc();
  });
  if (Status status = open_database(); !status) return status;
  if (stop_requested_.load()) {
    // Stopped while waiting for PostgreSQL: nothing was consumed, so nothing is owed.
    log::info("stopped before PostgreSQL answered; nothing was consumed");
    return Status::ok();
  }
  log::info("connected to PostgreSQL (", redact_dsn(config_.postgres.dsn), ") with ", lanes_->size(),
            " writer lane(s) (postgres.pool_size)");
  lanes_->set_flush_listener([this](const FlushReport& report) { on_batch_flushed(report); });
  consumer_ = std::make_unique<KafkaConsumer>(config_.kafka, *this);
  lanes_->set_bad_record_listener([this](const BadRecord& bad) { on_bad_record(bad); });
  if (config_.errors.tolerance == ErrorTolerance::All) {
    dead_letters_ = std::make_unique<DeadLetterRouter>(config_.kafka, config_.errors, *consumer_,
                                                       kDeadLetterFlushTimeout);
    lanes_->set_dead_letter_sink(dead_letters_.get());
    log::info("bad records go to the dead letter topic ", config_.errors.dead_letter_topic);
  }

  if (options_.until_caught_up) {
    if (Status status = start_catch_up(); !status) return status;
  }
  if (Status status = follow_topics(clock_.now()); !status) return status;

  while (!stop_requested_.load()) {
    if (catch_up_ && catch_up_->done() && !recovering_) break;
    if (Status status = poll_once(); !status) {
      switch (failure_action(status)) {
        case FailureAction::StopAtUndecodable:
          // Stop at it, after applying and committing everything before it.
          log::error(status.message());
          if (Status drained = drain(); !drained) log::error("could not flush before stopping: ", drained.message());
          return status;
        case FailureAction::StopAtRefusedRecord: return stop_at_refused_record(status);
        case FailureAction::Recover:  // poll_once() recovers from these itself; never here
        case FailureAction::Stop: break;
      }
      failure_ = status;
      consumer_->close();
      return status;
    }
  }
  if (Status status = drain(); !status) return status;
  if (catch_up_ && catch_up_->done()) {
    log::info("caught up: every record below the starting high watermarks is applied and committed");
  } else if (catch_up_) {
    log::info("stopped before catching up: ", catch_up_->remaining_records(), " record(s) in ",
              catch_up_->remaining_partitions(), " partition(s) remain; the next run resumes from the stored offsets");
  }
  return Status::ok();
}

Status Connector::start_http_server() {
  if (config_.http.listen.empty()) return Status::ok();
  http_server_ = std::make_unique<HttpServer>(
      registry_, [this] { return heartbeat_.check(); }, [this] { return readiness(); });
  if (Status status = http_server_->start(config_.http.listen); !status) return status;
  log::info("serving /metrics, /healthz and /readyz on ", config_.http.listen);
  return Status::ok();
}

void Connector::refresh_gauges() {
  const auto lags = consumer_->partition_lags();
  for (const auto& [tp, records] : lags) metrics_.set_consumer_lag(tp, records);
  metrics_.assigned_partitions().set(static_cast<double>(consumer_->assignment().size()));
  if (dedup_store_) {
    const DedupStats stats = dedup_store_->stats();
    metrics_.dedup_state_keys().set(static_cast<double>(stats.approximate_keys));
    metrics_.dedup_state_bytes().set(static_cast<double>(stats.approximate_bytes));
  }
  const std::string stuck_write = watch_write_in_flight(clock_.now());
  if (!failure_.is_ok()) {
    set_readiness("stopping: " + failure_.message());
  } else if (recovering_) {
    set_readiness("recovering: " + recovery_cause_.message());
  } else if (!stuck_write.empty()) {
    set_readiness(stuck_write);
  } else if (!consumer_->is_group_member()) {
    set_readiness("not a member of the consumer group (yet)");
  } else {
    set_readiness("");
  }
}

std::string Connector::watch_write_in_flight(Clock::time_point now) {
  const std::optional<WriteInFlight> write = lanes_->write_in_flight_details();
  const StuckWriteWatch::Verdict verdict =
      stuck_write_watch_.observe(write ? std::optional(write->started_at) : std::nullopt, now);
  metrics_.write_in_flight_seconds().set(verdict.age_seconds);
  metrics_.writes_in_flight().set(static_cast<double>(lanes_->writes_in_flight()));
  if (!verdict.stuck) return {};
  const std::string table = quote_qualified_name(lanes_->routes().route(write->route_index).table);
  const auto tenths = static_cast<int64_t>(verdict.age_seconds * 10);
  const std::string reason = "a write to " + table + " has been in flight for " + std::to_string(tenths / 10) + "." +
                             std::to_string(tenths % 10) + " s (postgres.write_stuck_after_ms " +
                             std::to_string(config_.postgres.write_stuck_after.count()) +
                             "): blocked on a lock or a slow statement";
  if (verdict.warn) {
    log::warn(reason, "; postgres.lock_timeout_ms ", config_.postgres.lock_timeout.count(),
              " and statement_timeout_ms ", config_.postgres.statement_timeout.count(), " bound it (0: never)");
  }
  return reason;
}

void Connector::set_readiness(std::string not_ready_reason) {
  std::lock_guard lock(readiness_mutex_);
  not_ready_reason_ = std::move(not_ready_reason);
}

HealthReport Connector::readiness() const {
  std::lock_guard lock(readiness_mutex_);
  if (not_ready_reason_.empty()) return HealthReport::healthy();
  return HealthReport::unhealthy("not ready: " + not_ready_reason_);
}

void Connector::on_ignored_field(size_t route_index, std::string_view field) {
  const std::string table = quote_qualified_name(lanes_->routes().route(route_index).table);
  metrics_.ignored_fields(table).inc();
  if (ignored_fields_logged_.size() < kMaxIgnoredFieldLines &&
      ignored_fields_logged_.emplace(table, std::string(field)).second) {
    log::info("table ", table, " ignores field ", field, ": no such column");
  }
}

Counter& Connector::consumed_counter(std::string_view topic) {
  // Records come in runs of one topic: the last one is compared before the map is searched.
  if (last_consumed_counter_ != nullptr && topic == last_consumed_topic_) return *last_consumed_counter_;
  auto found = consumed_counters_.find(topic);
  if (found == consumed_counters_.end()) {
    found = consumed_counters_.emplace(std::string(topic), &metrics_.records_consumed(topic)).first;
  }
  last_consumed_topic_ = topic;
  last_consumed_counter_ = found->second;
  return *found->second;
}

void Connector::on_batch_flushed(const FlushReport& report) {
  const SinkConfig& sink = lanes_->routes().route(report.route_index);
  const std::string table = quote_qualified_name(sink.table);
  if (!first_batch_committed_) {
    // The benchmark times throughput from this line, past the group's initial join.
    first_batch_committed_ = true;
    log::info("first batch committed: ", report.rows_written, " row(s) into ", table);
  }
  // Counted once committed: a truncate rolled back with its batch did not happen.
  if (report.batch.truncate_first) metrics_.truncates(table).inc();
  std::vector<TopicRecordCount> by_topic;
  for (size_t index = 0; index < report.batch.rows.size(); ++index) {
    // A duplicate that waited in the batch for its claimant's fate was not written.
    if (!report.duplicate_rows.empty() && report.duplicate_rows[index]) continue;
    const BatchRow& row = report.batch.rows[index];
    const std::string_view topic = report.batch.partitions[row.partition_slot].topic_partition.topic;
    auto entry = std::find_if(by_topic.begin(), by_topic.end(), [&](const auto& count) { return count.topic == topic; });
    if (entry == by_topic.end()) {
      by_topic.push_back({topic, 1});
    } else {
      ++entry->records;
    }
  }
  BatchWritten written;
  written.table = table;
  written.records_by_topic = by_topic;
  written.rows = report.rows_written;
  written.flush_duration = report.duration;
  written.oldest_record_timestamp_ms = report.batch.oldest_record_timestamp_ms;
  written.committed_at_unix_ms = clock_.unix_millis();
  metrics_.on_batch_written(written);
  outage_.note_committed();
  if (report.dedup_dropped > 0) metrics_.dedup_dropped(table).inc(report.dedup_dropped);
}

Status Connector::open_database() {
  // A database that is still starting (or restarting), read-only, refusing connections
  // or out of disk is waited for, like an outage; the outage goes on until a batch commits.
  while (true) {
    Status status = lanes_->open();
    if (status || status.kind() != ErrorKind::Transient) return status;
    if (stop_requested_.load()) return Status::ok();  // a stop while waiting is a clean stop
    outage_.note_failure();
    if (outage_.exhausted()) return give_up(status);
    set_readiness("waiting for PostgreSQL at start-up: " + status.message());
    const auto delay = outage_.next_delay();
    log::warn("PostgreSQL unavailable (", status.message(), "); retrying in ", delay.count(), " ms");
    const auto wake_at = clock_.now() + delay;
    while (clock_.now() < wake_at && !stop_requested_.load()) clock_.sleep_for(std::chrono::milliseconds(20));
    // Waiting is what the daemon should be doing: alive (/healthz), not ready (/readyz), so
    // the kubelet does not restart a pod whose database is still starting or read-only.
    heartbeat_.beat();
  }
}

Status Connector::open_dedup_state() {
  const bool any_dedup = std::any_of(config_.sinks.begin(), config_.sinks.end(),
                                     [](const SinkConfig& sink) { return sink.dedup.has_value(); });
  if (!any_dedup) return Status::ok();
  // A state written for another group, offsets table or identity definition would
  // answer for records it never saw: such a directory is foreign and is wiped.
  std::string fingerprint = "group=" + config_.kafka.group_id +
                            ";offsets=" + quote_qualified_name(config_.postgres.offsets_table);
  std::vector<DedupSinkSpec> specs;
  for (const SinkConfig& sink : config_.sinks) {
    DedupSinkSpec spec;
    // A template sink has no one table: its template names it (its routes share its identities).
    spec.name = sink.table_template.empty() ? quote_qualified_name(sink.table) : "template " + sink.table_template;
    spec.enabled = sink.dedup.has_value();
    if (sink.dedup) {
      spec.ttl = sink.dedup->ttl;
      fingerprint += ";" + spec.name + "=";
      for (const std::string& field : sink.dedup->fields) fingerprint += field + ",";
    }
    specs.push_back(std::move(spec));
  }
  DedupOpenReport report;
  auto opened = DedupStore::open(config_.state.dir, fingerprint, std::move(specs),
                                 [this] { return clock_.unix_seconds(); }, &report);
  if (!opened) return opened.status();
  dedup_store_ = std::move(opened.value());
  if (!report.warning.empty()) log::warn("dedup state: ", report.warning);
  log::info("dedup state at ", config_.state.dir, report.created_new ? " (new: rebuilt from Kafka within each TTL)" : "");
  return Status::ok();
}

std::vector<Connector::PartitionStart> Connector::plan_partition_starts(
    std::span<const TopicPartition> partitions, const std::vector<std::optional<int64_t>>& stored,
    const std::vector<std::optional<int64_t>>& log_starts, const std::vector<bool>& moved_by_reset) {
  std::vector<PartitionStart> starts(partitions.size());
  std::vector<bool> missed_identities(partitions.size(), false);
  std::vector<std::optional<int64_t>> from(partitions.size());
  std::vector<size_t> looked_up_by_time;
  std::vector<std::pair<TopicPartition, int64_t>> window_starts_ms;
  for (size_t index = 0; index < partitions.size(); ++index) {
    const TopicPartition& tp = partitions[index];
    starts[index].stored_next_offset = stored[index];
    const std::optional<size_t> sink_index = lanes_->sink_for_topic(tp.topic);
    if (!dedup_store_ || !stored[index] || !sink_index || !config_.sinks[*sink_index].dedup) continue;
    const std::optional<int64_t> complete = dedup_store_->complete_up_to(*sink_index, tp);
    if (complete && *complete == *stored[index]) continue;
    if (complete && *complete > *stored[index]) {
      log::warn("dedup state of topic=", tp.topic, " partition=", tp.partition, " is ahead of PostgreSQL (",
                *complete, " > ", *stored[index], "): not consulted below offset ", *complete);
      starts[index].dedup_untrusted_below = complete;
      continue;
    }
    if (moved_by_reset[index]) {
      // An operator moved the offset forward (offsets reset): the records in between were
      // skipped, not applied, so their identities must not be learnt (a corrected resend of
      // one would be dropped). Records before the marker are in the state already.
      log::info("topic=", tp.topic, " partition=", tp.partition, " was moved to offset ", *stored[index],
                " by an offsets reset: the dedup state does not learn the records it skipped");
      continue;
    }
    // Identities the state missed (a crash between COMMIT and its write, or a lost state
    // directory) are re-read from Kafka: from the marker, or else from the first record
    // within the TTL.
    missed_identities[index] = true;
    from[index] = complete;
    if (!complete) {
      const auto ttl = config_.sinks[*sink_index].dedup->ttl;
      const int64_t window_start_ms =
          (clock_.unix_seconds() - static_cast<int64_t>(ttl.count())) * 1000;
      looked_up_by_time.push_back(index);
      window_starts_ms.emplace_back(tp, window_start_ms);
    }
  }
  if (!looked_up_by_time.empty()) {
    // One lookup for all of them. A broker that cannot look offsets up by time (the mock
    // cluster answers -1) makes that the start of the retained log; the pipeline then
    // skips records older than the TTL, so the answer is the same, only slower.
    auto by_time = consumer_->offsets_for_times(window_starts_ms, kWatermarkCheckTimeout);
    if (!by_time) log::warn(by_time.status().message(), "; re-reading from the start of the log instead");
    for (size_t lookup = 0; lookup < looked_up_by_time.size(); ++lookup) {
      const size_t index = looked_up_by_time[lookup];
      from[index] = by_time && by_time.value()[lookup] ? by_time.value()[lookup] : log_starts[index];
    }
  }
  for (size_t index = 0; index < partitions.size(); ++index) {
    if (!missed_identities[index]) continue;
    const TopicPartition& tp = partitions[index];
    if (!from[index]) {
      log::warn("cannot rebuild the dedup state of topic=", tp.topic, " partition=", tp.partition,
                ": duplicates of records before offset ", *stored[index], " are not caught");
    } else if (*from[index] < *stored[index]) {
      starts[index].dedup_rebuild = OffsetRange{tp, *from[index], *stored[index]};
    }
  }
  return starts;
}

void Connector::schedule_dedup_rebuild(std::vector<OffsetRange> ranges) {
  rebuild_active_ = true;
  if (rebuilds_pending_.empty()) {
    rebuild_started_at_ = clock_.now();
    rebuild_partitions_ = 0;
  }
  int64_t records = 0;
  for (const OffsetRange& range : ranges) {
    if (ranges.size() <= kRebuildPartitionsLogged) {
      log::info("rebuilding the dedup state of topic=", range.topic_partition.topic, " partition=",
                range.topic_partition.partition, ": re-reading offsets ", range.from, "..", range.to - 1);
    }
    records += range.to - range.from;
    rebuilds_pending_[range.topic_partition] = range;
  }
  if (ranges.size() > kRebuildPartitionsLogged) {
    log::info("rebuilding the dedup state of ", ranges.size(), " partition(s): re-reading up to ", records,
              " record(s) before they are consumed");
  }
  // A reader already under way does not know the new ranges: start over with all of them
  // (what it re-read is learnt already; reading it again changes nothing).
  rebuild_reader_.reset();
}

void Connector::continue_dedup_rebuild() {
  if (!rebuild_active_) return;
  if (rebuilds_pending_.empty()) {
    // Every partition it was to re-read was revoked (before or after its reader opened):
    // nothing is left to wait for, and the partitions paused for it resume.
    log::info("dedup rebuild ended: its partitions were revoked");
    end_dedup_rebuild(Status::ok());
    return;
  }
  if (!rebuild_reader_) {
    std::vector<OffsetRange> ranges;
    ranges.reserve(rebuilds_pending_.size());
    for (const auto& [tp, range] : rebuilds_pending_) ranges.push_back(range);
    auto opened = RangeReader::open(config_.kafka, ranges);
    if (!opened) return end_dedup_rebuild(opened.status());
    rebuild_reader_ = std::move(opened.value());
  }
  const Status read = rebuild_reader_->read_for(
      kDedupRebuildSlice, [this](const RecordView& record) { lanes_->replay(record); },
      [this](const TopicPartition& tp) {
        const auto pending = rebuilds_pending_.find(tp);
        if (pending == rebuilds_pending_.end()) return;
        lanes_->finish_replay(tp, pending->second.to);
        rebuilds_pending_.erase(pending);
        ++rebuild_partitions_;
      });
  if (!read) return end_dedup_rebuild(read);
  if (rebuilds_pending_.empty()) return end_dedup_rebuild(Status::ok());
  if (clock_.now() - rebuild_started_at_ >= kDedupRebuildTimeout) {
    end_dedup_rebuild(Status::error(ErrorKind::Transient, "not done after " +
                                                              std::to_string(kDedupRebuildTimeout.count()) + " ms"));
  }
}

void Connector::end_dedup_rebuild(const Status& outcome) {
  rebuild_active_ = false;
  rebuild_reader_.reset();
  const auto took_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - rebuild_started_at_).count();
  if (outcome && rebuild_partitions_ > 0) {
    log::info("dedup state rebuilt for ", rebuild_partitions_, " partition(s) in ", took_ms, " ms; resuming ",
              consumer_->assignment().size(), " partition(s)");
  } else if (!outcome) {
    for (const auto& [tp, range] : rebuilds_pending_) {
      log::warn("dedup rebuild of topic=", tp.topic, " partition=", tp.partition, " incomplete: ", outcome.message(),
                "; duplicates of records before offset ", range.to, " may be applied again");
    }
  }
  rebuilds_pending_.clear();
  if (!recovering_ && !paused_for_backpressure_) consumer_->resume(consumer_->assignment());
}

Status Connector::follow_topics(Clock::time_point now) {
  if (subscribed_ && (!topic_selector_.follows_cluster() || now < next_topic_refresh_at_)) return Status::ok();
  next_topic_refresh_at_ = now + config_.kafka.topic_refresh_interval;
  std::vector<std::string> existing;
  if (topic_selector_.follows_cluster()) {
    auto listed = consumer_->list_topics(subscribed_ ? kWatermarkCheckTimeout : kMetadataTimeout);
    if (!listed) {
      topic_refresh_log_.warn(now, "cannot list the topics a topic_pattern may match: ", listed.status().message(),
                              "; trying again in ", config_.kafka.topic_refresh_interval.count(), " ms");
      if (subscribed_) return Status::ok();
    } else {
      existing = std::move(listed.value());
    }
  }
  std::vector<std::string> topics = topic_selector_.select(existing);
  if (subscribed_ && topics == subscribed_topics_) return Status::ok();
  if (Status status = consumer_->subscribe(topics); !status) return status;
  std::string names;
  for (const std::string& topic : topics) names += (names.empty() ? "" : ", ") + topic;
  if (!subscribed_) {
    log::info("consuming as group ", config_.kafka.group_id, " from ", topics.size(), " topic(s): ", names,
              topic_selector_.follows_cluster()
                  ? " (topic_pattern: the topics are listed again every " +
                        std::to_string(config_.kafka.topic_refresh_interval.count()) + " ms)"
                  : std::string());
  } else {
    log::info("the topics a topic_pattern matches changed: now consuming from ", topics.size(), " topic(s): ", names);
  }
  subscribed_topics_ = std::move(topics);
  subscribed_ = true;
  return Status::ok();
}

Status Connector::start_catch_up() {
  auto wanted = [this](std::string_view topic) { return topic_selector_.wants(topic); };
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
  // While records flow, polls do not wait (a waiting poll reads the clock in librdkafka)
  // and the loop's bookkeeping runs once per kRecordsPerHousekeeping records: at a
  // million records a second, every clock read and map lookup per record shows up.
  const std::chrono::milliseconds wait = last_poll_was_idle_ ? poll_wait_ : std::chrono::milliseconds(0);
  Result<PollResult> polled = consumer_->poll(wait);
  if (!polled) return polled.status();
  if (!failure_.is_ok()) return failure_;

  const PollResult& event = polled.value();
  last_poll_was_idle_ = event.kind == PollResult::Kind::Nothing;
  if (event.kind == PollResult::Kind::Record) {
    consumed_counter(event.record.topic).inc();
    // While recovering, fetched records are dropped: the partition is re-fetched from
    // PostgreSQL's offset once the database is back.
    if (recovering_) {
      lanes_->note_fetched(event.record);
    } else {
      if (Status status = absorb_write_result(lanes_->add(event.record)); !status) return status;
    }
    if (++records_since_housekeeping_ < kRecordsPerHousekeeping) return Status::ok();
  } else if (event.kind == PollResult::Kind::PartitionEnd && catch_up_) {
    catch_up_->note_partition_end(event.end_of_partition, event.end_offset);
    if (!recovering_ && catch_up_->all_fetched()) {
      // Nothing more is coming below the finish line: write it now, not max_latency_ms later.
      if (Status status = absorb_write_result(lanes_->flush_all()); !status) return status;
    }
  }
  records_since_housekeeping_ = 0;

  const auto now = clock_.now();
  if (now >= next_gauge_refresh_at_) {
    heartbeat_.beat();
    refresh_gauges();
    next_gauge_refresh_at_ = now + std::chrono::seconds(1);
  }
  if (recovering_) {
    // The recovery re-plans every partition, the dedup rebuild included.
    rebuilds_pending_.clear();
    rebuild_reader_.reset();
    rebuild_active_ = false;
    return try_recover();
  }
  continue_dedup_rebuild();
  if (Status status = follow_topics(now); !status) return status;
  if (Status status = absorb_write_result(lanes_->flush_due(now)); !status) return status;
  outage_.note_nothing_to_write(!lanes_->write_in_flight() && !lanes_->time_until_next_flush(now));
  commit_durable_offsets();
  if (now >= next_commit_check_at_) {
    commit_lagging_offsets(false);
    next_commit_check_at_ = now + std::chrono::seconds(5);
  }

  if (now >= next_stored_offsets_check_at_) {
    next_stored_offsets_check_at_ = now + kStoredOffsetsCheckInterval;
    check_stored_offsets_unmoved();
  }
  if (catch_up_ && !recovering_) {
    catch_up_->settle([this](const TopicPartition& tp) { return lanes_->has_unwritten_records(tp); });
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
  follow_backpressure(now);
  poll_wait_ = paused_for_backpressure_ || rebuild_active_ ? kBackpressurePollWait : kMaxPollWait;
  if (const auto until_flush = lanes_->time_until_next_flush(now)) poll_wait_ = std::min(poll_wait_, *until_flush);
  return Status::ok();
}

void Connector::follow_backpressure(Clock::time_point now) {
  const bool backpressured = lanes_->backpressured() && !recovering_;
  if (backpressured == paused_for_backpressure_) return;
  paused_for_backpressure_ = backpressured;
  if (backpressured) {
    consumer_->pause(consumer_->assignment());
    backpressure_log_.info(now, "PostgreSQL is slower than Kafka: ", consumer_->assignment().size(),
                           " partition(s) paused until the batch in flight is written (polling goes on)");
  } else if (!rebuild_active_) {  // else resumed when the dedup rebuild ends
    consumer_->resume(consumer_->assignment());
  }
}

Status Connector::absorb_write_result(Status status) {
  if (status.is_ok()) return status;
  if (status.code().size() == 5) metrics_.database_errors(status.code()).inc();  // a SQLSTATE
  if (failure_action(status) == FailureAction::Recover) {
    begin_recovery(status);
    return Status::ok();
  }
  return status;
}

void Connector::begin_recovery(const Status& cause) {
  // Not a new start for the backoff: a reconnect that succeeded and a write that failed
  // again belong to the outage that began with the first failure.
  const RecoveryCause named = recovery_cause(cause);
  if (named.database_unavailable) outage_.note_failure();
  if (!recovering_) {
    recovering_ = true;
    recovering_since_ = clock_.now();
    log::warn(named.log_prefix, cause.message(), "; pausing ",
              consumer_->assignment().size(),
              " partition(s) to re-read the offsets stored in PostgreSQL and fetch again from there");
  }
  recovery_cause_ = cause;
  set_readiness("recovering: " + cause.message());
  metrics_.retries(named.metric_label).inc();
  // Nothing unwritten is kept, in any lane: the partitions are re-fetched from PostgreSQL's
  // offsets (reset waits for each lane's write in flight, so no connection is in use after).
  lanes_->reset();
  // Partition ends seen so far say nothing about the records just dropped: without this,
  // --until-caught-up could finish on a partition whose last batch was never written.
  if (catch_up_) catch_up_->forget_fetched();
  paused_for_backpressure_ = false;  // the recovery pauses and resumes on its own
  consumer_->pause(consumer_->assignment());
  next_attempt_at_ = clock_.now() + outage_.next_delay();
}

Status Connector::give_up(const Status& last_failure) const {
  return Status::error(ErrorKind::Fatal,
                       "PostgreSQL unusable for " + std::to_string(outage_.elapsed().count() / 1000) +
                           " s, longer than retry.give_up_after_ms (" +
                           std::to_string(config_.retry.give_up_after.count()) + " ms); last error: " +
                           last_failure.message(),
                       last_failure.code());
}

Status Connector::try_recover() {
  const auto now = clock_.now();
  if (now < next_attempt_at_) return Status::ok();
  // Checked before reconnecting too: reconnects may keep succeeding while every write fails.
  if (outage_.exhausted()) return give_up(recovery_cause_);
  // Every lane reconnects: reset() waited for their writes, so no connection is in use.
  Status status = lanes_->reopen();
  Result<std::vector<StoredOffset>> stored = Status::error(ErrorKind::Transient, "not read");
  if (status) {
    stored = load_stored_offsets();
    if (!stored) status = stored.status();
  }
  if (!status) {
    if (status.kind() != ErrorKind::Transient) return status;
    outage_.note_failure();
    if (outage_.exhausted()) return give_up(status);
    log::warn("reconnect attempt ", outage_.attempts(), " failed: ", status.message());
    next_attempt_at_ = now + outage_.next_delay();
    return Status::ok();
  }

  // One planning round for every owned partition, as on assignment: the loop stays
  // responsive (heartbeats, probes, signals) however many partitions there are, and a dedup
  // rebuild runs in slices afterwards with the partitions paused.
  const std::vector<TopicPartition> owned = consumer_->assignment();
  std::vector<std::optional<int64_t>> starts;
  if (Status started = start_partitions(owned, stored.value(), /*assigning=*/false, starts); !started) return started;
  std::vector<std::pair<TopicPartition, int64_t>> positions;
  for (size_t index = 0; index < owned.size(); ++index) {
    if (starts[index]) positions.emplace_back(owned[index], *starts[index]);
  }
  if (Status seeked = consumer_->seek(positions); !seeked) {
    next_attempt_at_ = now + outage_.next_delay();
    log::warn("re-positioning the consumer failed: ", seeked.message());
    return Status::ok();
  }
  recovering_ = false;
  // Else resumed when the rebuild ends.
  if (!rebuild_active_) consumer_->resume(owned);
  log::info(recovery_cause_.cause() == Cause::DeadLetters ? "trying the dead letters again after " : "PostgreSQL is back after ",
            static_cast<int64_t>(seconds_between(recovering_since_, now) * 1000), " ms; resuming ", positions.size(),
            " partition(s) from the stored offsets");
  if (catch_up_) {
    for (const StoredOffset& offset : stored.value()) catch_up_->note_stored(offset.topic_partition, offset.next_offset);
  }
  return Status::ok();
}

Status Connector::start_partitions(std::span<const TopicPartition> partitions, const std::vector<StoredOffset>& stored,
                                   bool assigning, std::vector<std::optional<int64_t>>& positions) {
  positions.assign(partitions.size(), std::nullopt);
  std::map<TopicPartition, const StoredOffset*> stored_by_partition;
  for (const StoredOffset& offset : stored) stored_by_partition.emplace(offset.topic_partition, &offset);
  std::vector<std::optional<int64_t>> stored_offsets(partitions.size());
  std::vector<bool> moved_by_reset(partitions.size(), false);
  std::vector<TopicPartition> with_stored_offset;
  std::vector<size_t> with_stored_offset_index;
  for (size_t index = 0; index < partitions.size(); ++index) {
    const auto found = stored_by_partition.find(partitions[index]);
    if (found == stored_by_partition.end()) continue;
    stored_offsets[index] = found->second->next_offset;
    moved_by_reset[index] = found->second->moved_by_reset;
    with_stored_offset.push_back(partitions[index]);
    with_stored_offset_index.push_back(index);
  }
  // One watermark round for the whole assignment: asked per partition, a few hundred
  // partitions kept the callback past max.poll.interval.ms and the group never settled.
  // A recovery needs the log starts only to plan a dedup rebuild.
  std::vector<std::optional<PartitionWatermarks>> marks(partitions.size());
  std::vector<std::optional<int64_t>> log_starts(partitions.size());
  if ((assigning || dedup_store_) && !with_stored_offset.empty()) {
    auto queried = consumer_->query_watermarks(with_stored_offset, kWatermarkCheckTimeout);
    if (queried) {
      for (size_t position = 0; position < with_stored_offset.size(); ++position) {
        const size_t index = with_stored_offset_index[position];
        marks[index] = queried.value()[position];
        log_starts[index] = queried.value()[position].low;
      }
    } else if (assigning) {
      log::warn("cannot check the stored offsets of ", with_stored_offset.size(), " partition(s) against the log: ",
                queried.status().message());
    }
  }
  const std::vector<PartitionStart> starts = plan_partition_starts(partitions, stored_offsets, log_starts, moved_by_reset);
  std::vector<OffsetRange> rebuilds;
  for (size_t index = 0; index < partitions.size(); ++index) {
    const TopicPartition& tp = partitions[index];
    const PartitionStart& start = starts[index];
    std::optional<LastAppliedRecord> last_applied;
    if (assigning) {
      std::optional<int64_t> last_record_timestamp_ms;
      if (const auto found = stored_by_partition.find(tp); found != stored_by_partition.end()) {
        last_record_timestamp_ms = found->second->last_record_timestamp_ms;
      }
      last_applied = last_applied_to_check(start, last_record_timestamp_ms);
    }
    // Pinned to its lane for as long as it is owned (a recovery keeps the pin: the first
    // offset fetched is remembered by that lane's pipeline).
    lanes_->assign(tp, start.stored_next_offset, start.dedup_untrusted_below, last_applied);
    if (start.dedup_rebuild) rebuilds.push_back(*start.dedup_rebuild);
    if (start.stored_next_offset) {
      // From the last applied record on, when there is one to compare: no extra round trip.
      positions[index] = last_applied ? std::optional<int64_t>(last_applied->offset) : start.stored_next_offset;
      // Kafka's committed offset may lag (a commit lost in the revoke that moved the
      // partition here): commit_lagging_offsets() brings it up to PostgreSQL's, which the
      // ledger holds from now on.
    } else if (!assigning) {
      positions[index] = lanes_->first_offset_fetched(tp);
    }
    if (!assigning) continue;
    if (stored_offsets[index]) {
      log::info("assigned topic=", tp.topic, " partition=", tp.partition, " resuming at offset=",
                *stored_offsets[index], " (stored in PostgreSQL)");
    } else {
      log::info("assigned topic=", tp.topic, " partition=", tp.partition,
                " with no stored offset (starting from the group's committed offset, else the earliest)");
    }
  }
  // Re-reading takes as long as it takes: not here, where the group may wait for us, but in
  // the loop, with every partition paused until it is done (identities are per sink, so a
  // record of any partition could be a duplicate of one being re-read).
  if (!rebuilds.empty()) schedule_dedup_rebuild(std::move(rebuilds));
  return check_stored_offsets_against_log(partitions, stored_offsets, marks);
}

Result<std::vector<StoredOffset>> Connector::load_stored_offsets() {
  // A lane's connection belongs to its write in flight; any lane without one will do, and
  // stays free while this (polling) thread reads, since only this thread starts writes.
  PgWriter* writer = lanes_->idle_writer();
  if (writer == nullptr) return Status::error(ErrorKind::Transient, "every writer lane is busy");
  return writer->load_offsets();
}

void Connector::commit_durable_offsets() {
  const auto durable = lanes_->take_durable_offsets();
  if (durable.empty()) return;
  failpoint("before_kafka_commit");
  if (catch_up_) {
    for (const auto& [tp, next_offset] : durable) catch_up_->note_stored(tp, next_offset);
  }
  // PostgreSQL holds the truth; a failed Kafka commit only delays lag reporting, and
  // commit_lagging_offsets() tries again.
  if (const Status status = consumer_->commit(durable, false); !status) log::warn(status.message());
}

Status Connector::commit_lagging_offsets(bool synchronous,
                                         std::span<const std::pair<TopicPartition, int64_t>> revoked) {
  std::vector<std::pair<TopicPartition, int64_t>> lagging;
  const auto note_if_lagging = [&](const TopicPartition& tp, int64_t durable) {
    const std::optional<int64_t> acknowledged = consumer_->acknowledged_commit(tp);
    if (!acknowledged || *acknowledged < durable) lagging.emplace_back(tp, durable);
  };
  for (const TopicPartition& tp : consumer_->assignment()) {
    // PostgreSQL's offset, as the ledger knows it (nothing while a recovery re-reads it).
    if (const std::optional<int64_t> durable = lanes_->stored_next_offset(tp)) note_if_lagging(tp, *durable);
  }
  for (const auto& [tp, durable] : revoked) note_if_lagging(tp, durable);
  if (lagging.empty()) return Status::ok();
  const Status status = consumer_->commit(lagging, synchronous);
  if (!status) log::warn("committing ", lagging.size(), " partition(s)' offsets to Kafka again: ", status.message());
  return status;
}

void Connector::on_bad_record(const BadRecord& bad) {
  metrics_.bad_records(bad.topic_partition.topic, bad.stage, bad.reason_code).inc();
  if (!dead_letters_) return;  // stopping at it: the stop is logged once, by run()
  metrics_.dead_letters(bad.topic_partition.topic, bad.stage, bad.reason_code).inc();
  dead_letter_log_.warn(clock_.now(), "bad record (", bad_record_stage_name(bad.stage), ") sent to the dead letter topic ",
                        config_.errors.dead_letter_topic, ": ", bad.describe());
}

Status Connector::stop_at_refused_record(const Status& status) {
  log::error(status.message(), "; everything before it in its partition is applied and committed");
  commit_durable_offsets();
  if (Status committed = commit_lagging_offsets(true); !committed) {
    log::warn("the Kafka commit failed; PostgreSQL holds the stopping offset: ", committed.message());
  }
  log_progress(true);
  consumer_->close();
  return status;
}

void Connector::check_stored_offsets_unmoved() {
  if (recovering_ || consumer_->assignment().empty()) return;
  auto stored = load_stored_offsets();
  if (!stored) return;  // every lane busy, or the next write meets the same trouble and starts the recovery
  std::map<TopicPartition, int64_t> stored_by_partition;
  for (const StoredOffset& offset : stored.value()) stored_by_partition.emplace(offset.topic_partition, offset.next_offset);
  for (const TopicPartition& tp : consumer_->assignment()) {
    const auto found = stored_by_partition.find(tp);
    // A write in flight of its lane moves the stored offset when it commits, before our
    // view follows: such a partition is compared next time.
    if (lanes_->write_in_flight(tp)) continue;
    const bool in_database = found != stored_by_partition.end();
    const std::optional<int64_t> ours = lanes_->stored_next_offset(tp);
    if (in_database ? ours == found->second : !ours) continue;
    // Our next compare-and-set would fail on it: start over from the database's offsets now,
    // rather than when the next record arrives.
    begin_recovery(Status::error(
        ErrorKind::Transient, Cause::Fenced,
        "the stored offset of topic=" + tp.topic + " partition=" + std::to_string(tp.partition) + " was moved to " +
            (in_database ? std::to_string(found->second) : std::string("nothing")) +
            " by another writer (an offsets reset?)"));
    return;
  }
}

void Connector::refresh_catch_up_from_database() {
  if (!lanes_) return;
  auto stored = load_stored_offsets();
  if (!stored) {
    log::warn("cannot read stored offsets: ", stored.status().message());
    return;
  }
  for (const StoredOffset& offset : stored.value()) catch_up_->note_stored(offset.topic_partition, offset.next_offset);
}

Status Connector::drain() {
  Status status;
  if (recovering_) {
    // Nothing unwritten is held while recovering, so there is nothing to lose.
    log::warn("stopping while PostgreSQL is unavailable; the next start resumes from the stored offsets");
  } else {
    status = lanes_->flush_all();
  }
  // What PostgreSQL made durable goes to Kafka whatever happened since (even when the
  // flush stopped at a refused row).
  commit_durable_offsets();
  Status committed = commit_lagging_offsets(true);
  for (int attempt = 2; attempt <= 3 && !committed; ++attempt) {
    clock_.sleep_for(std::chrono::milliseconds(500));
    committed = commit_lagging_offsets(true);
  }
  // --until-caught-up promises committed offsets; a stop on a signal only owes the
  // database, which holds the truth.
  if (status && !committed && catch_up_) status = committed;
  log_progress(true);
  consumer_->close();
  if (status && !failure_.is_ok()) status = failure_;
  return status;
}

void Connector::log_progress(bool final_line) {
  const auto now = clock_.now();
  const PipelineCounters counters = lanes_->counters();
  const double seconds = seconds_between(last_progress_at_, now);
  const double rows_per_second =
      seconds > 0 ? static_cast<double>(counters.rows_written - rows_at_last_progress_) / seconds : 0.0;
  rows_at_last_progress_ = counters.rows_written;
  last_progress_at_ = now;
  std::string dedup_part;
  if (dedup_store_) {
    const DedupStats stats = dedup_store_->stats();
    dedup_part = " dedup_dropped=" + std::to_string(counters.dedup_dropped) +
                 " dedup_replayed=" + std::to_string(counters.dedup_replayed) +
                 " dedup_keys=" + std::to_string(stats.approximate_keys) +
                 " dedup_bytes=" + std::to_string(stats.approximate_bytes);
  }
  std::string catch_up_part;
  if (catch_up_) {
    catch_up_part = " remaining_partitions=" + std::to_string(catch_up_->remaining_partitions()) +
                    " remaining_records=" + std::to_string(catch_up_->remaining_records());
  }
  log::info(final_line ? "totals:" : "progress:", " consumed=", counters.records_consumed,
            " rows_written=", counters.rows_written, " batches=", counters.batches_written,
            " rows_per_s=", static_cast<int64_t>(rows_per_second), " lag=", consumer_->consumer_lag(),
            " partitions=", consumer_->assignment().size(), recovering_ ? " (waiting for PostgreSQL)" : "",
            dedup_part, catch_up_part);
}

std::optional<LastAppliedRecord> Connector::last_applied_to_check(const PartitionStart& start,
                                                                  std::optional<int64_t> last_record_timestamp_ms) const {
  if (!start.stored_next_offset || *start.stored_next_offset <= 0 || !last_record_timestamp_ms) return std::nullopt;
  // Fetching one record early is safe only if a position below the log start falls back to
  // the earliest record: with "latest" it would jump past everything unread.
  for (const auto& [name, value] : config_.kafka.properties) {
    if (name == "auto.offset.reset" && value != "earliest" && value != "smallest" && value != "beginning") {
      return std::nullopt;
    }
  }
  return LastAppliedRecord{*start.stored_next_offset - 1, *last_record_timestamp_ms};
}

Status Connector::check_stored_offsets_against_log(std::span<const TopicPartition> partitions,
                                                   const std::vector<std::optional<int64_t>>& stored,
                                                   const std::vector<std::optional<PartitionWatermarks>>& marks) {
  for (size_t index = 0; index < partitions.size(); ++index) {
    if (!stored[index] || !marks[index]) continue;
    const TopicPartition& tp = partitions[index];
    const PartitionWatermarks& mark = *marks[index];
    if (*stored[index] > mark.high) {
      // Resuming would skip every record up to the stored offset once the log grows
      // back: the topic was deleted and recreated, or truncated.
      return Status::error(ErrorKind::Fatal,
          "stored offset " + std::to_string(*stored[index]) + " of topic=" + tp.topic + " partition=" +
          std::to_string(tp.partition) + " is beyond the end of the log (" + std::to_string(mark.high) +
          "): was the topic recreated? Delete its rows from " +
          quote_qualified_name(config_.postgres.offsets_table) + " to consume it from the start");
    }
    if (*stored[index] < mark.low) {
      log::error("records ", *stored[index], "..", mark.low - 1, " of topic=", tp.topic, " partition=",
                 tp.partition, " expired from Kafka before they were applied; continuing at ", mark.low);
    }
  }
  return Status::ok();
}

AssignmentPlan Connector::on_partitions_assigned(std::span<const TopicPartition> partitions) {
  metrics_.rebalances(RebalanceKind::Assign).inc();
  AssignmentPlan plan;
  plan.start_offsets.assign(partitions.size(), std::nullopt);
  if (!recovering_) {
    // Every lane's write is taken in: the offsets read below are the ones our lanes hold.
    if (Status written = lanes_->wait_for_writes(); !written) begin_recovery(written);
  }
  if (recovering_) {
    // Positioned by the recovery once PostgreSQL answers again.
    plan.paused = true;
    return plan;
  }
  auto stored = load_stored_offsets();
  if (!stored) {
    begin_recovery(stored.status());
    plan.paused = true;
    return plan;
  }
  if (Status status = start_partitions(partitions, stored.value(), /*assigning=*/true, plan.start_offsets); !status) {
    failure_ = status;
    plan.paused = true;
  }
  if (rebuild_active_) {
    plan.paused = true;
    consumer_->pause(consumer_->assignment());
  }
  // Resumed with the others once the batch waiting behind the slow write is handed over.
  if (paused_for_backpressure_) plan.paused = true;
  return plan;
}

void Connector::on_partitions_revoked(std::span<const TopicPartition> partitions, bool lost) {
  metrics_.rebalances(lost ? RebalanceKind::Lost : RebalanceKind::Revoke).inc();
  for (const TopicPartition& tp : partitions) {
    metrics_.forget_partition(tp);
    rebuilds_pending_.erase(tp);
    if (rebuild_reader_) rebuild_reader_->drop(tp);
  }
  if (!failure_.is_ok()) return;  // stopping on a failure: what was not written stays unstored
  if (lost || recovering_) {
    // Another member may already be writing these partitions: abandon what is in
    // flight (the compare-and-set on the offsets would refuse it anyway) and re-fetch
    // what we keep from PostgreSQL's offsets.
    if (lost) log::warn("lost ", partitions.size(), " partition(s) to the group without a clean revoke");
    lanes_->reset();
    lanes_->forget(partitions);
    if (catch_up_) catch_up_->forget_fetched();
    if (!recovering_ && !consumer_->assignment().empty()) {
      begin_recovery(Status::error(ErrorKind::Transient, Cause::PartitionsLost, "partitions were lost to the group"));
    }
    return;
  }
  const Status status = lanes_->revoke(partitions);
  // What PostgreSQL holds for each, after the revoke's last batch: their Kafka commit may lag
  // (that batch, or an asynchronous commit that failed), and the revoke is the last chance to
  // fix it. Taken whatever happens: after this callback the partitions may have another owner.
  const auto revoked_offsets = lanes_->take_released_offsets();
  if (!status) {
    if (status.kind() == ErrorKind::Transient) {
      // The revoked partitions are forgotten; the ones we keep are re-synced.
      begin_recovery(status);
    } else {
      failure_ = status;
    }
    return;
  }
  // With the eager protocol the group waits for us here, so this commit is safe;
  // cooperative rebalances in librdkafka 2.0.x can lose the assignment on a commit.
  if (!consumer_->rebalance_is_cooperative()) {
    commit_durable_offsets();
    commit_lagging_offsets(true, revoked_offsets);
  }
}

}  // namespace kps
