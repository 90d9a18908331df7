#include "connector/partition_ledger.h"

#include <catch2/catch.hpp>

using namespace kps;

namespace {

RecordView record_at(const std::string& topic, int32_t partition, int64_t offset,
                     std::optional<int64_t> timestamp_ms = std::nullopt) {
  RecordView record;
  record.topic = topic;
  record.partition = partition;
  record.offset = offset;
  record.timestamp_ms = timestamp_ms;
  return record;
}

const TopicPartition kOrders0{"orders", 0};

}  // namespace

TEST_CASE("A partition that is not owned classifies nothing and holds no facts", "[ledger]") {
  PartitionLedger ledger;
  CHECK(ledger.find("orders", 0) == nullptr);
  CHECK_FALSE(ledger.stored_next_offset(kOrders0));
  CHECK_FALSE(ledger.lane_of(kOrders0));
}

TEST_CASE("Records below the stored offset are already applied, from it on they are new", "[ledger]") {
  PartitionLedger ledger;
  ledger.own(kOrders0, PartitionStart{10, 4, std::nullopt, std::nullopt}, 2);
  PartitionFacts* facts = ledger.find("orders", 0);
  REQUIRE(facts != nullptr);
  CHECK(ledger.lane_of(kOrders0) == 2u);
  CHECK(PartitionLedger::classify(*facts, record_at("orders", 0, 3)) == Arrival::Redelivered);
  CHECK(PartitionLedger::classify(*facts, record_at("orders", 0, 4)) == Arrival::AlreadyApplied);
  PartitionLedger::consumed(*facts, 4);
  CHECK(PartitionLedger::classify(*facts, record_at("orders", 0, 4)) == Arrival::Redelivered);
  CHECK(PartitionLedger::classify(*facts, record_at("orders", 0, 10)) == Arrival::New);
}

TEST_CASE("The record a resume starts after is compared once: a new timestamp means a replaced log", "[ledger]") {
  PartitionLedger ledger;
  ledger.own(kOrders0, PartitionStart{10, std::nullopt, std::nullopt, LastAppliedRecord{9, 1000}});
  PartitionFacts* facts = ledger.find("orders", 0);
  REQUIRE(facts != nullptr);
  CHECK(facts->next_offset_to_consume == 9);  // fetched from the last applied record, for the check

  SECTION("the same record: fetched only for the check, then the log goes on") {
    CHECK(PartitionLedger::classify(*facts, record_at("orders", 0, 9, 1000)) == Arrival::CheckedOnly);
    PartitionLedger::consumed(*facts, 9);
    CHECK(PartitionLedger::classify(*facts, record_at("orders", 0, 10, 1001)) == Arrival::New);
  }
  SECTION("another timestamp at that offset: the topic was recreated") {
    LastAppliedRecord expected;
    CHECK(PartitionLedger::classify(*facts, record_at("orders", 0, 9, 5)) == Arrival::LogReplaced);
  }
  SECTION("the record is gone (retention): nothing can be compared, the first one fetched is new") {
    CHECK(PartitionLedger::classify(*facts, record_at("orders", 0, 12, 7)) == Arrival::New);
    CHECK_FALSE(facts->last_applied);
  }
  SECTION("the expected record is handed out for the error message") {
    LastAppliedRecord expected;
    CHECK(PartitionLedger::classify(*facts, record_at("orders", 0, 9), &expected) == Arrival::LogReplaced);
    CHECK(expected.offset == 9);
    CHECK(expected.timestamp_ms == 1000);
  }
}

TEST_CASE("Durable offsets are taken once, per lane, and only for owned partitions", "[ledger]") {
  PartitionLedger ledger;
  const TopicPartition orders1{"orders", 1};
  ledger.own(kOrders0, PartitionStart{}, 0);
  ledger.own(orders1, PartitionStart{}, 1);
  ledger.note_durable(kOrders0, 5);
  ledger.note_durable(orders1, 7);
  ledger.note_durable(TopicPartition{"orders", 2}, 9);  // not owned: ignored

  const auto lane1 = ledger.take_durable(1u);
  REQUIRE(lane1.size() == 1);
  CHECK(lane1[0] == std::pair<TopicPartition, int64_t>{orders1, 7});
  const auto rest = ledger.take_durable();
  REQUIRE(rest.size() == 1);
  CHECK(rest[0] == std::pair<TopicPartition, int64_t>{kOrders0, 5});
  CHECK(ledger.take_durable().empty());
  CHECK(ledger.stored_next_offset(kOrders0) == 5);
}

TEST_CASE("Forgetting a lane keeps the other lanes' partitions and where every partition was first fetched",
          "[ledger]") {
  PartitionLedger ledger;
  const TopicPartition orders1{"orders", 1};
  ledger.own(kOrders0, PartitionStart{}, 0);
  ledger.own(orders1, PartitionStart{3, std::nullopt, std::nullopt, std::nullopt}, 1);
  ledger.note_fetched("orders", 0, 42);
  ledger.note_fetched("orders", 0, 43);  // only the first counts
  ledger.forget_lane(0);
  CHECK(ledger.find(kOrders0) == nullptr);
  CHECK(ledger.first_offset_fetched(kOrders0) == 42);
  CHECK(ledger.stored_next_offset(orders1) == 3);
  CHECK(ledger.partitions_per_lane(2) == std::vector<size_t>{0, 1});

  ledger.forget(orders1);
  CHECK(ledger.find(orders1) == nullptr);
  CHECK(ledger.take_durable().empty());  // a forgotten partition's offset is released, never durable
  ledger.note_fetched("orders", 1, 8);
  ledger.forget(orders1);  // revoked: where it was first fetched goes too
  CHECK_FALSE(ledger.first_offset_fetched(orders1));
}

TEST_CASE("A revoked partition's stored offset is released once, for the revoke to commit, never later",
          "[ledger]") {
  PartitionLedger ledger;
  const TopicPartition orders1{"orders", 1};
  ledger.own(kOrders0, PartitionStart{}, 1);
  ledger.own(orders1, PartitionStart{}, 0);
  ledger.note_durable(kOrders0, 12);  // the batch flushed by the revoke
  ledger.forget(kOrders0);
  CHECK(ledger.find(kOrders0) == nullptr);
  CHECK(ledger.take_durable().empty());  // not an owned partition's offset any more
  const auto released = ledger.take_released();
  REQUIRE(released.size() == 1);
  CHECK(released[0] == std::pair<TopicPartition, int64_t>{kOrders0, 12});
  CHECK(ledger.take_released().empty());

  SECTION("an offset already taken for an asynchronous commit is released too (that commit may have failed)") {
    ledger.note_durable(orders1, 5);
    REQUIRE(ledger.take_durable().size() == 1);
    ledger.forget(orders1);
    CHECK(ledger.take_released() == std::vector<std::pair<TopicPartition, int64_t>>{{orders1, 5}});
  }
  SECTION("a lane's reset drops what its revoked partitions released") {
    ledger.note_durable(orders1, 3);
    ledger.forget(orders1);
    ledger.forget_lane(0);
    CHECK(ledger.take_released().empty());
  }
}
