#include "connector/key_reducer.h"

#include <catch2/catch.hpp>

#include "connector/decoder.h"
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

  /// The surviving (offset, op) per key, in offset order.
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
  CHECK(fixture.reduce() == Reduced{{1, RowOp::Upsert}, {3, RowOp::Upsert}});
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
  CHECK(fixture.reduce() == Reduced{{1, RowOp::Upsert}, {2, RowOp::Upsert}});
}

TEST_CASE("key reducer lists the winners in offset order, so a batch applied in parts still ends with the later record") {
  Fixture fixture(kps::testing::id_value_sink(WriteMode::Upsert));
  fixture.add(0, 1, 10);
  fixture.add(1, 2, 20);
  fixture.add(2, 3, 30);
  fixture.add(3, 1, 11);  // key 1 appeared first, but its winner is after key 2's and key 3's
  CHECK(fixture.reduce() == Reduced{{1, RowOp::Upsert}, {2, RowOp::Upsert}, {3, RowOp::Upsert}});
}

TEST_CASE("key reducer starts afresh for each batch") {
  Fixture fixture(kps::testing::id_value_sink(WriteMode::Upsert));
  fixture.add(0, 1, 10);
  CHECK(fixture.reduce().size() == 1);
  fixture.batcher.clear();
  fixture.add(1, 2, 20);
  CHECK(fixture.reduce() == Reduced{{1, RowOp::Upsert}});
}

namespace {

/// Rows decoded from JSON by the real decoder, so keys are spelled as producers spell them.
struct DecodingFixture {
  explicit DecodingFixture(SinkConfig sink_config)
      : sink(std::move(sink_config)), batcher(limits, clock), decoder(sink), reducer(sink) {}

  void upsert(int64_t offset, std::string_view json) {
    const size_t begin = batcher.tuple_buffer().size();
    const RecordView view = record("events", 0, offset, json);
    REQUIRE_FALSE(decoder.decode_value(view, batcher.tuple_buffer()).has_value());
    batcher.add_row(view, begin, false);
  }
  void tombstone(int64_t offset, std::string_view key) {
    const size_t begin = batcher.tuple_buffer().size();
    const RecordView view = record("events", 0, offset, std::nullopt, key);
    REQUIRE_FALSE(decoder.decode_tombstone_key(view, batcher.tuple_buffer()).has_value());
    batcher.add_row(view, begin, true);
  }
  Reduced reduce() {
    Reduced out;
    for (const ReducedRow& row : reducer.reduce(batcher.batch())) {
      out.emplace_back(batcher.batch().rows[row.row_index].offset, row.op);
    }
    return out;
  }

  SinkConfig sink;
  BatchConfig limits;
  ManualClock clock;
  Batcher batcher;
  Decoder decoder;
  KeyReducer reducer;
};

SinkConfig keyed_by(ColumnType key_type, WriteMode mode = WriteMode::Upsert) {
  SinkConfig sink = kps::testing::sink_with(
      {kps::testing::column("id", "/id", key_type), kps::testing::column("v", "/v", ColumnType::Text, true)}, {"id"});
  sink.mode = mode;
  sink.delete_on_tombstone = true;
  return sink;
}

}  // namespace

TEST_CASE("key reducer treats a numeric key written 1, 1.0, 1.00, 1e0 and 10e-1 as one key") {
  DecodingFixture fixture(keyed_by(ColumnType::Numeric));
  fixture.upsert(0, R"({"id": 1, "v": "a"})");
  fixture.upsert(1, R"({"id": 1.0, "v": "b"})");
  fixture.upsert(2, R"({"id": 2, "v": "other key"})");
  fixture.upsert(3, R"({"id": 1.00, "v": "c"})");
  fixture.upsert(4, R"({"id": 1e0, "v": "d"})");
  fixture.upsert(5, R"({"id": 10e-1, "v": "e"})");
  fixture.upsert(6, R"({"id": "1.000", "v": "f"})");  // a decimal string is the same number
  fixture.upsert(7, R"({"id": 1.01, "v": "a different key"})");
  CHECK(fixture.reduce() == Reduced{{2, RowOp::Upsert}, {6, RowOp::Upsert}, {7, RowOp::Upsert}});
}

TEST_CASE("key reducer lets a tombstone keyed 1 delete what an upsert keyed 1.0 wrote in the same batch") {
  DecodingFixture fixture(keyed_by(ColumnType::Numeric));
  fixture.upsert(0, R"({"id": 1.0, "v": "a"})");
  fixture.tombstone(1, "1");
  fixture.upsert(2, R"({"id": 2.50, "v": "b"})");
  fixture.tombstone(3, R"({"id": 25e-1})");
  fixture.upsert(4, R"({"id": 2.5, "v": "c"})");
  CHECK(fixture.reduce() == Reduced{{1, RowOp::Delete}, {4, RowOp::DeleteThenUpsert}});
}

