#include "connector/pipeline.h"

#include <catch2/catch.hpp>

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

#include "tests/test_support.h"

using namespace kps;
using kps::testing::ManualClock;
using kps::testing::record;

namespace {

/// What one write() call was asked to do, copied out of the batch.
struct WriteCall {
  std::vector<int64_t> offsets_written;  // offset of each row written, in order
  std::vector<RowOp> ops;
  std::vector<OffsetAdvance> advances;
};

/// A writer that records every call and fails on cue.
class ScriptedWriter final : public TableWriter {
 public:
  Status write(const WriteRequest& request) override {
    if (fail_next_) {
      fail_next_ = false;
      return Status::error(ErrorKind::Transient, "connection lost", "08006");
    }
    if (request.rejected != nullptr) {
      // Refuse the rows of the offsets in `refuse`, as PostgreSQL would a check violation.
      request.rejected->clear();
      for (const ReducedRow& row : request.rows) {
        const int64_t offset = request.batch.rows[row.row_index].offset;
        if (refuse.count(offset) > 0) {
          request.rejected->push_back({row.row_index, "23514", "v", "violates check constraint \"v_positive\""});
        }
      }
      if (!request.rejected->empty()) {
        ++refusals;
        return Status::error(ErrorKind::Poison, "refused", "23514");
      }
    }
    WriteCall call;
    for (const ReducedRow& row : request.rows) {
      call.offsets_written.push_back(request.batch.rows[row.row_index].offset);
      call.ops.push_back(row.op);
    }
    call.advances.assign(request.offsets.begin(), request.offsets.end());
    calls.push_back(std::move(call));
    return Status::ok();
  }
  void fail_next() { fail_next_ = true; }

  std::vector<WriteCall> calls;
  std::set<int64_t> refuse;  // offsets whose rows are refused for their data
  int refusals = 0;

 private:
  bool fail_next_ = false;
};

Config config_with(SinkConfig sink, size_t max_rows = 100) {
  Config config;
  config.batch.max_rows = max_rows;
  config.sinks.push_back(std::move(sink));
  return config;
}

const TopicPartition kPartition0{"events", 0};
const TopicPartition kPartition1{"events", 1};

}  // namespace

TEST_CASE("pipeline writes insert batches in offset order and stores each partition's next offset") {
  const Config config = config_with(kps::testing::id_value_sink(WriteMode::Insert));
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, std::nullopt);
  pipeline.assign(kPartition1, 7);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1,"v":1})")).is_ok());
  REQUIRE(pipeline.add(record("events", 1, 7, R"({"id":1,"v":2})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 1, R"({"id":2})")).is_ok());
  CHECK(pipeline.has_unwritten_records(kPartition0));
  REQUIRE(pipeline.flush_all().is_ok());

  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].offsets_written == std::vector<int64_t>{0, 7, 1});
  REQUIRE(writer.calls[0].advances.size() == 2);
  CHECK(writer.calls[0].advances[0].topic_partition == kPartition0);
  CHECK_FALSE(writer.calls[0].advances[0].expected_stored.has_value());
  CHECK(writer.calls[0].advances[0].next_offset == 2);
  CHECK(writer.calls[0].advances[1].expected_stored == 7);
  CHECK(writer.calls[0].advances[1].next_offset == 8);
  CHECK(pipeline.stored_next_offset(kPartition0) == 2);
  CHECK_FALSE(pipeline.has_unwritten_records(kPartition0));
  CHECK(pipeline.counters().rows_written == 3);
}

TEST_CASE("pipeline reports durable offsets once, after the write commits") {
  const Config config = config_with(kps::testing::id_value_sink(WriteMode::Insert));
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 4, R"({"id":1})")).is_ok());
  CHECK(pipeline.take_durable_offsets().empty());
  REQUIRE(pipeline.flush_all().is_ok());
  const auto durable = pipeline.take_durable_offsets();
  REQUIRE(durable.size() == 1);
  CHECK(durable[0] == std::pair<TopicPartition, int64_t>{kPartition0, 5});
  CHECK(pipeline.take_durable_offsets().empty());
}

TEST_CASE("pipeline stores nothing of a failed write and refuses more work until reset") {
  const Config config = config_with(kps::testing::id_value_sink(WriteMode::Insert));
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, 3);
  REQUIRE(pipeline.add(record("events", 0, 3, R"({"id":1})")).is_ok());
  writer.fail_next();
  const Status failed = pipeline.flush_all();
  CHECK(failed.kind() == ErrorKind::Transient);
  CHECK(pipeline.stored_next_offset(kPartition0) == 3);
  CHECK(pipeline.take_durable_offsets().empty());
  // Storing a later batch over the lost one would skip its records: refused.
  CHECK(pipeline.add(record("events", 0, 4, R"({"id":2})")).kind() == ErrorKind::Transient);
  CHECK(pipeline.flush_all().kind() == ErrorKind::Transient);

  pipeline.reset();  // the connector re-reads PostgreSQL and fetches again from there
  pipeline.assign(kPartition0, 3);
  REQUIRE(pipeline.add(record("events", 0, 3, R"({"id":1})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].advances[0].expected_stored == 3);
  CHECK(pipeline.stored_next_offset(kPartition0) == 4);
}

TEST_CASE("pipeline flushes a batch as soon as it holds max_rows") {
  const Config config = config_with(kps::testing::id_value_sink(WriteMode::Insert), 2);
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, std::nullopt);
  for (int64_t offset = 0; offset < 5; ++offset) {
    REQUIRE(pipeline.add(record("events", 0, offset, R"({"id":1})")).is_ok());
  }
  REQUIRE(pipeline.wait_for_writes().is_ok());
  REQUIRE(writer.calls.size() == 2);
  CHECK(writer.calls[1].advances[0].expected_stored == 2);
  CHECK(writer.calls[1].advances[0].next_offset == 4);
}

TEST_CASE("pipeline flushes a batch once its oldest record waited max_latency") {
  Config config = config_with(kps::testing::id_value_sink(WriteMode::Insert));
  config.batch.max_latency = std::chrono::milliseconds(250);
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1})")).is_ok());
  clock.advance(std::chrono::milliseconds(249));
  REQUIRE(pipeline.flush_due().is_ok());
  CHECK(writer.calls.empty());
  CHECK(*pipeline.time_until_next_flush() == std::chrono::milliseconds(1));
  clock.advance(std::chrono::milliseconds(1));
  REQUIRE(pipeline.flush_due().is_ok());
  REQUIRE(pipeline.wait_for_writes().is_ok());
  CHECK(writer.calls.size() == 1);
}

