#include "connector/catch_up.h"

#include <catch2/catch.hpp>

using namespace kps;

namespace {
const TopicPartition kP0{"events", 0};
const TopicPartition kP1{"events", 1};
const auto kNothingUnwritten = [](const TopicPartition&) { return false; };
}  // namespace

TEST_CASE("catch-up is done at once when every partition is empty") {
  CatchUpTracker tracker({{kP0, 0, 0}, {kP1, 5, 5}});
  CHECK(tracker.done());
}

TEST_CASE("catch-up finishes a partition when PostgreSQL holds an offset at its high watermark") {
  CatchUpTracker tracker({{kP0, 0, 10}, {kP1, 0, 3}});
  CHECK(tracker.remaining_records() == 13);
  tracker.note_stored(kP0, 9);
  CHECK(tracker.remaining_partitions() == 2);
  CHECK(tracker.remaining_records() == 4);
  tracker.note_stored(kP0, 10);
  tracker.note_stored(kP1, 12);  // records produced after start were applied too
  CHECK(tracker.done());
}

TEST_CASE("catch-up finishes a partition at its end only once nothing of it is unwritten") {
  CatchUpTracker tracker({{kP0, 0, 10}});
  tracker.note_partition_end(kP0, 10);  // e.g. the last offsets were transaction markers
  tracker.settle([](const TopicPartition&) { return true; });
  CHECK_FALSE(tracker.done());
  tracker.settle(kNothingUnwritten);
  CHECK(tracker.done());
}

TEST_CASE("catch-up forgets the partition ends seen before a recovery dropped what was fetched") {
  CatchUpTracker tracker({{kP0, 0, 10}, {kP1, 0, 4}});
  tracker.note_partition_end(kP0, 10);
  tracker.note_partition_end(kP1, 4);
  CHECK(tracker.all_fetched());
  tracker.forget_fetched();  // the batches of both were dropped unwritten
  CHECK_FALSE(tracker.all_fetched());
  tracker.settle(kNothingUnwritten);
  CHECK(tracker.remaining_partitions() == 2);
  tracker.note_stored(kP1, 4);
  tracker.note_partition_end(kP0, 10);  // fetched again to its end and written
  tracker.settle(kNothingUnwritten);
  CHECK(tracker.done());
}

TEST_CASE("catch-up ignores a partition end below the high watermark and unknown partitions") {
  CatchUpTracker tracker({{kP0, 0, 10}});
  tracker.note_partition_end(kP0, 6);
  tracker.note_stored(TopicPartition{"other", 0}, 100);
  tracker.settle(kNothingUnwritten);
  CHECK_FALSE(tracker.done());
}