TEST_CASE("key reducer treats 0.0 and -0.0 as one numeric, real and double key, and NaN as one key") {
  for (const ColumnType type : {ColumnType::Numeric, ColumnType::Real, ColumnType::Double}) {
    INFO("type " << column_type_name(type));
    DecodingFixture fixture(keyed_by(type));
    fixture.upsert(0, R"({"id": 0, "v": "a"})");
    fixture.upsert(1, R"({"id": -0.0, "v": "b"})");
    fixture.upsert(2, R"({"id": 0.0e5, "v": "c"})");
    fixture.upsert(3, R"({"id": -1, "v": "negative one"})");
    CHECK(fixture.reduce() == Reduced{{2, RowOp::Upsert}, {3, RowOp::Upsert}});
  }
  DecodingFixture numeric(keyed_by(ColumnType::Numeric));
  numeric.upsert(0, R"({"id": "NaN", "v": "a"})");
  numeric.upsert(1, R"({"id": "nan", "v": "b"})");
  CHECK(numeric.reduce() == Reduced{{1, RowOp::Upsert}});
}

TEST_CASE("key reducer treats one instant written with different offsets as one timestamptz key") {
  DecodingFixture fixture(keyed_by(ColumnType::TimestampTz));
  fixture.upsert(0, R"({"id": "2024-03-01T12:00:00Z", "v": "a"})");
  fixture.upsert(1, R"({"id": "2024-03-01T14:00:00+02:00", "v": "b"})");
  fixture.upsert(2, R"({"id": "2024-03-01 07:30:00-0430", "v": "c"})");
  fixture.upsert(3, R"({"id": 1709294400000, "v": "d"})");  // the same instant in epoch milliseconds
  fixture.tombstone(4, R"({"id": "2024-03-01T13:00:00+01"})");
  fixture.upsert(5, R"({"id": "2024-03-01T12:00:00.000001Z", "v": "one microsecond later"})");
  CHECK(fixture.reduce() == Reduced{{4, RowOp::Delete}, {5, RowOp::Upsert}});
}

TEST_CASE("key reducer treats a uuid key in upper and lower case, hyphenated or not, as one key") {
  DecodingFixture fixture(keyed_by(ColumnType::Uuid));
  fixture.upsert(0, R"({"id": "123e4567-e89b-12d3-a456-426614174000", "v": "a"})");
  fixture.upsert(1, R"({"id": "123E4567-E89B-12D3-A456-426614174000", "v": "b"})");
  fixture.upsert(2, R"({"id": "{123e4567e89b12d3a456426614174000}", "v": "c"})");
  CHECK(fixture.reduce() == Reduced{{2, RowOp::Upsert}});
}

TEST_CASE("key reducer in insert_ignore mode keeps the first record of a key, as DO NOTHING does across batches") {
  Fixture fixture(kps::testing::id_value_sink(WriteMode::InsertIgnore));
  fixture.add(0, 1, 10);
  fixture.add(1, 2, 20);
  fixture.add(2, 1, 11);
  fixture.add(3, 1, 12);
  CHECK(fixture.reduce() == Reduced{{0, RowOp::Upsert}, {1, RowOp::Upsert}});
}

TEST_CASE("key reducer in insert_ignore mode keeps the first record after the last tombstone of a key") {
  Fixture fixture(kps::testing::id_value_sink(WriteMode::InsertIgnore));
  fixture.add(0, 1, 10);
  fixture.add(1, 1, std::nullopt);
  fixture.add(2, 1, 11);  // the first record after the delete: this one is inserted
  fixture.add(3, 1, 12);
  fixture.add(4, 2, 20);
  fixture.add(5, 2, std::nullopt);
  CHECK(fixture.reduce() == Reduced{{2, RowOp::DeleteThenUpsert}, {5, RowOp::Delete}});
}

TEST_CASE("key reducer in insert_ignore mode treats a numeric key written two ways as one key") {
  DecodingFixture fixture(keyed_by(ColumnType::Numeric, WriteMode::InsertIgnore));
  fixture.upsert(0, R"({"id": 7.0, "v": "first"})");
  fixture.upsert(1, R"({"id": 7, "v": "second"})");
  CHECK(fixture.reduce() == Reduced{{0, RowOp::Upsert}});
}

namespace {

/// A Debezium route (id bigint key, a text, b text): each tuple ends with the unavailable mask.
struct DebeziumFixture {
  DebeziumFixture() : sink(debezium_sink()), batcher(limits, clock), reducer(sink) {}

  static SinkConfig debezium_sink() {
    SinkConfig route = kps::testing::sink_with({kps::testing::column("id", "/id", ColumnType::BigInt),
                                                kps::testing::column("a", "/a", ColumnType::Text, true),
                                                kps::testing::column("b", "/b", ColumnType::Text, true)},
                                               {"id"});
    route.mode = WriteMode::Upsert;
    route.format = RecordFormat::Debezium;
    return route;
  }