TEST_CASE("pipeline reduces upsert batches to one row per key") {
  const Config config = config_with(kps::testing::id_value_sink(WriteMode::Upsert));
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1,"v":1})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 1, R"({"id":1,"v":2})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 2, R"({"id":2,"v":3})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].offsets_written == std::vector<int64_t>{1, 2});
  CHECK(writer.calls[0].advances[0].next_offset == 3);
}

TEST_CASE("pipeline turns a tombstone into a delete when delete_on_tombstone is set") {
  SinkConfig sink = kps::testing::id_value_sink(WriteMode::Upsert);
  sink.delete_on_tombstone = true;
  const Config config = config_with(sink);
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1,"v":1})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 1, std::nullopt, std::string_view(R"({"id":1})"))).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].ops == std::vector<RowOp>{RowOp::Delete});
}

TEST_CASE("pipeline rejects a bad record naming topic, partition, offset and column, batching nothing of it") {
  const Config config = config_with(kps::testing::id_value_sink(WriteMode::Insert));
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1})")).is_ok());
  const Status bad = pipeline.add(record("events", 0, 1, R"({"id":"abc"})"));
  REQUIRE_FALSE(bad.is_ok());
  CHECK(bad.kind() == ErrorKind::Poison);
  CHECK_THAT(bad.message(), Catch::Contains("topic=events") && Catch::Contains("partition=0") &&
                                Catch::Contains("offset=1") && Catch::Contains("column=id"));
  REQUIRE(pipeline.flush_all().is_ok());
  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].offsets_written == std::vector<int64_t>{0});
  CHECK(writer.calls[0].advances[0].next_offset == 1);  // stops right before the bad record
}

TEST_CASE("pipeline treats a tombstone as a bad record unless delete_on_tombstone is set") {
  const Config config = config_with(kps::testing::id_value_sink(WriteMode::Upsert));
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, std::nullopt);
  const Status bad = pipeline.add(record("events", 0, 0, std::nullopt, std::string_view("1")));
  CHECK(bad.kind() == ErrorKind::Poison);
  CHECK_THAT(bad.message(), Catch::Contains("delete_on_tombstone"));
}

TEST_CASE("pipeline skips records below the offset PostgreSQL already holds") {
  const Config config = config_with(kps::testing::id_value_sink(WriteMode::Insert));
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, 10);
  REQUIRE(pipeline.add(record("events", 0, 9, R"({"id":1})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 10, R"({"id":2})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 10, R"({"id":2})")).is_ok());  // delivered twice
  REQUIRE(pipeline.flush_all().is_ok());
  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].offsets_written == std::vector<int64_t>{10});
  CHECK(pipeline.counters().records_redelivered == 2);
}

