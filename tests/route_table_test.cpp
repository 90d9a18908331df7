// Routes: static sinks are routes from the start (route i == sink i when every sink is
// static); a template or columns-by-name sink's topic is routed on its first record
// through the connector's resolver, its rows written under the route's index, and
// routing that fails stores and batches nothing of the record.

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "connector/pipeline.h"
#include "connector/route_table.h"
#include "tests/test_support.h"

using namespace kps;
using kps::testing::column;
using kps::testing::ManualClock;
using kps::testing::record;

namespace {

/// Records which route each write was for, and the row count.
class RouteRecordingWriter final : public TableWriter {
 public:
  Status write(const WriteRequest& request) override {
    writes.emplace_back(request.sink_index, request.rows.size());
    return Status::ok();
  }
  std::vector<std::pair<size_t, size_t>> writes;  // (route index, rows)
};

SinkConfig static_sink(std::string topic, std::string table) {
  SinkConfig sink = kps::testing::sink_with({column("id", "/id", ColumnType::BigInt)});
  sink.topic = std::move(topic);
  sink.table = {"public", std::move(table)};
  return sink;
}

SinkConfig by_name_sink(std::string pattern, std::string table_template) {
  SinkConfig sink;
  sink.topic_pattern = std::move(pattern);
  sink.table_template = std::move(table_template);
  sink.columns_by_name = true;
  return sink;
}

/// The route a resolver publishes for a by-name sink: one column per field name.
SinkConfig route_for(const SinkConfig& sink, std::string table, std::vector<std::string> fields) {
  SinkConfig route = sink;
  route.table_template.clear();
  route.table = {"public", std::move(table)};
  for (std::string& field : fields) route.columns.push_back(column(field, "/" + field, ColumnType::Text, true));
  return route;
}

}  // namespace

TEST_CASE("static sinks are the first routes, in sink order, and other sinks have none until routed") {
  Config config;
  config.sinks.push_back(static_sink("a", "a"));
  config.sinks.push_back(by_name_sink("^app\\.(.*)$", "public.{1}"));
  config.sinks.push_back(static_sink("b", "b"));
  const RouteTable routes(config);
  CHECK(routes.size() == 2);
  CHECK(routes.static_route(0) == size_t{0});
  CHECK_FALSE(routes.static_route(1).has_value());
  CHECK(routes.static_route(2) == size_t{1});
  CHECK(routes.route(1).table.name == "b");
  CHECK(routes.sink_of(1) == 2);
}

TEST_CASE("a published route keeps its index and its address while more routes are published") {
  Config config;
  config.sinks.push_back(by_name_sink("^app\\.(.*)$", "public.{1}"));
  RouteTable routes(config);
  const size_t users = routes.publish(route_for(config.sinks[0], "users", {"id"}), 0);
  const SinkConfig* address = &routes.route(users);
  for (int i = 0; i < 100; ++i) routes.publish(route_for(config.sinks[0], "t" + std::to_string(i), {"id"}), 0);
  CHECK(users == 0);
  CHECK(&routes.route(users) == address);
  CHECK(routes.route(users).table.name == "users");
  CHECK(routes.find(0, {"public", "users"}) == users);
  CHECK(routes.find(0, {"public", "t7"}) == size_t{8});
  CHECK_FALSE(routes.find(0, {"public", "nowhere"}).has_value());
}

TEST_CASE("find gives the newest version of a table's route") {
  Config config;
  config.sinks.push_back(by_name_sink("^app\\.(.*)$", "public.{1}"));
  RouteTable routes(config);
  routes.publish(route_for(config.sinks[0], "users", {"id"}), 0);
  const size_t newer = routes.publish(route_for(config.sinks[0], "users", {"id", "email"}), 0);
  CHECK(routes.find(0, {"public", "users"}) == newer);
}

