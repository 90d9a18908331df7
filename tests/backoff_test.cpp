#include "connector/backoff.h"

#include <catch2/catch.hpp>

using kps::Backoff;
using std::chrono::milliseconds;

TEST_CASE("backoff doubles each step within half-to-full jitter and stays under its cap") {
  Backoff backoff(milliseconds(100), milliseconds(1000), 42);
  const int64_t steps[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (const int64_t step : steps) {
    const int64_t delay = backoff.next_delay().count();
    CHECK(delay >= step / 2);
    CHECK(delay <= step);
  }
  CHECK(backoff.attempts() == 7);
}

TEST_CASE("backoff starts again from the first step after reset") {
  Backoff backoff(milliseconds(100), milliseconds(10000), 7);
  for (int i = 0; i < 5; ++i) backoff.next_delay();
  backoff.reset();
  CHECK(backoff.next_delay().count() <= 100);
}

TEST_CASE("backoff with the same seed gives the same delays") {
  Backoff first(milliseconds(10), milliseconds(5000), 1234);
  Backoff second(milliseconds(10), milliseconds(5000), 1234);
  for (int i = 0; i < 10; ++i) CHECK(first.next_delay() == second.next_delay());
}