TEST_CASE("pipeline ignores records of partitions it does not own") {
  const Config config = config_with(kps::testing::id_value_sink(WriteMode::Insert));
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  REQUIRE(pipeline.add(record("events", 3, 0, R"({"id":1})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  CHECK(writer.calls.empty());
}

TEST_CASE("pipeline flushes a revoked partition's rows before forgetting it") {
  const Config config = config_with(kps::testing::id_value_sink(WriteMode::Insert));
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1})")).is_ok());
  const std::vector<TopicPartition> revoked = {kPartition0};
  REQUIRE(pipeline.revoke(revoked).is_ok());
  REQUIRE(writer.calls.size() == 1);
  CHECK_FALSE(pipeline.stored_next_offset(kPartition0).has_value());
  REQUIRE(pipeline.add(record("events", 0, 1, R"({"id":2})")).is_ok());  // late record: no longer ours
  REQUIRE(pipeline.flush_all().is_ok());
  CHECK(writer.calls.size() == 1);
}

namespace {

using kps::testing::FakeDedup;

SinkConfig dedup_sink() {
  SinkConfig sink = kps::testing::id_value_sink(WriteMode::Insert);
  sink.dedup = DedupConfig{{"/event"}, std::chrono::seconds(3600)};
  return sink;
}

}  // namespace

TEST_CASE("pipeline drops a record whose identity was applied before or earlier in the batch") {
  const Config config = config_with(dedup_sink());
  ScriptedWriter writer;
  ManualClock clock;
  FakeDedup dedup;
  Pipeline pipeline(config, writer, clock, &dedup, [] { return int64_t{1000}; });
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1,"event":"a"})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 1, R"({"id":2,"event":"a"})")).is_ok());  // same batch
  REQUIRE(pipeline.add(record("events", 0, 2, R"({"id":3})")).is_ok());              // no identity: kept
  REQUIRE(pipeline.flush_all().is_ok());
  REQUIRE(pipeline.add(record("events", 0, 3, R"({"id":4,"event":"a"})")).is_ok());  // applied before
  REQUIRE(pipeline.add(record("events", 0, 4, R"({"id":5,"event":"b"})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());

  REQUIRE(writer.calls.size() == 2);
  CHECK(writer.calls[0].offsets_written == std::vector<int64_t>{0, 2});
  CHECK(writer.calls[0].advances[0].next_offset == 3);  // the dropped record's offset is stored all the same
  CHECK(writer.calls[1].offsets_written == std::vector<int64_t>{4});
  CHECK(pipeline.counters().dedup_dropped == 2);
  CHECK(dedup.known.size() == 2);
  CHECK(dedup.markers[kPartition0] == 5);
}

TEST_CASE("pipeline records identities only after the batch that applied them commits") {
  const Config config = config_with(dedup_sink());
  ScriptedWriter writer;
  ManualClock clock;
  FakeDedup dedup;
  Pipeline pipeline(config, writer, clock, &dedup);
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1,"event":"a"})")).is_ok());
  writer.fail_next();
  CHECK_FALSE(pipeline.flush_all().is_ok());
  CHECK(dedup.known.empty());
  CHECK(dedup.markers.empty());
}

TEST_CASE("pipeline re-reads applied records only to rebuild the dedup state") {
  const Config config = config_with(dedup_sink());
  ScriptedWriter writer;
  ManualClock clock;
  FakeDedup dedup;
  Pipeline pipeline(config, writer, clock, &dedup);
  pipeline.assign(kPartition0, 3, 1);  // PostgreSQL holds 3, the dedup state was complete only below 1
  REQUIRE(pipeline.add(record("events", 0, 1, R"({"id":1,"event":"x"})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 2, R"({"id":2,"event":"y"})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 3, R"({"id":3,"event":"x"})")).is_ok());  // a producer duplicate of 1
  REQUIRE(pipeline.add(record("events", 0, 4, R"({"id":4,"event":"z"})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].offsets_written == std::vector<int64_t>{4});
  CHECK(writer.calls[0].advances[0].expected_stored == 3);
  CHECK(pipeline.counters().dedup_replayed == 2);
  CHECK(pipeline.counters().dedup_dropped == 1);
  CHECK(dedup.known.size() == 3);
  CHECK(dedup.markers[kPartition0] == 5);
}

TEST_CASE("pipeline stops moving dedup markers after a failed dedup write") {
  const Config config = config_with(dedup_sink());
  ScriptedWriter writer;
  ManualClock clock;
  FakeDedup dedup;
  Pipeline pipeline(config, writer, clock, &dedup);
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1,"event":"a"})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  dedup.fail_next = true;
  REQUIRE(pipeline.add(record("events", 0, 1, R"({"id":2,"event":"b"})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());  // the rows are in PostgreSQL all the same
  REQUIRE(pipeline.add(record("events", 0, 2, R"({"id":3,"event":"c"})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  CHECK(writer.calls.size() == 3);
  CHECK(dedup.markers[kPartition0] == 1);  // a restart re-reads from offset 1
  CHECK(dedup.updates == 1);
}

TEST_CASE("pipeline does not trust a dedup state that is ahead of PostgreSQL") {
  const Config config = config_with(dedup_sink());
  ScriptedWriter writer;
  ManualClock clock;
  FakeDedup dedup;
  dedup.known.insert({0, std::string("\x03\0\0\0\"a\"", 7)});  // recorded, but PostgreSQL never got it
  Pipeline pipeline(config, writer, clock, &dedup);
  pipeline.assign(kPartition0, 5, std::nullopt, 8);
  REQUIRE(pipeline.add(record("events", 0, 5, R"({"id":1,"event":"a"})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 8, R"({"id":2,"event":"a"})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].offsets_written == std::vector<int64_t>{5});  // 8 repeats 5 within the batch
}

namespace {

/// Holds every write until the test opens the gate, so a test can act while one is in flight.
class GatedWriter final : public TableWriter {
 public:
  Status write(const WriteRequest& request) override {
    std::unique_lock<std::mutex> lock(mutex_);
    opened_.wait(lock, [this] { return open_; });
    rows_written.push_back(request.rows.size());
    return Status::ok();
  }
  void open() {
    const std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    opened_.notify_all();
  }
  std::vector<size_t> rows_written;

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
};

}  // namespace

TEST_CASE("pipeline decodes the next batch while one is written, and dedups against the one in flight") {
  Config config = config_with(dedup_sink(), 2);
  GatedWriter writer;
  ManualClock clock;
  FakeDedup dedup;
  Pipeline pipeline(config, writer, clock, &dedup);
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1,"event":"a"})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 1, R"({"id":2,"event":"b"})")).is_ok());  // full: in flight
  CHECK(pipeline.write_in_flight());
  CHECK(pipeline.has_unwritten_records(kPartition0));
  REQUIRE(pipeline.add(record("events", 0, 2, R"({"id":3,"event":"a"})")).is_ok());  // duplicate of the in-flight one
  REQUIRE(pipeline.add(record("events", 0, 3, R"({"id":4,"event":"c"})")).is_ok());
  // Judged once the write in flight is taken in: PostgreSQL might still refuse the first "a".
  CHECK(pipeline.counters().dedup_dropped == 0);
  CHECK(pipeline.stored_next_offset(kPartition0) == std::nullopt);  // nothing committed yet
  writer.open();
  REQUIRE(pipeline.flush_all().is_ok());
  CHECK(writer.rows_written == std::vector<size_t>{2, 1});
  CHECK(pipeline.counters().dedup_dropped == 1);
  CHECK(pipeline.stored_next_offset(kPartition0) == 4);
}

TEST_CASE("pipeline tells which table's write is in flight and since when, until its result is taken in") {
  Config config = config_with(dedup_sink(), 2);
  GatedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, std::nullopt);
  CHECK_FALSE(pipeline.write_in_flight_details().has_value());
  clock.advance(std::chrono::milliseconds(1000));
  const Clock::time_point launched = clock.now();
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1,"event":"a"})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 1, R"({"id":2,"event":"b"})")).is_ok());  // full: in flight
  clock.advance(std::chrono::milliseconds(45000));
  REQUIRE(pipeline.flush_due().is_ok());  // the write is blocked: nothing to take in
  const std::optional<WriteInFlight> write = pipeline.write_in_flight_details();
  REQUIRE(write.has_value());
  CHECK(write->route_index == 0);
  CHECK(write->started_at == launched);
  CHECK(clock.now() - write->started_at == std::chrono::milliseconds(45000));
  writer.open();
  REQUIRE(pipeline.wait_for_writes().is_ok());
  CHECK_FALSE(pipeline.write_in_flight_details().has_value());
}

