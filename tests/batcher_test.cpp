#include "connector/batcher.h"

#include <catch2/catch.hpp>

#include "tests/test_support.h"

using namespace kps;
using kps::testing::ManualClock;
using kps::testing::record;

namespace {

void add_one_field_row(Batcher& batcher, const RecordView& view, int64_t value) {
  CopyBuffer& tuples = batcher.tuple_buffer();
  const size_t begin = tuples.size();
  tuples.begin_tuple(1);
  tuples.append_int64(value);
  batcher.add_row(view, begin, false);
}

}  // namespace

TEST_CASE("batcher closes a batch when it reaches max_rows") {
  BatchConfig limits;
  limits.max_rows = 3;
  ManualClock clock;
  Batcher batcher(limits, clock);
  add_one_field_row(batcher, record("t", 0, 10, "{}"), 1);
  add_one_field_row(batcher, record("t", 0, 11, "{}"), 2);
  CHECK_FALSE(batcher.full());
  add_one_field_row(batcher, record("t", 0, 12, "{}"), 3);
  CHECK(batcher.full());
  REQUIRE(batcher.batch().rows.size() == 3);
  CHECK(batcher.batch().rows[2].offset == 12);
}

TEST_CASE("batcher closes a batch when its message bytes reach max_bytes") {
  BatchConfig limits;
  limits.max_bytes = 10;
  ManualClock clock;
  Batcher batcher(limits, clock);
  add_one_field_row(batcher, record("t", 0, 0, "12345"), 1);
  CHECK_FALSE(batcher.full());
  add_one_field_row(batcher, record("t", 0, 1, "12", std::string_view("abc")), 2);
  CHECK(batcher.full());  // 5 + 2 value bytes + 3 key bytes
}

TEST_CASE("batcher counts header names and values toward max_bytes") {
  BatchConfig limits;
  limits.max_bytes = 20;
  ManualClock clock;
  Batcher batcher(limits, clock);
  const RecordHeader headers[] = {{"trace", std::string_view("abcdef")}, {"nil", std::nullopt}};
  RecordView view = record("t", 0, 0, "1234");
  view.headers = headers;
  add_one_field_row(batcher, view, 1);
  CHECK(batcher.batch().message_bytes == 4 + 5 + 6 + 3);
  CHECK_FALSE(batcher.full());
  add_one_field_row(batcher, record("t", 0, 1, "12"), 2);
  CHECK(batcher.full());  // 18 + 2: without its headers the first record would weigh 4
}

TEST_CASE("batcher closes a batch when its oldest row passes max_latency") {
  BatchConfig limits;
  limits.max_latency = std::chrono::milliseconds(250);
  ManualClock clock;
  Batcher batcher(limits, clock);
  CHECK_FALSE(batcher.time_until_due().has_value());
  add_one_field_row(batcher, record("t", 0, 0, "{}"), 1);
  clock.advance(std::chrono::milliseconds(100));
  add_one_field_row(batcher, record("t", 0, 1, "{}"), 2);  // a younger record does not restart the clock
  CHECK(*batcher.time_until_due() == std::chrono::milliseconds(150));
  CHECK_FALSE(batcher.due());
  clock.advance(std::chrono::milliseconds(150));
  CHECK(batcher.due());
  CHECK(*batcher.time_until_due() == std::chrono::milliseconds(0));
}

TEST_CASE("batcher tracks each partition's first and next offset") {
  BatchConfig limits;
  ManualClock clock;
  Batcher batcher(limits, clock);
  add_one_field_row(batcher, record("t", 0, 5, "{}"), 1);
  add_one_field_row(batcher, record("t", 1, 40, "{}"), 2);
  add_one_field_row(batcher, record("t", 0, 9, "{}"), 3);  // offsets 6-8 were compacted away
  batcher.add_without_row(record("t", 1, 41, "{}"));
  const TableBatch& batch = batcher.batch();
  REQUIRE(batch.partitions.size() == 2);
  CHECK(batch.partitions[0].topic_partition == TopicPartition{"t", 0});
  CHECK(batch.partitions[0].first_offset == 5);
  CHECK(batch.partitions[0].next_offset == 10);
  CHECK(batch.partitions[1].next_offset == 42);
  CHECK(batch.rows[2].partition_slot == 0);
  CHECK(batcher.holds(TopicPartition{"t", 1}));
  CHECK_FALSE(batcher.holds(TopicPartition{"t", 2}));
}

TEST_CASE("batcher clear empties the batch and its deadline") {
  BatchConfig limits;
  ManualClock clock;
  Batcher batcher(limits, clock);
  add_one_field_row(batcher, record("t", 0, 0, "{}"), 1);
  batcher.clear();
  CHECK(batcher.batch().empty());
  CHECK(batcher.batch().rows.empty());
  CHECK(batcher.batch().tuples.size() == 0);
  CHECK_FALSE(batcher.time_until_due().has_value());
}
