#include "connector/pipeline.h"

#include <algorithm>
#include <utility>
#include <memory>
#include <unordered_set>

#include "connector/debezium_decoder.h"
#include "connector/decoder.h"
#include "connector/dedup_filter.h"
#include "connector/failpoint.h"
#include "connector/log.h"
#include "connector/wanted_paths.h"

namespace kps {

struct Pipeline::TableState {
  TableState(size_t index, const SinkConfig& sink_config, const BatchConfig& limits, const Clock& clock)
      : route_index(index), sink(sink_config), decoder(sink_config), batcher(limits, clock), reducer(sink_config) {}

  size_t route_index;
  const SinkConfig& sink;  // the route: stable in the RouteTable
  Decoder decoder;
  Batcher batcher;
  KeyReducer reducer;
  std::unique_ptr<DedupFilter> dedup;  // a dedup sink with a dedup state; else null
  std::unique_ptr<DebeziumDecoder> debezium;  // a route with format debezium; else null
  std::vector<UnknownField> unknown_fields;   // of the last change event, reused
};

/// The batch being written on the writer thread, with everything the write reads. It
/// swaps buffers with the table it came from, so both keep their capacity.
struct Pipeline::InFlightWrite {
  TableState* table = nullptr;  // null: nothing in flight
  TableBatch batch;
  BatchClaims claims;                 // of a dedup sink: what its rows claim
  std::vector<bool> duplicate_rows;   // by batch row: a pending duplicate left out, once committed
  std::vector<ReducedRow> rows;
  std::vector<OffsetAdvance> advances;
  std::vector<RejectedRow> rejected;  // filled by the writer when PostgreSQL refuses rows
  std::vector<bool> excluded;         // by batch row: refused, or after a partition's cut
  std::vector<bool> left_out;         // by batch row: excluded, or a pending duplicate
  std::vector<std::optional<int64_t>> cut_at;  // by partition slot: stop before this offset
  std::optional<BadRecord> stop_at;   // tolerance none: the refused record to stop at
  uint32_t stop_slot = 0;             // its partition slot
  Clock::time_point started_at;  // of the first attempt
  Clock::time_point launched_at;  // of this attempt, on the pipeline's clock
  std::future<Status> result;
};

Pipeline::Pipeline(const Config& config, TableWriter& writer, const Clock& clock, DedupIndex* dedup,
                   std::function<int64_t()> unix_seconds)
    : config_(config),
      writer_(writer),
      clock_(clock),
      dedup_(dedup),
      unix_seconds_(unix_seconds ? std::move(unix_seconds) : [this] { return clock_.unix_seconds(); }),
      own_routes_(std::make_unique<RouteTable>(config)),
      routes_(own_routes_.get()),
      own_ledger_(std::make_unique<PartitionLedger>()),
      ledger_(own_ledger_.get()),
      in_flight_(std::make_unique<InFlightWrite>()),
      bad_records_(config.errors) {
  bad_records_.set_listener([this](const BadRecord& bad) {
    ++counters_.bad_records;
    if (bad_record_listener_) bad_record_listener_(bad);
  });
}

void Pipeline::share_routes(RouteTable& routes, RouteResolverFn resolver) {
  routes_ = &routes;
  resolver_ = std::move(resolver);
  own_routes_.reset();
}

Pipeline::TableState& Pipeline::table_for_route(size_t route_index) {
  if (route_index >= tables_.size()) tables_.resize(route_index + 1);
  std::unique_ptr<TableState>& table = tables_[route_index];
  if (!table) {
    const SinkConfig& route = routes_->route(route_index);
    table = std::make_unique<TableState>(route_index, route, config_.batch, clock_);
    if (route.format == RecordFormat::Debezium) table->debezium = std::make_unique<DebeziumDecoder>(route);
    if (route.dedup && dedup_ != nullptr) {
      // Identities are kept per sink entry (the dedup state's spec is the sink's).
      table->dedup = std::make_unique<DedupFilter>(routes_->sink_of(route_index), route.dedup->ttl, *dedup_,
                                                   unix_seconds_);
    }
  }
  return *table;
}

Pipeline::TableState* Pipeline::routed_table(TopicState& topic, const RecordView& record, Status& status) {
  if (!topic.route_index) {
    if (!resolver_) {
      status = Status::error(ErrorKind::Fatal, "topic " + std::string(record.topic) +
                                                   " has no route: its sink's table is resolved per topic, and this "
                                                   "pipeline has no route resolver");
      return nullptr;
    }
    Result<size_t> routed = resolver_(*topic.sink_index, record);
    if (!routed) {
      status = routed.status();
      return nullptr;
    }
    if (routed.value() == kRouteNotYet) return nullptr;  // status stays ok
    // The resolver hands out the version it first published for the topic; another lane
    // may have published a newer one since, which this lane must not publish again.
    const SinkConfig& route = routes_->route(routed.value());
    topic.route_index = routes_->find(routes_->sink_of(routed.value()), route.table).value_or(routed.value());
  }
  return &table_for_route(*topic.route_index);
}

void Pipeline::share_ledger(PartitionLedger& ledger, uint32_t lane) {
  ledger_ = &ledger;
  lane_ = lane;
  own_ledger_.reset();
}

Pipeline::~Pipeline() {
  if (in_flight_->table != nullptr) in_flight_->result.wait();
}

std::optional<size_t> Pipeline::sink_for_topic(std::string_view topic) {
  return topic_state(topic).sink_index;
}

Pipeline::TopicState& Pipeline::topic_state(std::string_view topic) {
  auto found = topics_.find(topic);
  if (found != topics_.end()) return found->second;
  TopicState state;
  // The first sink that names the topic wins; validation rejects two sinks with the
  // same topic, so only overlapping patterns make this order matter.
  for (size_t index = 0; index < config_.sinks.size(); ++index) {
    if (sink_matches_topic(config_.sinks[index], topic)) {
      state.sink_index = index;
      state.route_index = routes_->static_route(index);
      break;
    }
  }
  return topics_.emplace(std::string(topic), std::move(state)).first->second;
}

void Pipeline::assign(const TopicPartition& tp, std::optional<int64_t> stored_next_offset,
                      std::optional<int64_t> first_offset_to_fetch, std::optional<int64_t> dedup_untrusted_below,
                      std::optional<LastAppliedRecord> last_applied) {
  ledger_->own(tp, PartitionStart{stored_next_offset, first_offset_to_fetch, dedup_untrusted_below, last_applied}, lane_);
}

Status Pipeline::log_replaced(const RecordView& record, const LastAppliedRecord& expected) {
  const std::string table = quote_qualified_name(config_.postgres.offsets_table);
  failed_write_ = Status::error(ErrorKind::Fatal,
      "topic=" + std::string(record.topic) + " partition=" + std::to_string(record.partition) +
      " is not the log its stored offset " + std::to_string(expected.offset + 1) + " was taken from: the record at offset " +
      std::to_string(record.offset) + " has timestamp " +
      (record.timestamp_ms ? std::to_string(*record.timestamp_ms) : std::string("(none)")) +
      " ms, the one applied there had " + std::to_string(expected.timestamp_ms) +
      " ms. Was the topic deleted and recreated? Resuming would skip the new log's records below offset " +
      std::to_string(expected.offset + 1) + ". To consume the partition from its start, run kafka-pg-sink --config … "
      "offsets reset --topic " + std::string(record.topic) + " --partition " + std::to_string(record.partition) +
      " --to-earliest --execute (or stop every instance and run DELETE FROM " + table + " WHERE group_id = '" +
      config_.kafka.group_id + "' AND topic = '" + std::string(record.topic) + "' AND \"partition\" = " +
      std::to_string(record.partition) + ")");
  return failed_write_;
}

Status Pipeline::revoke(std::span<const TopicPartition> partitions) {
  Status status;
  for (auto& table : tables_) {
    if (!table) continue;
    const bool holds_revoked = std::any_of(partitions.begin(), partitions.end(),
        [&](const TopicPartition& tp) { return table->batcher.holds(tp); });
    if (holds_revoked && status.is_ok()) status = flush(*table);
  }
  if (status.is_ok()) status = wait_for_writes();
  for (const TopicPartition& tp : partitions) ledger_->forget(tp);
  return status;
}

void Pipeline::note_fetched(const RecordView& record) {
  ledger_->note_fetched(record.topic, record.partition, record.offset);
}

std::optional<int64_t> Pipeline::first_offset_fetched(const TopicPartition& tp) const {
  return ledger_->first_offset_fetched(tp);
}

void Pipeline::reset() {
  if (in_flight_->table != nullptr) {
    in_flight_->result.wait();  // its outcome no longer matters: PostgreSQL is re-read
    in_flight_->table = nullptr;
    in_flight_->batch.tuples.clear();
    in_flight_->batch = TableBatch{};
    // Never applied: its identities must not travel into the next batch's set.
    in_flight_->claims.clear();
  }
  failed_write_ = Status::ok();
  deferring_ = false;
  // The records it saw are fetched and judged again.
  bad_records_.reset();
  for (auto& table : tables_) {
    if (!table) continue;
    table->batcher.clear();
    if (table->dedup) table->dedup->clear();
  }
  ledger_->forget_lane(lane_);
}

void Pipeline::learn_identity(TableState& table, const RecordView& record) {
  if (record.value && table.dedup->within_ttl(record.timestamp_ms)) {
    CopyBuffer& scratch = table.batcher.tuple_buffer();
    const size_t scratch_begin = scratch.size();
    const bool decoded = !table.decoder.decode_value(record, scratch, &identity_);
    scratch.truncate(scratch_begin);
    if (decoded && !identity_.empty()) table.dedup->learn(identity_);
  }
  table.dedup->note_replayed(TopicPartition{std::string(record.topic), record.partition}, record.offset + 1);
  ++counters_.dedup_replayed;
}

void Pipeline::replay(const RecordView& record) {
  TopicState& topic = topic_state(record.topic);
  if (!topic.sink_index || !config_.sinks[*topic.sink_index].dedup) return;
  Status routing;
  TableState* table = routed_table(topic, record, routing);
  // Not routable now: nothing is learnt, and the identities are re-read after recovery.
  if (table == nullptr || !table->dedup) return;
  learn_identity(*table, record);
}

void Pipeline::finish_replay(const TopicPartition& tp, int64_t complete_up_to) {
  const std::optional<size_t> route_index = topic_state(tp.topic).route_index;
  if (!route_index) return;
  TableState& table = table_for_route(*route_index);
  if (!table.dedup) return;
  DedupFilter& dedup = *table.dedup;
  dedup.note_replayed(tp, complete_up_to);
  dedup.record_replayed();
}

Status Pipeline::handle_undecodable(TableState& table, PartitionFacts& facts, const RecordView& record,
                                    DecodeError error) {
  BadRecord bad{TopicPartition{std::string(record.topic), record.partition}, record.offset, BadRecordStage::Decode,
                std::move(error.column), decode_failure_name(error.failure), "", std::move(error.reason)};
  if (!bad_records_.tolerates()) {
    if (Status stopped = bad_records_.note_bad(bad); !stopped) return stopped;
    return Status::error(ErrorKind::Poison, Cause::UndecodableRecord, "bad record at " + bad.describe());
  }
  if (Status queued = bad_records_.dead_letter(record, bad); !queued) return queued;
  // No row, but the offset is stored with the batch: after the letter is acknowledged.
  table.batcher.add_without_row(record);
  PartitionLedger::consumed(facts, record.offset);
  if (Status stopped = bad_records_.note_bad(bad); !stopped) return stopped;
  if (table.batcher.full()) return flush(table, /*may_defer=*/true);
  return Status::ok();
}

Status Pipeline::add(const RecordView& record) {
  // One lookup of the topic and one of the partition per record: this is the per-record path.
  PartitionFacts* facts = ledger_->find(record.topic, record.partition);
  // Noted for an owned partition only: a late record of a revoked one must not become where
  // a later owner with no stored offset fetches from.
  if (facts != nullptr) ledger_->note_fetched(record.topic, record.partition, record.offset);
  if (!failed_write_.is_ok()) return failed_write_;
  // Not owned: fetched before a revoke completed, its partition has a new owner now.
  if (facts == nullptr) return Status::ok();
  TopicState& topic = topic_state(record.topic);
  if (!topic.sink_index) {
    return Status::error(ErrorKind::Fatal,
                         "no sink is configured for topic " + std::string(record.topic));
  }
  Status routing;
  TableState* routed = routed_table(topic, record, routing);
  if (routed == nullptr) {
    // Not routable yet (kRouteNotYet): consumed without a row, like a skipped change.
    if (routing && PartitionLedger::classify(*facts, record) == Arrival::New) {
      PartitionLedger::consumed(*facts, record.offset);
    }
    return routing;
  }
  TableState& table = *routed;
  LastAppliedRecord expected;
  switch (PartitionLedger::classify(*facts, record, &expected)) {
    case Arrival::NotOwned: return Status::ok();
    case Arrival::Redelivered:
      ++counters_.records_redelivered;
      return Status::ok();
    case Arrival::LogReplaced: return log_replaced(record, expected);
    case Arrival::CheckedOnly:  // already applied, and not part of a dedup re-read
      PartitionLedger::consumed(*facts, record.offset);
      return Status::ok();
    case Arrival::AlreadyApplied:  // re-read on purpose, so the dedup state learns its identity
      PartitionLedger::consumed(*facts, record.offset);
      if (table.dedup) {
        learn_identity(table, record);
      } else {
        ++counters_.records_redelivered;
      }
      return Status::ok();
    case Arrival::New: break;
  }
  // A debezium route's records are change events, see add_change(). One too large for
  // errors.max_record_bytes goes on below, to the bad-record path every format shares.
  if (table.debezium && record.size_bytes() <= config_.errors.max_record_bytes) {
    return add_change(topic, table, *facts, record);
  }
  CopyBuffer& tuples = table.batcher.tuple_buffer();
  const size_t tuple_begin = tuples.size();
  const bool is_tombstone = !record.value.has_value();
  std::optional<DecodeError> error;
  DedupClaim claim = DedupClaim::None;
  std::string_view identity_view;
  // Key and headers count too: the record's dead letter carries them all.
  if (const size_t record_bytes = record.size_bytes(); record_bytes > config_.errors.max_record_bytes) {
    error = DecodeError{"", "the record (key, value and headers) is " + std::to_string(record_bytes) +
                                " bytes, more than errors.max_record_bytes (" +
                                std::to_string(config_.errors.max_record_bytes) + ")",
                        DecodeFailure::TooLarge};
  } else if (!is_tombstone) {
    const bool deduplicating = table.dedup != nullptr;
    error = table.decoder.decode_value(record, tuples, deduplicating ? &identity_ : nullptr);
    if (!error && table.sink.columns_by_name && ignored_field_listener_) {
      for (const std::string_view field : table.decoder.ignored_fields()) ignored_field_listener_(table.route_index, field);
    }
    const bool trust_store = !facts->dedup_untrusted_below || record.offset >= *facts->dedup_untrusted_below;
    if (!error && deduplicating) {
      const BatchClaims* in_flight = in_flight_->table == &table ? &in_flight_->claims : nullptr;
      claim = table.dedup->claim(identity_, trust_store, in_flight, identity_view);
      if (claim == DedupClaim::Duplicate) {
        tuples.truncate(tuple_begin);
        table.batcher.add_without_row(record);
        ++counters_.dedup_dropped;
        table.dedup->note_dropped();
        PartitionLedger::consumed(*facts, record.offset);
        if (table.batcher.full()) return flush(table, /*may_defer=*/true);
        return Status::ok();
      }
    }
  } else if (table.sink.delete_on_tombstone) {
    error = table.decoder.decode_tombstone_key(record, tuples);
  } else {
    error = DecodeError{"", "tombstone (null value) but delete_on_tombstone is false for table " +
                                quote_qualified_name(table.sink.table), DecodeFailure::Tombstone};
  }
  if (error) return handle_undecodable(table, *facts, record, std::move(*error));

  table.batcher.add_row(record, tuple_begin, is_tombstone);
  if (table.dedup) {
    // Which identity each row carries, so that a row PostgreSQL refuses is not recorded as
    // applied, and a pending duplicate of it can take its place.
    table.dedup->note_row(identity_view, claim);
  }
  PartitionLedger::consumed(*facts, record.offset);
  ++counters_.records_consumed;
  bad_records_.note_good();
  if (table.batcher.full()) return flush(table, /*may_defer=*/true);
  return Status::ok();
}

Status Pipeline::add_change(TopicState& topic, TableState& table, PartitionFacts& facts, const RecordView& record) {
  CopyBuffer& tuples = table.batcher.tuple_buffer();
  const size_t tuple_begin = tuples.size();
  table.unknown_fields.clear();
  auto decoded = table.debezium->decode(record, tuples, &table.unknown_fields);
  if (DecodeError* error = std::get_if<DecodeError>(&decoded)) {
    return handle_undecodable(table, facts, record, std::move(*error));
  }
  const DecodedChange change = std::get<DecodedChange>(decoded);

  const auto has_column = [&table](const std::string& name) {
    return std::any_of(table.sink.columns.begin(), table.sink.columns.end(),
                       [&name](const ColumnConfig& column) { return column.name == name; }) ||
           // A column of a type the daemon cannot write exists already: adding it would do
           // nothing, and the next version would lack it again.
           std::find(table.sink.left_out_columns.begin(), table.sink.left_out_columns.end(), name) !=
               table.sink.left_out_columns.end();
  };
  // A field gets a column once: a field the route has a column for is never added again.
  // A name PostgreSQL would truncate is never added: the truncated column would never
  // match the field, and every connection would add it again.
  const auto addable = [&has_column](const UnknownField& field) {
    return field.type && field.name.size() <= kMaxIdentifierBytes && !has_column(field.name);
  };
  if (table.sink.schema_evolution == SchemaEvolution::AddColumns) {
    for (const UnknownField& field : table.unknown_fields) {
      if (!field.type || field.name.size() <= kMaxIdentifierBytes) continue;
      const std::string table_name = quote_qualified_name(table.sink.table);
      if (!warned_long_fields_.insert(table_name + '\0' + field.name).second) continue;
      log::warn("table ", table_name, " gains no column for field ", quote_identifier(field.name), " of topic ",
                record.topic, ": its name is ", field.name.size(),
                " bytes long and PostgreSQL identifiers are at most 63 bytes; the field is ignored");
    }
  }
  const bool evolves = table.sink.schema_evolution == SchemaEvolution::AddColumns &&
                       std::any_of(table.unknown_fields.begin(), table.unknown_fields.end(), addable);
  if (evolves) {
    // A new version of the route with the new columns; this lane's batch of the old one
    // is written first, and the record is decoded again for the new one. Other lanes move
    // to a version of their own when one of their records carries the field.
    tuples.truncate(tuple_begin);
    if (Status flushed = flush(table); !flushed) return flushed;
    SinkConfig next = table.sink;
    for (const UnknownField& field : table.unknown_fields) {
      if (!addable(field)) continue;
      // The Debezium decoder reads columns by name; the source is kept for the record.
      ColumnConfig added{field.name, ColumnSource{ColumnSource::Kind::JsonPointer, json_pointer_to_member(field.name)},
                         *field.type, true};
      next.columns.push_back(added);
      next.added_columns.push_back(std::move(added));
    }
    const size_t next_index = routes_->publish(std::move(next), routes_->sink_of(table.route_index));
    log::info("table ", quote_qualified_name(table.sink.table), " gains ",
              routes_->route(next_index).added_columns.size() - table.sink.added_columns.size(),
              " column(s) for topic ", record.topic, " (route version ", next_index, ")");
    topic.route_index = next_index;
    return add_change(topic, table_for_route(next_index), facts, record);
  }
  if (ignored_field_listener_) {
    for (const UnknownField& field : table.unknown_fields) ignored_field_listener_(table.route_index, field.name);
  }
  if (change_event_listener_ && change.op != 0) change_event_listener_(table.route_index, change.op);

  switch (change.kind) {
    case ChangeKind::Upsert:
    case ChangeKind::Delete:
      table.batcher.add_row(record, tuple_begin, change.kind == ChangeKind::Delete);
      break;
    case ChangeKind::Skip:
      table.batcher.add_without_row(record);
      break;
    case ChangeKind::Truncate:
      if (table.sink.on_truncate == TruncateAction::Apply) {
        // Rows before the truncate are written (and truncated) first; the truncate opens
        // the next batch, whose rows survive it.
        if (Status flushed = flush(table); !flushed) return flushed;
        table.batcher.open_with_truncate();
      }
      table.batcher.add_without_row(record);
      break;
  }
  PartitionLedger::consumed(facts, record.offset);
  ++counters_.records_consumed;
  bad_records_.note_good();
  if (table.batcher.full()) return flush(table, /*may_defer=*/true);
  return Status::ok();
}

Status Pipeline::flush(TableState& table, bool may_defer) {
  if (!failed_write_.is_ok()) return failed_write_;
  if (table.dedup) table.dedup->record_replayed();
  if (table.batcher.batch().empty()) return Status::ok();
  if (may_defer && in_flight_->table != nullptr) {
    // PostgreSQL is slower than Kafka. Past a short wait the batch stays here, full, and
    // the connector pauses the partitions and keeps polling: the group keeps us, memory
    // stays bounded, and flush_due() hands the batch over once the write is done.
    const auto wait = deferring_ ? std::chrono::milliseconds(0) : backpressure_wait_;
    if (in_flight_->result.wait_for(wait) != std::future_status::ready) {
      deferring_ = true;
      return Status::ok();
    }
  }
  deferring_ = false;
  if (Status previous = collect_write(/*block=*/true); !previous.is_ok()) return previous;
  if (bad_records_.has_unflushed_letters()) {
    // The batch stores offsets past its bad records: their letters must be on the broker first.
    if (Status flushed = bad_records_.flush_letters(); !flushed) {
      failed_write_ = flushed;
      return flushed;
    }
  }

  InFlightWrite& write = *in_flight_;
  table.batcher.swap_batch(write.batch);
  if (table.dedup) {
    table.dedup->hand_over(write.claims);
  } else {
    write.claims.clear();
  }
  write.duplicate_rows.clear();
  write.table = &table;
  write.excluded.clear();
  write.cut_at.clear();
  write.stop_at.reset();
  choose_rows_to_write();
  write.advances.clear();
  for (const PartitionSpan& span : write.batch.partitions) {
    // The previous write has been taken in, so the stored offset is current.
    write.advances.push_back({span.topic_partition, ledger_->stored_next_offset(span.topic_partition),
                              span.next_offset, span.last_timestamp_ms});
  }
  write.started_at = clock_.now();
  launch_write();
  return Status::ok();
}

void Pipeline::choose_rows_to_write() {
  InFlightWrite& write = *in_flight_;
  const TableBatch& batch = write.batch;
  const std::vector<bool>* excluded = write.excluded.empty() ? nullptr : &write.excluded;
  if (write.claims.any_left_out()) {
    // Pending duplicates are left out like refused rows: they wait for their claimant's fate.
    write.left_out = write.excluded.empty() ? std::vector<bool>(batch.rows.size(), false) : write.excluded;
    for (size_t index = 0; index < write.claims.claims.size(); ++index) {
      if (left_out_by_dedup(write.claims.claims[index])) write.left_out[index] = true;
    }
    excluded = &write.left_out;
  }
  if (write.table->sink.mode == WriteMode::Insert) {
    write.rows.clear();
    write.rows.reserve(batch.rows.size());
    for (uint32_t index = 0; index < batch.rows.size(); ++index) {
      if (excluded == nullptr || !(*excluded)[index]) write.rows.push_back({index, RowOp::Upsert});
    }
  } else {
    const std::vector<ReducedRow>& reduced = write.table->reducer.reduce(batch, excluded);
    write.rows.assign(reduced.begin(), reduced.end());
  }
}

void Pipeline::launch_write() {
  InFlightWrite& write = *in_flight_;
  write.rejected.clear();
  write.launched_at = clock_.now();
  write.result = std::async(std::launch::async, [this, &write] {
    return writer_.write(
        WriteRequest{write.table->route_index, write.batch, write.rows, write.advances, &write.rejected});
  });
}

Status Pipeline::collect_write(bool block) {
  InFlightWrite& write = *in_flight_;
  while (write.table != nullptr) {
    if (!block && write.result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return Status::ok();
    Status status = write.result.get();
    if (!status.is_ok() && status.kind() == ErrorKind::Poison && !write.rejected.empty()) {
      status = set_rejected_rows_aside();
      if (status.is_ok()) {
        launch_write();  // the batch without the refused rows; waited for above when blocking
        continue;
      }
    }
    return finish_write(std::move(status));
  }
  return failed_write_;
}

Status Pipeline::set_rejected_rows_aside() {
  InFlightWrite& write = *in_flight_;
  const TableBatch& batch = write.batch;
  if (write.excluded.empty()) write.excluded.assign(batch.rows.size(), false);
  if (write.cut_at.empty()) write.cut_at.assign(batch.partitions.size(), std::nullopt);
  std::vector<BadRecord> refused;
  for (const RejectedRow& rejected : write.rejected) {
    const BatchRow& row = batch.rows[rejected.row_index];
    refused.push_back(BadRecord{batch.partitions[row.partition_slot].topic_partition, row.offset,
                                BadRecordStage::Database, rejected.column, rejected.sqlstate, rejected.sqlstate,
                                rejected.reason});
  }
  if (bad_records_.tolerates()) {
    for (const RejectedRow& rejected : write.rejected) write.excluded[rejected.row_index] = true;
    if (Status queued = bad_records_.dead_letter_released(refused); !queued) return queued;
    for (const BadRecord& bad : refused) {
      if (Status stopped = bad_records_.note_bad(bad); !stopped) return stopped;
    }
    // The rewrite stores offsets past these records: their letters go first.
    if (Status flushed = bad_records_.flush_letters(); !flushed) return flushed;
  } else {
    // Stop at the first refused record of each partition: everything before it is
    // written, nothing from it on. Offsets are per partition, so that is exact.
    for (size_t index = 0; index < refused.size(); ++index) {
      const uint32_t slot = batch.rows[write.rejected[index].row_index].partition_slot;
      std::optional<int64_t>& cut = write.cut_at[slot];
      if (cut && *cut <= refused[index].offset) continue;
      cut = refused[index].offset;
      write.advances[slot].next_offset = *cut;
      // The record before the cut is somewhere in the batch, its timestamp not kept: unknown.
      write.advances[slot].last_record_timestamp_ms.reset();
      // Reported: the record at the cut of the partition that comes first in the batch.
      if (!write.stop_at || slot <= write.stop_slot) {
        write.stop_at = refused[index];
        write.stop_slot = slot;
      }
    }
    for (uint32_t index = 0; index < batch.rows.size(); ++index) {
      const std::optional<int64_t>& cut = write.cut_at[batch.rows[index].partition_slot];
      if (cut && batch.rows[index].offset >= *cut) write.excluded[index] = true;
    }
  }
  // Only the identities of rows that get written are recorded as applied.
  write.claims.give_up(write.excluded);
  choose_rows_to_write();
  return Status::ok();
}

Status Pipeline::finish_write(Status status) {
  InFlightWrite& write = *in_flight_;
  TableState& table = *write.table;
  write.table = nullptr;
  if (!status.is_ok()) {
    failed_write_ = status;
    write.batch.tuples.clear();
    write.batch = TableBatch{};
    write.claims.clear();
    return status;
  }
  counters_.dedup_dropped += write.claims.mark_duplicates(write.duplicate_rows, write.batch.rows.size());
  if (flush_listener_) {
    flush_listener_(FlushReport{table.route_index, write.batch, write.rows.size(), write.claims.dropped,
                                write.duplicate_rows, clock_.now() - write.started_at});
  }
  for (const OffsetAdvance& advance : write.advances) ledger_->note_durable(advance.topic_partition, advance.next_offset);
  counters_.rows_written += write.rows.size();
  ++counters_.batches_written;
  if (table.dedup) {
    std::vector<std::pair<TopicPartition, int64_t>> complete_up_to;
    for (const OffsetAdvance& advance : write.advances) {
      // Never lowered: after a rewind the state still holds the identities up to the old
      // marker, and a later re-plan must keep distrusting it there, or it would drop the
      // rest of the replay as duplicates.
      const PartitionFacts* facts = ledger_->find(advance.topic_partition);
      const int64_t untrusted_below = facts && facts->dedup_untrusted_below ? *facts->dedup_untrusted_below : 0;
      complete_up_to.emplace_back(advance.topic_partition, std::max(advance.next_offset, untrusted_below));
    }
    table.dedup->record_applied(write.claims.identities, std::move(complete_up_to));
    counters_.dedup_dropped += table.dedup->judge_pending(write.claims.identities);
  }
  write.claims.clear();
  write.batch.tuples.clear();
  write.batch.rows.clear();
  write.batch.partitions.clear();
  write.batch.message_bytes = 0;
  write.batch.oldest_record_at.reset();
  write.batch.oldest_record_timestamp_ms.reset();
  if (write.stop_at) {
    // Everything before the refused record is committed; nothing after it may follow.
    const BadRecord bad = *std::exchange(write.stop_at, std::nullopt);
    if (Status counted = bad_records_.note_bad(bad); !counted) return counted;
    failed_write_ = Status::error(ErrorKind::Poison, Cause::RefusedRecord, "bad record at " + bad.describe(), bad.sqlstate);
    return failed_write_;
  }
  return Status::ok();
}

Status Pipeline::wait_for_writes() { return collect_write(/*block=*/true); }

bool Pipeline::write_in_flight() const { return in_flight_->table != nullptr; }

std::optional<WriteInFlight> Pipeline::write_in_flight_details() const {
  if (in_flight_->table == nullptr) return std::nullopt;
  return WriteInFlight{in_flight_->table->route_index, in_flight_->launched_at};
}

Status Pipeline::flush_due(Clock::time_point now) {
  if (Status finished = collect_write(/*block=*/false); !finished.is_ok()) return finished;
  for (auto& table : tables_) {
    if (!table) continue;
    // A full batch is here when its flush was deferred behind a slow write.
    if (table->batcher.due(now) || table->batcher.full()) {
      Status status = flush(*table, /*may_defer=*/true);
      if (!status.is_ok()) return status;
    }
  }
  return Status::ok();
}

Status Pipeline::flush_all() {
  for (auto& table : tables_) {
    if (!table) continue;
    Status status = flush(*table);
    if (!status.is_ok()) return status;
  }
  return wait_for_writes();
}

std::optional<std::chrono::milliseconds> Pipeline::time_until_next_flush(Clock::time_point now) const {
  std::optional<std::chrono::milliseconds> soonest;
  for (const auto& table : tables_) {
    if (!table) continue;
    const auto remaining = table->batcher.time_until_due(now);
    if (remaining && (!soonest || *remaining < *soonest)) soonest = remaining;
  }
  return soonest;
}

std::vector<std::pair<TopicPartition, int64_t>> Pipeline::take_durable_offsets() {
  return ledger_->take_durable(lane_);
}

std::optional<int64_t> Pipeline::stored_next_offset(const TopicPartition& tp) const {
  return ledger_->stored_next_offset(tp);
}

bool Pipeline::has_unwritten_records(const TopicPartition& tp) const {
  if (in_flight_->table != nullptr && in_flight_->batch.find_partition(tp) != nullptr) return true;
  return std::any_of(tables_.begin(), tables_.end(),
                     [&](const auto& table) { return table && table->batcher.holds(tp); });
}

}  // namespace kps