namespace {

/// Dead letters kept in memory; flush() fails on cue.
class FakeDeadLetters final : public DeadLetterSink {
 public:
  Status enqueue(const RecordView& record, const BadRecord& bad) override {
    queued.push_back({bad, record.value ? std::string(*record.value) : std::string()});
    return Status::ok();
  }
  Status enqueue_released(std::span<const BadRecord> bad) override {
    for (const BadRecord& record : bad) queued.push_back({record, "(read again)"});
    return Status::ok();
  }
  Status flush() override {
    if (fail_flush) return Status::error(ErrorKind::Transient, "dead letter topic unavailable", "dead_letter");
    acknowledged.insert(acknowledged.end(), queued.begin(), queued.end());
    queued.clear();
    ++flushes;
    return Status::ok();
  }
  bool has_unflushed() const override { return !queued.empty(); }

  std::vector<std::pair<BadRecord, std::string>> queued;
  std::vector<std::pair<BadRecord, std::string>> acknowledged;
  bool fail_flush = false;
  int flushes = 0;
};

Config tolerant_config(SinkConfig sink, size_t max_rows = 100) {
  Config config = config_with(std::move(sink), max_rows);
  config.errors.tolerance = ErrorTolerance::All;
  config.errors.dead_letter_topic = "events.dlq";
  return config;
}

std::vector<int64_t> offsets_of(const std::vector<std::pair<BadRecord, std::string>>& letters) {
  std::vector<int64_t> offsets;
  for (const auto& [bad, value] : letters) offsets.push_back(bad.offset);
  return offsets;
}

}  // namespace

TEST_CASE("with tolerance all an undecodable record is dead-lettered and its offset stored once the letter is acknowledged") {
  const Config config = tolerant_config(kps::testing::id_value_sink(WriteMode::Insert));
  ScriptedWriter writer;
  ManualClock clock;
  FakeDeadLetters letters;
  Pipeline pipeline(config, writer, clock);
  pipeline.set_dead_letter_sink(&letters);
  std::vector<BadRecord> seen;
  pipeline.set_bad_record_listener([&](const BadRecord& bad) { seen.push_back(bad); });
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 1, R"({"id":"one"})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 2, R"({"id":3})")).is_ok());
  CHECK(letters.queued.size() == 1);
  CHECK(seen.empty());  // reported once its letter is acknowledged, not before
  REQUIRE(pipeline.flush_all().is_ok());

  CHECK(letters.queued.empty());
  REQUIRE(letters.acknowledged.size() == 1);
  CHECK(letters.acknowledged[0].second == R"({"id":"one"})");
  CHECK(letters.acknowledged[0].first.stage == BadRecordStage::Decode);
  CHECK(letters.acknowledged[0].first.column == "id");
  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].offsets_written == std::vector<int64_t>{0, 2});
  CHECK(writer.calls[0].advances[0].next_offset == 3);
  CHECK(pipeline.counters().bad_records == 1);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].offset == 1);
  CHECK(seen[0].reason_code == "wrong_type");
}