TEST_CASE("pipeline routes a topic on its first record, once, and writes its rows under the route's index") {
  Config config;
  config.sinks.push_back(static_sink("events", "events"));
  config.sinks.push_back(by_name_sink("^app\\.(.*)$", "public.{1}"));
  RouteTable routes(config);
  std::vector<std::string> resolved;
  RouteRecordingWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.share_routes(routes, [&](size_t sink_index, const RecordView& first) -> Result<size_t> {
    resolved.emplace_back(first.topic);
    CHECK(sink_index == 1);
    return routes.publish(route_for(config.sinks[1], std::string(first.topic.substr(4)), {"id", "name"}), 1);
  });
  pipeline.assign({"events", 0}, std::nullopt);
  pipeline.assign({"app.users", 0}, std::nullopt);
  pipeline.assign({"app.orders", 0}, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1})")).is_ok());
  REQUIRE(pipeline.add(record("app.users", 0, 0, R"({"id":"1","name":"ann"})")).is_ok());
  REQUIRE(pipeline.add(record("app.users", 0, 1, R"({"id":"2"})")).is_ok());
  REQUIRE(pipeline.add(record("app.orders", 0, 0, R"({"id":"9"})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());

  CHECK(resolved == std::vector<std::string>{"app.users", "app.orders"});
  CHECK(pipeline.sink_for_topic("app.users") == size_t{1});
  std::sort(writer.writes.begin(), writer.writes.end());
  CHECK(writer.writes == std::vector<std::pair<size_t, size_t>>{{0, 1}, {1, 2}, {2, 1}});
  CHECK(pipeline.stored_next_offset({"app.users", 0}) == 2);
  CHECK(pipeline.stored_next_offset({"app.orders", 0}) == 1);
}

TEST_CASE("a routing failure batches nothing of the record, and the next try routes again") {
  Config config;
  config.sinks.push_back(by_name_sink("^app\\.(.*)$", "public.{1}"));
  RouteTable routes(config);
  int attempts = 0;
  RouteRecordingWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.share_routes(routes, [&](size_t, const RecordView&) -> Result<size_t> {
    if (++attempts == 1) return Status::error(ErrorKind::Transient, "PostgreSQL is away", "08006");
    return routes.publish(route_for(config.sinks[0], "users", {"id"}), 0);
  });
  pipeline.assign({"app.users", 0}, std::nullopt);
  const Status first = pipeline.add(record("app.users", 0, 0, R"({"id":"1"})"));
  REQUIRE_FALSE(first.is_ok());
  CHECK(first.kind() == ErrorKind::Transient);
  CHECK_FALSE(pipeline.has_unwritten_records({"app.users", 0}));
  REQUIRE(pipeline.add(record("app.users", 0, 0, R"({"id":"1"})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  CHECK(attempts == 2);
  CHECK(writer.writes == std::vector<std::pair<size_t, size_t>>{{0, 1}});
}

TEST_CASE("a record that cannot route its topic yet is consumed without a row, and a later record routes it") {
  Config config;
  config.sinks.push_back(by_name_sink("^app\\.(.*)$", "public.{1}"));
  RouteTable routes(config);
  int attempts = 0;
  RouteRecordingWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.share_routes(routes, [&](size_t, const RecordView& first) -> Result<size_t> {
    ++attempts;
    if (!first.value) return kRouteNotYet;  // a tombstone: no row to create the table from
    return routes.publish(route_for(config.sinks[0], "users", {"id"}), 0);
  });
  pipeline.assign({"app.users", 0}, std::nullopt);
  REQUIRE(pipeline.add(record("app.users", 0, 0, std::nullopt)).is_ok());
  CHECK_FALSE(pipeline.has_unwritten_records({"app.users", 0}));
  REQUIRE(pipeline.add(record("app.users", 0, 1, R"({"id":"1"})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  CHECK(attempts == 2);
  CHECK(writer.writes == std::vector<std::pair<size_t, size_t>>{{0, 1}});
  // The skipped record's offset is stored with the next batch of its partition.
  CHECK(pipeline.stored_next_offset({"app.users", 0}) == 2);
}

TEST_CASE("a record field no column of a by-name route takes is reported as ignored, every time") {
  Config config;
  config.sinks.push_back(by_name_sink("^app\\.(.*)$", "public.{1}"));
  RouteTable routes(config);
  RouteRecordingWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.share_routes(routes, [&](size_t, const RecordView&) -> Result<size_t> {
    return routes.publish(route_for(config.sinks[0], "users", {"id", "name"}), 0);
  });
  std::vector<std::pair<size_t, std::string>> ignored;
  pipeline.set_ignored_field_listener(
      [&](size_t route_index, std::string_view field) { ignored.emplace_back(route_index, std::string(field)); });
  pipeline.assign({"app.users", 0}, std::nullopt);
  REQUIRE(pipeline.add(record("app.users", 0, 0, R"({"id":"1","coupon":"x","name":"a","extra":{"n":1}})")).is_ok());
  REQUIRE(pipeline.add(record("app.users", 0, 1, R"({"id":"2","coupon":null})")).is_ok());
  REQUIRE(pipeline.add(record("app.users", 0, 2, R"({"id":"3","name":"c"})")).is_ok());
  CHECK(ignored == std::vector<std::pair<size_t, std::string>>{{0, "coupon"}, {0, "extra"}, {0, "coupon"}});
}

TEST_CASE("a sink with explicit columns reports no ignored fields") {
  Config config;
  config.sinks.push_back(static_sink("events", "events"));
  RouteRecordingWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  int ignored = 0;
  pipeline.set_ignored_field_listener([&](size_t, std::string_view) { ++ignored; });
  pipeline.assign({"events", 0}, std::nullopt);
  REQUIRE(pipeline.add(record("events", 0, 0, R"({"id":1,"other":2})")).is_ok());
  CHECK(ignored == 0);
}

TEST_CASE("a debezium route reads its records as change events, so a plain JSON row is a bad record there") {
  Config config;
  SinkConfig sink = by_name_sink("^db\\.(.*)$", "public.{1}");
  sink.format = RecordFormat::Debezium;
  sink.mode = WriteMode::Upsert;
  config.sinks.push_back(sink);
  RouteTable routes(config);
  RouteRecordingWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.share_routes(routes, [&](size_t, const RecordView&) -> Result<size_t> {
    SinkConfig route = route_for(config.sinks[0], "users", {"id"});
    route.primary_key = {"id"};
    route.primary_key_columns = {0};
    return routes.publish(route, 0);
  });
  pipeline.assign({"db.users", 0}, std::nullopt);
  // A valid row for the json decoder with columns by name; not a Debezium envelope.
  const Status status = pipeline.add(record("db.users", 0, 0, R"({"id":"1"})", R"({"id":"1"})"));
  REQUIRE_FALSE(status.is_ok());
  CHECK(status.kind() == ErrorKind::Poison);
  CHECK(status.cause() == Cause::UndecodableRecord);
  CHECK_FALSE(pipeline.has_unwritten_records({"db.users", 0}));
}