  /// An upsert of (id, a, b) with this mask (nullopt: none); a nullopt value is NULL.
  void upsert(int64_t offset, int64_t id, std::optional<std::string> a, std::optional<std::string> b,
              std::optional<std::string> mask = std::nullopt) {
    CopyBuffer& tuples = batcher.tuple_buffer();
    const size_t begin = tuples.size();
    tuples.begin_tuple(4);
    tuples.append_int64(id);
    for (const auto& value : {a, b, mask}) {
      if (value) {
        tuples.append_bytes(*value);
      } else {
        tuples.append_null();
      }
    }
    batcher.add_row(record("events", 0, offset, "{}"), begin, false);
  }

  void remove(int64_t offset, int64_t id) {
    CopyBuffer& tuples = batcher.tuple_buffer();
    const size_t begin = tuples.size();
    tuples.begin_tuple(4);
    tuples.append_int64(id);
    for (int field = 0; field < 3; ++field) tuples.append_null();
    batcher.add_row(record("events", 0, offset, "{}"), begin, true);
  }

  /// Per surviving row: offset, op, and the written tuple's a, b and mask ("NULL" for NULL).
  std::vector<std::string> reduce() {
    std::vector<std::string> out;
    const auto text = [](std::optional<std::string_view> value) {
      return value ? std::string(*value) : std::string("NULL");
    };
    for (const ReducedRow& row : reducer.reduce(batcher.batch())) {
      const std::string_view tuple = reduced_tuple(batcher.batch(), row);
      out.push_back(std::to_string(batcher.batch().rows[row.row_index].offset) + " " +
                    std::to_string(static_cast<int>(row.op)) + " " + text(tuple_field(tuple, 1)) + " " +
                    text(tuple_field(tuple, 2)) + " " + text(tuple_field(tuple, 3)));
    }
    return out;
  }

  SinkConfig sink;
  BatchConfig limits;
  ManualClock clock;
  Batcher batcher;
  KeyReducer reducer;
};

using Written = std::vector<std::string>;

}  // namespace

TEST_CASE("key reducer gives a surviving Debezium row the value an earlier row of its key had for an unavailable column") {
  DebeziumFixture fixture;
  fixture.upsert(0, 1, "a0", "created-b");  // c: every value known
  fixture.upsert(1, 1, "a1", std::nullopt, "001");  // u: b unchanged and TOASTed
  CHECK(fixture.reduce() == Written{"1 0 a1 created-b NULL"});
}

TEST_CASE("key reducer takes the latest earlier real value and keeps a column no earlier row knew unavailable") {
  DebeziumFixture fixture;
  fixture.upsert(0, 1, "a0", "b0", "010");   // a unavailable here too
  fixture.upsert(1, 1, "a1", "b1");
  fixture.upsert(2, 1, std::nullopt, "b2", "010");
  fixture.upsert(3, 1, std::nullopt, std::nullopt, "011");
  fixture.upsert(4, 2, "x", std::nullopt, "001");  // another key: nothing earlier to take
  CHECK(fixture.reduce() == Written{"3 0 a1 b2 NULL", "4 0 x NULL 001"});
}

TEST_CASE("key reducer leaves a mask char set when only some earlier rows knew other columns") {
  DebeziumFixture fixture;
  fixture.upsert(0, 1, "a0", std::nullopt, "001");
  fixture.upsert(1, 1, std::nullopt, std::nullopt, "011");
  CHECK(fixture.reduce() == Written{"1 0 a0 NULL 001"});
}

TEST_CASE("key reducer takes no value from before the key's last delete") {
  DebeziumFixture fixture;
  fixture.upsert(0, 1, "a0", "b0");
  fixture.remove(1, 1);
  fixture.upsert(2, 1, "a2", std::nullopt, "001");
  CHECK(fixture.reduce() == Written{"2 1 a2 NULL 001"});
}

TEST_CASE("key reducer writes a Debezium row without a mask as it came") {
  DebeziumFixture fixture;
  fixture.upsert(0, 1, "a0", "b0");
  fixture.upsert(1, 1, "a1", "b1");
  const std::vector<ReducedRow>& rows = fixture.reducer.reduce(fixture.batcher.batch());
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].merged_tuple.empty());
}

TEST_CASE("key reducer takes no value from a row PostgreSQL refused") {
  DebeziumFixture fixture;
  fixture.upsert(0, 1, "a0", "b0");
  fixture.upsert(1, 1, "a1", std::nullopt, "001");
  const std::vector<bool> excluded = {true, false};
  const std::vector<ReducedRow>& rows = fixture.reducer.reduce(fixture.batcher.batch(), &excluded);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].row_index == 1);
  CHECK(rows[0].merged_tuple.empty());
}
