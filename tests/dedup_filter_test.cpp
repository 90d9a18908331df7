#include "connector/dedup_filter.h"

#include <catch2/catch.hpp>

#include "tests/test_support.h"

#include <map>
#include <set>
#include <string>

using namespace kps;

namespace {

using RecordingIndex = kps::testing::FakeDedup;

constexpr int64_t kNow = 1'700'000'000;

DedupFilter make_filter(RecordingIndex& index) {
  return DedupFilter(0, std::chrono::seconds(3600), index, [] { return kNow; });
}

}  // namespace

TEST_CASE("An identity recorded as applied is a duplicate, unless the state is not trusted there", "[dedup_filter]") {
  RecordingIndex index;
  index.known.insert({0, "a"});
  DedupFilter filter = make_filter(index);
  std::string_view stored;
  CHECK(filter.claim("a", /*trust_store=*/true, nullptr, stored) == DedupClaim::Duplicate);
  CHECK(filter.claim("a", /*trust_store=*/false, nullptr, stored) == DedupClaim::Claimant);
  CHECK(stored == "a");
  CHECK(filter.claim("", true, nullptr, stored) == DedupClaim::None);
  CHECK(stored.empty());
}

TEST_CASE("A second record of an identity in one batch waits on the first", "[dedup_filter]") {
  RecordingIndex index;
  DedupFilter filter = make_filter(index);
  std::string_view stored;
  CHECK(filter.claim("x", true, nullptr, stored) == DedupClaim::Claimant);
  filter.note_row(stored, DedupClaim::Claimant);
  CHECK(filter.claim("x", true, nullptr, stored) == DedupClaim::PendingOnBatch);
  filter.note_row(stored, DedupClaim::PendingOnBatch);

  BatchClaims write;
  filter.hand_over(write);
  REQUIRE(write.claims.size() == 2);
  CHECK(write.any_left_out());
  SECTION("the first is written: the second is a duplicate once the write commits") {
    std::vector<bool> duplicates;
    CHECK(write.mark_duplicates(duplicates, 2) == 1);
    CHECK(duplicates == std::vector<bool>{false, true});
  }
  SECTION("the first is refused: the second takes its place") {
    write.give_up({true, false});
    CHECK(write.claims == std::vector<DedupClaim>{DedupClaim::None, DedupClaim::Claimant});
    CHECK(write.identities.contains("x"));
  }
}

TEST_CASE("A record whose identity the write in flight claims waits for that write's fate", "[dedup_filter]") {
  RecordingIndex index;
  DedupFilter filter = make_filter(index);
  std::string_view stored;
  REQUIRE(filter.claim("y", true, nullptr, stored) == DedupClaim::Claimant);
  filter.note_row(stored, DedupClaim::Claimant);
  BatchClaims in_flight;
  filter.hand_over(in_flight);

  REQUIRE(filter.claim("y", true, &in_flight, stored) == DedupClaim::PendingOnInFlight);
  filter.note_row(stored, DedupClaim::PendingOnInFlight);
  SECTION("it applied the identity: dropped, and recorded only after the commit") {
    CHECK(index.known.empty());
    filter.record_applied(in_flight.identities, {{TopicPartition{"t", 0}, 5}});
    CHECK(index.known.count({0, "y"}) == 1);
    CHECK(index.markers[TopicPartition{"t", 0}] == 5);
    CHECK(filter.judge_pending(in_flight.identities) == 1);
  }
  SECTION("it did not apply it (refused): the waiting record claims it") {
    CHECK(filter.judge_pending(IdentitySet{}) == 0);
    BatchClaims next;
    filter.hand_over(next);
    CHECK(next.claims == std::vector<DedupClaim>{DedupClaim::Claimant});
    CHECK(next.identities.contains("y"));
  }
}

TEST_CASE("Replayed identities within the TTL are learnt and recorded with their markers", "[dedup_filter]") {
  RecordingIndex index;
  DedupFilter filter = make_filter(index);
  CHECK(filter.within_ttl(std::nullopt));
  CHECK(filter.within_ttl((kNow - 10) * 1000));
  CHECK_FALSE(filter.within_ttl((kNow - 7200) * 1000));
  filter.learn("old-event");
  filter.note_replayed(TopicPartition{"t", 1}, 7);
  filter.note_replayed(TopicPartition{"t", 1}, 4);  // never lowered
  std::string_view stored;
  CHECK(filter.claim("old-event", true, nullptr, stored) == DedupClaim::Duplicate);
  filter.record_replayed();
  CHECK(index.known.count({0, "old-event"}) == 1);
  CHECK(index.markers[TopicPartition{"t", 1}] == 7);
  filter.record_replayed();  // nothing new: no write
  CHECK(index.updates == 1);
}
