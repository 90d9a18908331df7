#include "connector/key_reducer.h"

#include <catch2/catch.hpp>

#include "tests/test_support.h"

using namespace kps;
using kps::testing::ManualClock;
using kps::testing::record;

namespace {

struct Fixture {
  explicit Fixture(SinkConfig sink_config) : sink(std::move(sink_config)), batcher(limits, clock), reducer(sink) {}

  /// Appends a row (id, v); `v` nullopt makes a tombstone-shaped row (key only).
  void add(int64_t offset, int64_t id, std::optional<int64_t> v) {
    CopyBuffer& tuples = batcher.tuple_buffer();
    const size_t begin = tuples.size();
    tuples.begin_tuple(2);
    tuples.append_int64(id);
    if (v) {
      tuples.append_int64(*v);
    } else {
      tuples.append_null();
    }
    batcher.add_row(record("events", 0, offset, "{}"), begin, !v.has_value());
  }

  /// The surviving (offset, op) per key in order of first appearance.
  std::vector<std::pair<int64_t, RowOp>> reduce() {
    std::vector<std::pair<int64_t, RowOp>> out;
    for (const ReducedRow& row : reducer.reduce(batcher.batch())) {
      out.emplace_back(batcher.batch().rows[row.row_index].offset, row.op);
    }
    return out;
  }

  SinkConfig sink;
  BatchConfig limits;
  ManualClock clock;
  Batcher batcher;
  KeyReducer reducer;
};

using Reduced = std::vector<std::pair<int64_t, RowOp>>;

}  // namespace

TEST_CASE("key reducer keeps the last record per key by offset") {
  Fixture fixture(kps::testing::id_value_sink(WriteMode::Upsert));
  fixture.add(0, 1, 10);
  fixture.add(1, 2, 20);
  fixture.add(2, 1, 11);
  fixture.add(3, 1, 12);
  CHECK(fixture.reduce() == Reduced{{3, RowOp::Upsert}, {1, RowOp::Upsert}});
}

TEST_CASE("key reducer keeps the greatest upsert_when_newer value, the later one on ties") {
  SinkConfig sink = kps::testing::id_value_sink(WriteMode::Upsert);
  sink.columns[1].nullable = false;
  sink.upsert_when_newer = "v";
  sink.newer_column = 1;
  Fixture fixture(sink);
  fixture.add(0, 1, 50);
  fixture.add(1, 1, 70);
  fixture.add(2, 1, 60);  // out of order: older than 70
  fixture.add(3, 2, -5);
  fixture.add(4, 2, -5);  // tie: the later record wins
  CHECK(fixture.reduce() == Reduced{{1, RowOp::Upsert}, {4, RowOp::Upsert}});
}

TEST_CASE("key reducer orders tombstones with the upserts of the same key") {
  Fixture fixture(kps::testing::id_value_sink(WriteMode::Upsert));
  fixture.add(0, 1, 10);            // key 1: upsert, delete -> delete
  fixture.add(1, 1, std::nullopt);
  fixture.add(2, 2, std::nullopt);  // key 2: delete, upsert -> delete then upsert
  fixture.add(3, 2, 20);
  fixture.add(4, 3, 30);            // key 3: upsert, delete, upsert -> delete then the last upsert
  fixture.add(5, 3, std::nullopt);
  fixture.add(6, 3, 31);
  CHECK(fixture.reduce() == Reduced{{1, RowOp::Delete}, {3, RowOp::DeleteThenUpsert}, {6, RowOp::DeleteThenUpsert}});
}

TEST_CASE("key reducer after a tombstone lets an older upsert_when_newer value win") {
  SinkConfig sink = kps::testing::id_value_sink(WriteMode::Upsert);
  sink.columns[1].nullable = false;
  sink.upsert_when_newer = "v";
  sink.newer_column = 1;
  Fixture fixture(sink);
  fixture.add(0, 1, 90);
  fixture.add(1, 1, std::nullopt);
  fixture.add(2, 1, 10);  // the row was deleted: this one stands even though 10 < 90
  CHECK(fixture.reduce() == Reduced{{2, RowOp::DeleteThenUpsert}});
}

TEST_CASE("key reducer compares every column of a composite key") {
  SinkConfig sink = kps::testing::id_value_sink(WriteMode::Upsert);
  sink.primary_key = {"id", "v"};
  sink.primary_key_columns = {0, 1};
  Fixture fixture(sink);
  fixture.add(0, 1, 1);
  fixture.add(1, 1, 2);
  fixture.add(2, 1, 1);
  CHECK(fixture.reduce() == Reduced{{2, RowOp::Upsert}, {1, RowOp::Upsert}});
}

TEST_CASE("key reducer starts afresh for each batch") {
  Fixture fixture(kps::testing::id_value_sink(WriteMode::Upsert));
  fixture.add(0, 1, 10);
  CHECK(fixture.reduce().size() == 1);
  fixture.batcher.clear();
  fixture.add(1, 2, 20);
  CHECK(fixture.reduce() == Reduced{{1, RowOp::Upsert}});
}
