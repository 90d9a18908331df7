#include "connector/stuck_write_watch.h"

#include <catch2/catch.hpp>

#include "tests/test_support.h"

using kps::StuckWriteWatch;
using kps::testing::ManualClock;
using std::chrono::milliseconds;

TEST_CASE("a write in flight past the threshold is stuck, and is warned about at once and then every 30 s") {
  ManualClock clock;
  StuckWriteWatch watch(milliseconds(30000), milliseconds(30000));
  CHECK(watch.observe(std::nullopt, clock.now()).age_seconds == 0);
  const auto started = clock.now();
  clock.advance(milliseconds(29000));
  auto verdict = watch.observe(started, clock.now());
  CHECK(verdict.age_seconds == Approx(29.0));
  CHECK_FALSE(verdict.stuck);
  CHECK_FALSE(verdict.warn);
  int warnings = 0;
  for (int second = 30; second <= 120; ++second) {
    clock.advance(milliseconds(1000));
    verdict = watch.observe(started, clock.now());
    CHECK(verdict.stuck);
    if (verdict.warn) ++warnings;
    if (second == 30) CHECK(verdict.warn);
  }
  CHECK(warnings == 4);  // at 30, 60, 90 and 120 s
}

TEST_CASE("a new write that is stuck again is warned about at once, and a finished one reads 0") {
  ManualClock clock;
  StuckWriteWatch watch(milliseconds(1500), milliseconds(30000));
  const auto first = clock.now();
  clock.advance(milliseconds(2000));
  CHECK(watch.observe(first, clock.now()).warn);
  clock.advance(milliseconds(2000));  // ended with lock_timeout; retried
  const auto second = clock.now();
  const auto idle = watch.observe(std::nullopt, clock.now());
  CHECK(idle.age_seconds == 0);
  CHECK_FALSE(idle.stuck);
  clock.advance(milliseconds(1600));
  const auto verdict = watch.observe(second, clock.now());
  CHECK(verdict.stuck);
  CHECK(verdict.warn);
}