TEST_CASE("with tolerance all a batch is not written while its dead letters are unacknowledged") {
  const Config config = tolerant_config(kps::testing::id_value_sink(WriteMode::Insert));
  ScriptedWriter writer;
  ManualClock clock;
  FakeDeadLetters letters;
  Pipeline pipeline(config, writer, clock);
  pipeline.set_dead_letter_sink(&letters);
  pipeline.assign(kPartition0, 5);
  REQUIRE(pipeline.add(record("events", 0, 5, "not json")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 6, R"({"id":7})")).is_ok());
  letters.fail_flush = true;
  const Status failed = pipeline.flush_all();
  CHECK(failed.kind() == ErrorKind::Transient);
  CHECK(failed.code() == "dead_letter");
  CHECK(writer.calls.empty());
  CHECK(pipeline.stored_next_offset(kPartition0) == 5);  // the partition waits; it never skips
  CHECK(pipeline.counters().bad_records == 0);           // fetched again after the rewind: counted then
}

TEST_CASE("with tolerance all rows PostgreSQL refuses are dead-lettered and every other row of the batch is written") {
  const Config config = tolerant_config(kps::testing::id_value_sink(WriteMode::Insert));
  ScriptedWriter writer;
  writer.refuse = {0, 2, 4};  // first, middle and last row of the batch
  ManualClock clock;
  FakeDeadLetters letters;
  Pipeline pipeline(config, writer, clock);
  pipeline.set_dead_letter_sink(&letters);
  pipeline.assign(kPartition0, std::nullopt);
  for (int64_t offset = 0; offset < 5; ++offset) {
    REQUIRE(pipeline.add(record("events", 0, offset, R"({"id":1,"v":1})")).is_ok());
  }
  REQUIRE(pipeline.flush_all().is_ok());

  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].offsets_written == std::vector<int64_t>{1, 3});
  CHECK(writer.calls[0].advances[0].next_offset == 5);
  CHECK(offsets_of(letters.acknowledged) == std::vector<int64_t>{0, 2, 4});
  CHECK(letters.acknowledged[0].first.stage == BadRecordStage::Database);
  CHECK(letters.acknowledged[0].first.sqlstate == "23514");
  CHECK(pipeline.counters().bad_records == 3);
  CHECK(pipeline.stored_next_offset(kPartition0) == 5);
}

TEST_CASE("with tolerance none a refused row stops its partition right before it while other partitions complete") {
  const Config config = config_with(kps::testing::id_value_sink(WriteMode::Insert));
  ScriptedWriter writer;
  writer.refuse = {12};
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, 10);
  pipeline.assign(kPartition1, std::nullopt);
  for (int64_t offset = 10; offset < 15; ++offset) {
    REQUIRE(pipeline.add(record("events", 0, offset, R"({"id":1})")).is_ok());
    REQUIRE(pipeline.add(record("events", 1, offset + 100, R"({"id":2})")).is_ok());
  }
  const Status stopped = pipeline.flush_all();
  CHECK(stopped.kind() == ErrorKind::Poison);
  CHECK(stopped.code() == "23514");
  CHECK_THAT(stopped.message(), Catch::Contains("topic=events partition=0 offset=12 column=v"));

  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].offsets_written == std::vector<int64_t>{10, 110, 11, 111, 112, 113, 114});
  CHECK(writer.calls[0].advances[0].next_offset == 12);   // stops at the refused record
  CHECK(writer.calls[0].advances[1].next_offset == 115);  // the other partition is complete
  CHECK(pipeline.stored_next_offset(kPartition0) == 12);
  // Nothing after the refused record may be stored: the stop is sticky.
  CHECK(pipeline.add(record("events", 1, 115, R"({"id":2})")).kind() == ErrorKind::Poison);
}

TEST_CASE("an upsert key whose winning record is refused is written from its previous record") {
  const Config config = tolerant_config(kps::testing::id_value_sink(WriteMode::Upsert));
  ScriptedWriter writer;
  writer.refuse = {2};
  ManualClock clock;
  FakeDeadLetters letters;
  Pipeline pipeline(config, writer, clock);
  pipeline.set_dead_letter_sink(&letters);
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1,"v":1})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 1, R"({"id":2,"v":1})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 2, R"({"id":1,"v":-1})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());

  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].offsets_written == std::vector<int64_t>{0, 1});
  CHECK(offsets_of(letters.acknowledged) == std::vector<int64_t>{2});
}

TEST_CASE("a refused row's dedup identity is not recorded as applied") {
  Config config = tolerant_config(dedup_sink());
  ScriptedWriter writer;
  writer.refuse = {1};
  ManualClock clock;
  FakeDedup dedup;
  FakeDeadLetters letters;
  Pipeline pipeline(config, writer, clock, &dedup, [] { return int64_t{1000}; });
  pipeline.set_dead_letter_sink(&letters);
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1,"event":"a"})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 1, R"({"id":2,"event":"b"})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  CHECK(dedup.known.size() == 1);
  // The corrected record, sent again with the same identity, is applied.
  writer.refuse.clear();
  REQUIRE(pipeline.add(record("events", 0, 2, R"({"id":2,"event":"b","v":1})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  REQUIRE(writer.calls.size() == 2);
  CHECK(writer.calls[1].offsets_written == std::vector<int64_t>{2});
}

TEST_CASE("a corrected resend of a refused record in the same batch is written in its place") {
  Config config = tolerant_config(dedup_sink());
  ScriptedWriter writer;
  writer.refuse = {1};
  ManualClock clock;
  FakeDedup dedup;
  FakeDeadLetters letters;
  Pipeline pipeline(config, writer, clock, &dedup, [] { return int64_t{1000}; });
  pipeline.set_dead_letter_sink(&letters);
  std::vector<uint64_t> reported_dropped;
  std::vector<size_t> reported_duplicate_rows;
  pipeline.set_flush_listener([&](const FlushReport& report) {
    reported_dropped.push_back(report.dedup_dropped);
    reported_duplicate_rows.push_back(
        static_cast<size_t>(std::count(report.duplicate_rows.begin(), report.duplicate_rows.end(), true)));
  });
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1,"event":"a"})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 1, R"({"id":2,"event":"b","v":-1})")).is_ok());  // refused
  REQUIRE(pipeline.add(record("events", 0, 2, R"({"id":2,"event":"b","v":1})")).is_ok());   // its correction
  REQUIRE(pipeline.add(record("events", 0, 3, R"({"id":3,"event":"b","v":2})")).is_ok());   // a duplicate of it
  REQUIRE(pipeline.add(record("events", 0, 4, R"({"id":4,"event":"a"})")).is_ok());         // a duplicate of 0
  REQUIRE(pipeline.flush_all().is_ok());

  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].offsets_written == std::vector<int64_t>{0, 2});
  CHECK(writer.calls[0].advances[0].next_offset == 5);
  CHECK(offsets_of(letters.acknowledged) == std::vector<int64_t>{1});
  CHECK(pipeline.counters().dedup_dropped == 2);
  CHECK(reported_dropped == std::vector<uint64_t>{2});
  CHECK(reported_duplicate_rows == std::vector<size_t>{2});
  CHECK(dedup.known.size() == 2);
}

