#include "connector/offsets_plan.h"

#include <catch2/catch.hpp>

#include <array>
#include <string_view>

using namespace kps;

namespace {

Result<OffsetsRequest> parse(std::initializer_list<std::string_view> arguments) {
  const std::vector<std::string_view> list(arguments);
  return parse_offsets_arguments(list);
}

PartitionOffsets partition(int32_t number, std::optional<int64_t> stored, std::optional<int64_t> committed,
                           int64_t log_start, int64_t high) {
  return PartitionOffsets{TopicPartition{"orders", number}, stored, committed, log_start, high};
}

}  // namespace

TEST_CASE("offsets show takes an optional topic and nothing a reset needs") {
  auto all = parse({"show"});
  REQUIRE(all);
  CHECK(all.value().action == OffsetsRequest::Action::Show);
  CHECK_FALSE(all.value().topic);
  auto one = parse({"show", "--topic", "orders"});
  REQUIRE(one);
  CHECK(one.value().topic == "orders");
  CHECK_FALSE(parse({"show", "--to-earliest"}));
  CHECK_FALSE(parse({"show", "--execute"}));
  CHECK_FALSE(parse({"show", "--topic"}));
}

TEST_CASE("offsets reset needs a topic and exactly one target") {
  auto request = parse({"reset", "--topic", "orders", "--partition", "3", "--to-offset", "42"});
  REQUIRE(request);
  CHECK(request.value().action == OffsetsRequest::Action::Reset);
  CHECK(request.value().partition == 3);
  CHECK(request.value().target == ResetTarget::Offset);
  CHECK(request.value().offset == 42);
  CHECK_FALSE(request.value().execute);
  CHECK(parse({"reset", "--topic", "orders", "--to-latest", "--execute"}).value().execute);

  CHECK_FALSE(parse({"reset", "--to-earliest"}));                                    // no topic
  CHECK_FALSE(parse({"reset", "--topic", "orders"}));                                // no target
  CHECK_FALSE(parse({"reset", "--topic", "orders", "--to-earliest", "--to-latest"}));  // two targets
  CHECK_FALSE(parse({"reset", "--topic", "orders", "--to-offset", "-1"}));
  CHECK_FALSE(parse({"reset", "--topic", "orders", "--to-offset", "12x"}));
  CHECK_FALSE(parse({"reset", "--topic", "orders", "--partition", "-2", "--to-latest"}));
  CHECK_FALSE(parse({"reset", "--topic", "orders", "--to-timestamp", "yesterday"}));
  CHECK_FALSE(parse({"rewind"}));
  CHECK_FALSE(parse({}));
}

TEST_CASE("a reset timestamp is an instant with a zone, or epoch milliseconds") {
  CHECK(parse_reset_timestamp("2026-01-01T00:00:00Z") == 1767225600000);
  CHECK(parse_reset_timestamp("2026-01-01T02:00:00+02:00") == 1767225600000);
  CHECK(parse_reset_timestamp("2026-01-01T00:00:00.250Z") == 1767225600250);
  CHECK(parse_reset_timestamp("1767225600000") == 1767225600000);
  CHECK(parse_reset_timestamp("1999-12-31T23:59:59.9995Z") == 946684799999);
  // Without a zone the instant is not known: refused rather than guessed.
  CHECK_FALSE(parse_reset_timestamp("2026-01-01T00:00:00"));
  CHECK_FALSE(parse_reset_timestamp("2026-13-01T00:00:00Z"));
}

TEST_CASE("a reset plans each partition's new offset from the log's bounds") {
  const std::array partitions = {partition(0, 10, 10, 0, 10), partition(1, std::nullopt, 4, 2, 7)};
  OffsetsRequest request;
  request.action = OffsetsRequest::Action::Reset;

  request.target = ResetTarget::Earliest;
  auto earliest = plan_reset(partitions, request);
  REQUIRE(earliest);
  REQUIRE(earliest.value().size() == 2);
  CHECK(earliest.value()[0].new_offset == 0);
  CHECK(earliest.value()[1].new_offset == 2);

  request.target = ResetTarget::Latest;
  auto latest = plan_reset(partitions, request);
  REQUIRE(latest);
  CHECK(latest.value()[0].new_offset == 10);
  CHECK(latest.value()[1].new_offset == 7);

  request.target = ResetTarget::Timestamp;
  const std::array<std::optional<int64_t>, 2> by_time = {4, std::nullopt};
  auto timed = plan_reset(partitions, request, by_time);
  REQUIRE(timed);
  CHECK(timed.value()[0].new_offset == 4);
  CHECK(timed.value()[1].new_offset == 7);  // no record that recent: the end of the log
}

TEST_CASE("a reset outside a partition's log is refused for every such partition, and nothing is planned") {
  const std::array partitions = {partition(0, 10, 10, 0, 10), partition(1, 5, 5, 6, 20)};
  OffsetsRequest request;
  request.action = OffsetsRequest::Action::Reset;
  request.target = ResetTarget::Offset;

  request.offset = 5;  // below the log start of partition 1
  auto refused = plan_reset(partitions, request);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.status().message(), Catch::Contains("topic=orders partition=1: offset 5 is outside the log"));
  CHECK_THAT(refused.status().message(), Catch::Contains("offsets 6 up to 20"));
  CHECK_THAT(refused.status().message(), !Catch::Contains("partition=0"));
  request.offset = 11;
  refused = plan_reset(partitions, request);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.status().message(), Catch::Contains("topic=orders partition=0: offset 11 is outside the log"));
  request.offset = 8;
  auto accepted = plan_reset(partitions, request);
  REQUIRE(accepted);
  CHECK(accepted.value()[0].new_offset == 8);
  CHECK(accepted.value()[1].new_offset == 8);
}

TEST_CASE("the show table gives every offset of a partition and its lag from the stored offset") {
  const std::array partitions = {partition(0, 7, 5, 0, 10), partition(1, std::nullopt, 4, 2, 7),
                                 partition(2, std::nullopt, std::nullopt, 2, 7)};
  const std::string table = render_offsets_table(partitions);
  CHECK(table ==
        "TOPIC   PARTITION  STORED  COMMITTED  LOG-START  HIGH-WATERMARK  LAG\n"
        "orders  0          7       5          0          10              3\n"
        "orders  1          -       4          2          7               3\n"
        "orders  2          -       -          2          7               5\n");
}

TEST_CASE("the reset plan names each partition's current offsets and its new one") {
  const std::array moves = {PlannedMove{partition(0, 7, 5, 0, 10), 0}};
  CHECK(render_reset_plan(moves) ==
        "TOPIC   PARTITION  STORED  COMMITTED  LOG-START  HIGH-WATERMARK  NEW-OFFSET\n"
        "orders  0          7       5          0          10              0\n");
}
