#include "connector/lane_router.h"

#include <catch2/catch.hpp>

using kps::LaneRouter;
using kps::TopicPartition;

TEST_CASE("lane router pins each new partition to the least-loaded lane, the lowest on a tie") {
  LaneRouter router(4);
  for (int32_t partition = 0; partition < 10; ++partition) {
    CHECK(router.pin({"orders", partition}, false) == static_cast<size_t>(partition % 4));
  }
  CHECK(router.load(0) == 3);
  CHECK(router.load(1) == 3);
  CHECK(router.load(2) == 2);
  CHECK(router.load(3) == 2);
  CHECK(router.lane_of("orders", 9) == 1u);
  CHECK(router.lane_of("orders", 10) == std::nullopt);
  CHECK(router.lane_of("payments", 0) == std::nullopt);
}

TEST_CASE("lane router keeps a partition on its lane while it is owned, pinned again or not") {
  LaneRouter router(3);
  const size_t lane = router.pin({"orders", 5}, false);
  router.pin({"orders", 6}, false);
  router.pin({"orders", 7}, false);
  // A recovery assigns the partitions it still owns again: same lane, same load.
  CHECK(router.pin({"orders", 5}, false) == lane);
  CHECK(router.pin({"orders", 5}, true) == lane);
  CHECK(router.load(0) + router.load(1) + router.load(2) == 3);
}

TEST_CASE("lane router frees a revoked partition's place, and the next partition takes that lane") {
  LaneRouter router(2);
  router.pin({"a", 0}, false);  // lane 0
  router.pin({"a", 1}, false);  // lane 1
  router.pin({"a", 2}, false);  // lane 0
  router.unpin({"a", 0});
  router.unpin({"a", 2});
  CHECK(router.lane_of(TopicPartition{"a", 0}) == std::nullopt);
  CHECK(router.load(0) == 0);
  CHECK(router.load(1) == 1);
  CHECK(router.pin({"b", 0}, false) == 0u);
  // Unpinning what is not pinned changes nothing.
  router.unpin({"a", 0});
  router.unpin({"zzz", 3});
  CHECK(router.load(0) == 1);
  CHECK(router.load(1) == 1);
}

TEST_CASE("lane router puts every partition of a dedup sink on lane 0, however loaded") {
  LaneRouter router(4);
  for (int32_t partition = 0; partition < 6; ++partition) CHECK(router.pin({"deduped", partition}, true) == 0u);
  CHECK(router.load(0) == 6);
  // Other partitions spread over the rest first.
  CHECK(router.pin({"plain", 0}, false) == 1u);
  CHECK(router.pin({"plain", 1}, false) == 2u);
  CHECK(router.pin({"plain", 2}, false) == 3u);
}

TEST_CASE("lane router with one lane routes everything to lane 0") {
  LaneRouter router(1);
  CHECK(router.pin({"a", 0}, false) == 0u);
  CHECK(router.pin({"b", 7}, false) == 0u);
  CHECK(router.lane_of("b", 7) == 0u);
  CHECK(router.lanes() == 1u);
}