TEST_CASE("two records of one identity in a batch with nothing refused write one row") {
  const Config config = config_with(dedup_sink());
  ScriptedWriter writer;
  ManualClock clock;
  FakeDedup dedup;
  Pipeline pipeline(config, writer, clock, &dedup, [] { return int64_t{1000}; });
  pipeline.assign(kPartition0, std::nullopt);
  pipeline.assign(kPartition1, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1,"event":"a"})")).is_ok());
  REQUIRE(pipeline.add(record("events", 1, 7, R"({"id":2,"event":"a"})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].offsets_written == std::vector<int64_t>{0});
  REQUIRE(writer.calls[0].advances.size() == 2);
  CHECK(writer.calls[0].advances[1].next_offset == 8);  // the duplicate's offset is stored all the same
  CHECK(pipeline.counters().dedup_dropped == 1);
  CHECK(pipeline.counters().rows_written == 1);
}

TEST_CASE("a corrected resend that arrives while the refused record's batch is in flight is written after the refusal") {
  Config config = tolerant_config(dedup_sink());
  config.batch.max_rows = 2;
  ScriptedWriter writer;
  writer.refuse = {1};
  ManualClock clock;
  FakeDedup dedup;
  FakeDeadLetters letters;
  Pipeline pipeline(config, writer, clock, &dedup, [] { return int64_t{1000}; });
  pipeline.set_dead_letter_sink(&letters);
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1,"event":"a"})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 1, R"({"id":2,"event":"b","v":-1})")).is_ok());  // full: in flight
  REQUIRE(pipeline.write_in_flight());  // taken in only by the next flush, on this thread
  REQUIRE(pipeline.add(record("events", 0, 2, R"({"id":2,"event":"b","v":1})")).is_ok());  // the correction
  REQUIRE(pipeline.add(record("events", 0, 3, R"({"id":3,"event":"a"})")).is_ok());  // a duplicate of an applied one
  REQUIRE(pipeline.flush_all().is_ok());

  REQUIRE(writer.calls.size() == 2);
  CHECK(writer.calls[0].offsets_written == std::vector<int64_t>{0});
  CHECK(writer.calls[1].offsets_written == std::vector<int64_t>{2});
  CHECK(writer.calls[1].advances[0].next_offset == 4);
  CHECK(offsets_of(letters.acknowledged) == std::vector<int64_t>{1});
  CHECK(pipeline.counters().dedup_dropped == 1);
  CHECK(dedup.known.size() == 2);
  // A later copy of either identity is a duplicate of an applied record.
  REQUIRE(pipeline.add(record("events", 0, 4, R"({"id":9,"event":"b"})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  REQUIRE(writer.calls.size() == 3);
  CHECK(writer.calls[2].offsets_written.empty());  // only the offset moves
  CHECK(pipeline.counters().dedup_dropped == 2);
  CHECK(pipeline.stored_next_offset(kPartition0) == 5);
}

TEST_CASE("an upsert whose refused record is corrected in the same batch writes the correction") {
  SinkConfig sink = kps::testing::id_value_sink(WriteMode::Upsert);
  sink.dedup = DedupConfig{{"/event"}, std::chrono::seconds(3600)};
  Config config = tolerant_config(sink);
  ScriptedWriter writer;
  writer.refuse = {0};
  ManualClock clock;
  FakeDedup dedup;
  FakeDeadLetters letters;
  Pipeline pipeline(config, writer, clock, &dedup, [] { return int64_t{1000}; });
  pipeline.set_dead_letter_sink(&letters);
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1,"event":"a","v":-1})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 1, R"({"id":1,"event":"a","v":1})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].offsets_written == std::vector<int64_t>{1});
  CHECK(offsets_of(letters.acknowledged) == std::vector<int64_t>{0});
  CHECK(pipeline.counters().dedup_dropped == 0);
}

