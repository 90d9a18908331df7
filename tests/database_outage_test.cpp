#include "connector/database_outage.h"

#include <catch2/catch.hpp>

#include "tests/test_support.h"

using kps::DatabaseOutage;
using kps::RetryConfig;
using kps::testing::ManualClock;
using std::chrono::milliseconds;

namespace {

RetryConfig retry(int64_t give_up_after_ms) {
  RetryConfig config;
  config.initial_backoff = milliseconds(100);
  config.max_backoff = milliseconds(1600);
  config.give_up_after = milliseconds(give_up_after_ms);
  return config;
}

}  // namespace

TEST_CASE("an outage lasts from the first failure across reconnects that succeed until a batch commits") {
  ManualClock clock;
  DatabaseOutage outage(clock, retry(3000), milliseconds(5250), 1);
  CHECK_FALSE(outage.ongoing());
  outage.note_failure();  // the write failed: read-only
  for (int cycle = 0; cycle < 5; ++cycle) {
    clock.advance(milliseconds(500));  // reconnected, re-fetched, and the write failed again
    outage.note_nothing_to_write(false);
    outage.note_failure();
  }
  CHECK(outage.elapsed() == milliseconds(2500));
  CHECK_FALSE(outage.exhausted());
  clock.advance(milliseconds(500));
  CHECK(outage.exhausted());
  outage.note_committed();
  CHECK_FALSE(outage.ongoing());
  CHECK_FALSE(outage.exhausted());
  CHECK(outage.elapsed() == milliseconds(0));
}

TEST_CASE("the backoff keeps growing over one outage and starts from its first step after a commit") {
  ManualClock clock;
  DatabaseOutage outage(clock, retry(0), milliseconds(5250), 42);
  const int64_t steps[] = {100, 200, 400, 800, 1600, 1600};
  for (const int64_t step : steps) {
    outage.note_failure();  // each attempt: a new failure of the same outage
    const int64_t delay = outage.next_delay().count();
    CHECK(delay >= step / 2);
    CHECK(delay <= step);
  }
  CHECK(outage.attempts() == 6);
  outage.note_committed();
  outage.note_failure();
  CHECK(outage.next_delay().count() <= 100);
  CHECK(outage.attempts() == 1);
}

TEST_CASE("retry.give_up_after_ms of 0 never gives up") {
  ManualClock clock;
  DatabaseOutage outage(clock, retry(0), milliseconds(5250), 7);
  outage.note_failure();
  clock.advance(milliseconds(24 * 3600 * 1000));
  CHECK(outage.ongoing());
  CHECK_FALSE(outage.exhausted());
}

TEST_CASE("a reconnected daemon with nothing to write for the quiet period ends the outage") {
  ManualClock clock;
  DatabaseOutage outage(clock, retry(60000), milliseconds(5250), 3);
  outage.note_failure();
  outage.next_delay();
  clock.advance(milliseconds(1000));
  outage.note_nothing_to_write(true);  // reconnected, nothing fetched yet
  clock.advance(milliseconds(3000));
  outage.note_nothing_to_write(false);  // records re-fetched: a batch is waiting
  clock.advance(milliseconds(3000));
  outage.note_nothing_to_write(true);
  clock.advance(milliseconds(5000));
  outage.note_nothing_to_write(true);
  CHECK(outage.ongoing());  // quiet for 5 s only since the batch was written
  clock.advance(milliseconds(250));
  outage.note_nothing_to_write(true);
  CHECK_FALSE(outage.ongoing());
  CHECK(outage.attempts() == 0);  // the next outage backs off from the first step
}

TEST_CASE("an idle daemon that never failed has no outage to end") {
  ManualClock clock;
  DatabaseOutage outage(clock, retry(1000), milliseconds(5250), 3);
  outage.note_nothing_to_write(true);
  clock.advance(milliseconds(10000));
  outage.note_nothing_to_write(true);
  CHECK_FALSE(outage.ongoing());
  outage.note_failure();
  CHECK(outage.elapsed() == milliseconds(0));
}