TEST_CASE("with tolerance none a resend in another partition is written when the refused record stops its own") {
  const Config config = config_with(dedup_sink());
  ScriptedWriter writer;
  writer.refuse = {1};
  ManualClock clock;
  FakeDedup dedup;
  Pipeline pipeline(config, writer, clock, &dedup, [] { return int64_t{1000}; });
  pipeline.assign(kPartition0, std::nullopt);
  pipeline.assign(kPartition1, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1,"event":"a"})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 1, R"({"id":2,"event":"b","v":-1})")).is_ok());  // refused: the stop
  REQUIRE(pipeline.add(record("events", 1, 100, R"({"id":2,"event":"b","v":1})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 2, R"({"id":3,"event":"b","v":2})")).is_ok());  // after the cut
  CHECK(pipeline.flush_all().kind() == ErrorKind::Poison);
  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].offsets_written == std::vector<int64_t>{0, 100});
  CHECK(writer.calls[0].advances[0].next_offset == 1);
  CHECK(writer.calls[0].advances[1].next_offset == 101);
  CHECK(pipeline.counters().dedup_dropped == 0);  // the record after the cut is fetched again
}

TEST_CASE("identities of a write abandoned by reset never drop a later record") {
  const Config config = config_with(dedup_sink(), 1);
  ScriptedWriter writer;
  ManualClock clock;
  FakeDedup dedup;
  Pipeline pipeline(config, writer, clock, &dedup, [] { return int64_t{1000}; });
  pipeline.assign(kPartition0, std::nullopt);
  writer.fail_next();
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1,"event":"a"})")).is_ok());  // full: written at once
  pipeline.reset();  // e.g. the partitions were lost meanwhile: the write's outcome no longer matters
  pipeline.assign(kPartition1, std::nullopt);
  REQUIRE(pipeline.add(record("events", 1, 0, R"({"id":2,"event":"x"})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  // "a" was never applied: a record carrying it must be written.
  REQUIRE(pipeline.add(record("events", 1, 1, R"({"id":3,"event":"a"})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  REQUIRE(writer.calls.size() == 2);
  CHECK(writer.calls[1].offsets_written == std::vector<int64_t>{1});
  CHECK(pipeline.counters().dedup_dropped == 0);
}

TEST_CASE("the circuit breaker stops tolerance all when more than the allowed share of recent records is bad") {
  Config config = tolerant_config(kps::testing::id_value_sink(WriteMode::Insert));
  config.errors.circuit_breaker = {10, 0.5};
  ScriptedWriter writer;
  ManualClock clock;
  FakeDeadLetters letters;
  Pipeline pipeline(config, writer, clock);
  pipeline.set_dead_letter_sink(&letters);
  pipeline.assign(kPartition0, std::nullopt);
  int64_t offset = 0;
  // Half bad is tolerated...
  for (; offset < 10; ++offset) {
    REQUIRE(pipeline.add(record("events", 0, offset, offset % 2 == 0 ? R"({"id":1})" : "[]")).is_ok());
  }
  // ...more than half is not.
  Status status;
  for (; offset < 20 && status.is_ok(); ++offset) status = pipeline.add(record("events", 0, offset, "[]"));
  CHECK(status.kind() == ErrorKind::Fatal);
  CHECK_THAT(status.message(), Catch::Contains("errors.circuit_breaker.max_bad_share"));
  CHECK(offset == 11);  // the first record that tipped the share over
}

TEST_CASE("a record larger than errors.max_record_bytes is a bad record") {
  Config config = config_with(kps::testing::id_value_sink(WriteMode::Insert));
  config.errors.max_record_bytes = 16;
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1})")).is_ok());
  const Status status = pipeline.add(record("events", 0, 1, R"({"id":1,"v":123456789})"));
  CHECK(status.kind() == ErrorKind::Poison);
  CHECK_THAT(status.message(), Catch::Contains("offset=1") && Catch::Contains("errors.max_record_bytes (16)"));
}

TEST_CASE("a record whose key, value and headers together exceed errors.max_record_bytes is a bad record") {
  Config config = config_with(kps::testing::id_value_sink(WriteMode::Insert));
  config.errors.max_record_bytes = 40;
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, std::nullopt);
  const RecordHeader small_headers[] = {{"trace", std::string_view("0123456789")}};
  RecordView fits = record("events", 0, 0, R"({"id":1})", std::string_view("key-1"));
  fits.headers = small_headers;  // 8 + 5 + 5 + 10 = 28 bytes
  REQUIRE(pipeline.add(fits).is_ok());
  const RecordHeader big_headers[] = {{"trace", std::string_view("0123456789")},
                                      {"trace-2", std::string_view("0123456789")}};
  RecordView too_large = record("events", 0, 1, R"({"id":2})", std::string_view("key-2"));
  too_large.headers = big_headers;  // 28 + 7 + 10 = 45 bytes, though its value is 8
  const Status status = pipeline.add(too_large);
  CHECK(status.kind() == ErrorKind::Poison);
  CHECK_THAT(status.message(), Catch::Contains("offset=1") && Catch::Contains("45 bytes") &&
                                   Catch::Contains("errors.max_record_bytes (40)"));
}

TEST_CASE("a full batch behind a slow write reports backpressure instead of blocking, and goes once the write is done") {
  const Config config = config_with(kps::testing::id_value_sink(WriteMode::Insert), 2);
  GatedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.set_backpressure_wait(std::chrono::milliseconds(20));
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1})")).is_ok());
  REQUIRE(pipeline.add(record("events", 0, 1, R"({"id":2})")).is_ok());  // full: in flight, the writer waits
  REQUIRE(pipeline.add(record("events", 0, 2, R"({"id":3})")).is_ok());
  CHECK_FALSE(pipeline.backpressured());
  const auto started = std::chrono::steady_clock::now();
  REQUIRE(pipeline.add(record("events", 0, 3, R"({"id":4})")).is_ok());  // full again, behind the slow write
  CHECK(pipeline.backpressured());
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
  REQUIRE(pipeline.flush_due().is_ok());  // still in flight: nothing changes
  CHECK(pipeline.backpressured());

  writer.open();
  REQUIRE(pipeline.wait_for_writes().is_ok());
  REQUIRE(pipeline.flush_due().is_ok());  // hands the waiting batch over
  CHECK_FALSE(pipeline.backpressured());
  REQUIRE(pipeline.wait_for_writes().is_ok());
  CHECK(writer.rows_written == std::vector<size_t>{2, 2});
  CHECK(pipeline.stored_next_offset(kPartition0) == 4);
}

namespace {

RecordView stamped(int64_t offset, std::string_view value, int64_t timestamp_ms) {
  RecordView view = record("events", 0, offset, value);
  view.timestamp_ms = timestamp_ms;
  return view;
}

}  // namespace

TEST_CASE("each stored offset carries the timestamp of the record before it, unknown after a cut") {
  const Config config = config_with(kps::testing::id_value_sink(WriteMode::Insert));
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(stamped(0, R"({"id":1})", 1000)).is_ok());
  REQUIRE(pipeline.add(stamped(1, R"({"id":2})", 1001)).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].advances[0].next_offset == 2);
  CHECK(writer.calls[0].advances[0].last_record_timestamp_ms == 1001);

  writer.refuse = {3};
  REQUIRE(pipeline.add(stamped(2, R"({"id":3})", 1002)).is_ok());
  REQUIRE(pipeline.add(stamped(3, R"({"id":4})", 1003)).is_ok());
  CHECK(pipeline.flush_all().kind() == ErrorKind::Poison);
  REQUIRE(writer.calls.size() == 2);
  CHECK(writer.calls[1].advances[0].next_offset == 3);
  CHECK(writer.calls[1].advances[0].last_record_timestamp_ms == std::nullopt);
}

TEST_CASE("a partition whose record before the stored offset has another timestamp stops, writing nothing") {
  const Config config = config_with(kps::testing::id_value_sink(WriteMode::Insert));
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, 50, std::nullopt, std::nullopt, LastAppliedRecord{49, 1000});
  const Status stopped = pipeline.add(stamped(49, R"({"id":1})", 2000));  // a recreated topic's record
  CHECK(stopped.kind() == ErrorKind::Fatal);
  CHECK_THAT(stopped.message(), Catch::Contains("topic=events partition=0 is not the log its stored offset 50"));
  CHECK_THAT(stopped.message(), Catch::Contains("the record at offset 49 has timestamp 2000 ms, the one applied there had 1000 ms"));
  CHECK_THAT(stopped.message(), Catch::Contains("DELETE FROM"));
  CHECK(pipeline.add(stamped(50, R"({"id":2})", 2001)).kind() == ErrorKind::Fatal);  // sticky
  CHECK(pipeline.flush_all().kind() == ErrorKind::Fatal);
  CHECK(writer.calls.empty());
}

TEST_CASE("the record before the stored offset, unchanged, is only compared; one no longer in the log skips the check") {
  const Config config = config_with(kps::testing::id_value_sink(WriteMode::Insert));
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, 50, std::nullopt, std::nullopt, LastAppliedRecord{49, 1000});
  pipeline.assign(kPartition1, 20, std::nullopt, std::nullopt, LastAppliedRecord{19, 500});
  REQUIRE(pipeline.add(stamped(49, R"({"id":1})", 1000)).is_ok());
  REQUIRE(pipeline.add(stamped(50, R"({"id":2})", 1001)).is_ok());
  RecordView after_retention = record("events", 1, 25, R"({"id":3})");  // 19..24 are gone
  after_retention.timestamp_ms = 9999;
  REQUIRE(pipeline.add(after_retention).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  REQUIRE(writer.calls.size() == 1);
  CHECK(writer.calls[0].offsets_written == std::vector<int64_t>{50, 25});
  CHECK(writer.calls[0].advances[0].expected_stored == 50);
  CHECK(pipeline.counters().records_consumed == 2);
}


TEST_CASE("pipeline does not let a late record of a revoked partition become where it is fetched from next") {
  const Config config = config_with(kps::testing::id_value_sink(WriteMode::Insert));
  ScriptedWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 3, R"({"id":1})")).is_ok());
  CHECK(pipeline.first_offset_fetched(kPartition0) == 3);
  REQUIRE(pipeline.revoke(std::vector<TopicPartition>{kPartition0}).is_ok());
  CHECK_FALSE(pipeline.first_offset_fetched(kPartition0));
  // Fetched before the revoke completed; the partition may come back with nothing stored.
  REQUIRE(pipeline.add(record("events", 0, 90, R"({"id":2})")).is_ok());
  CHECK_FALSE(pipeline.first_offset_fetched(kPartition0));
  pipeline.assign(kPartition0, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 4, R"({"id":3})")).is_ok());
  CHECK(pipeline.first_offset_fetched(kPartition0) == 4);
}
