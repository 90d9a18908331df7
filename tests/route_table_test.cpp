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
    writes.emplace_back(request.route_index, request.rows.size());
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

/// Records each write's route and its tuple bytes.
class TupleRecordingWriter final : public TableWriter {
 public:
  Status write(const WriteRequest& request) override {
    routes.push_back(request.route_index);
    tuples += std::string(request.batch.tuples.view());
    return Status::ok();
  }
  std::vector<size_t> routes;
  std::string tuples;
};

/// A debezium sink with schema_evolution: add_columns, and its first route: `id` only.
SinkConfig evolving_debezium_sink() {
  SinkConfig sink = by_name_sink("^db\\.(.*)$", "public.{1}");
  sink.format = RecordFormat::Debezium;
  sink.mode = WriteMode::Upsert;
  sink.schema_evolution = SchemaEvolution::AddColumns;
  return sink;
}
SinkConfig id_only_route(const SinkConfig& sink) {
  SinkConfig route = sink;
  route.table_template.clear();
  route.table = {"public", "users"};
  route.columns = {column("id", "/id", ColumnType::BigInt, true)};
  route.primary_key = {"id"};
  route.primary_key_columns = {0};
  return route;
}

/// A create event with the schema wrapper: `id` (int64) and string fields (name, value).
std::string create_event(int64_t id, const std::vector<std::pair<std::string, std::string>>& strings) {
  std::string fields = R"({"type": "int64", "optional": false, "field": "id"})";
  std::string after = "{\"id\": " + std::to_string(id);
  for (const auto& [name, value] : strings) {
    fields += R"(, {"type": "string", "optional": true, "field": ")" + name + "\"}";
    after += ", \"" + name + "\": \"" + value + "\"";
  }
  after += "}";
  const std::string row = R"({"type": "struct", "optional": true, "fields": [)" + fields + "], \"field\": ";
  return R"({"schema": {"type": "struct", "fields": [)" + row + R"("before"}, )" + row +
         R"("after"}, {"type": "string", "optional": false, "field": "op"}]}, "payload": {"before": null, "after": )" +
         after + R"(, "op": "c"}})";
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

TEST_CASE("a field whose column exists with a type the daemon cannot write is ignored, never added") {
  Config config;
  config.sinks.push_back(evolving_debezium_sink());
  RouteTable routes(config);
  TupleRecordingWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.share_routes(routes, [&](size_t, const RecordView&) -> Result<size_t> {
    SinkConfig route = id_only_route(config.sinks[0]);
    route.left_out_columns = {"tags"};  // e.g. text[] in PostgreSQL
    return routes.publish(route, 0);
  });
  std::vector<std::string> ignored;
  pipeline.set_ignored_field_listener([&](size_t, std::string_view field) { ignored.emplace_back(field); });
  pipeline.assign({"db.users", 0}, std::nullopt);
  const std::string event = create_event(1, {{"tags", "{a,b}"}});
  REQUIRE(pipeline.add(record("db.users", 0, 0, event, R"({"id": 1})")).is_ok());
  REQUIRE(pipeline.add(record("db.users", 0, 1, event, R"({"id": 1})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  CHECK(routes.size() == 1);  // no version adding a column that exists already
  CHECK(ignored == std::vector<std::string>{"tags", "tags"});
  CHECK(writer.routes == std::vector<size_t>{0});
  CHECK(pipeline.stored_next_offset({"db.users", 0}) == 2);
}

TEST_CASE("an added column reads its field through an escaped pointer, so names with '/' and '~' get their values") {
  Config config;
  config.sinks.push_back(evolving_debezium_sink());
  RouteTable routes(config);
  TupleRecordingWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.share_routes(routes, [&](size_t, const RecordView&) -> Result<size_t> {
    return routes.publish(id_only_route(config.sinks[0]), 0);
  });
  std::vector<std::string> ignored;
  pipeline.set_ignored_field_listener([&](size_t, std::string_view field) { ignored.emplace_back(field); });
  pipeline.assign({"db.users", 0}, std::nullopt);
  REQUIRE(pipeline.add(record("db.users", 0, 0, create_event(1, {{"a/b", "slash-value"}, {"c~d", "tilde-value"}}),
                              R"({"id": 1})"))
              .is_ok());
  REQUIRE(pipeline.add(record("db.users", 0, 1, create_event(2, {{"a/b", "second-slash"}}), R"({"id": 2})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  REQUIRE(routes.size() == 2);  // one new version, and no other for the second record
  const SinkConfig& evolved = routes.route(1);
  REQUIRE(evolved.added_columns.size() == 2);
  CHECK(evolved.added_columns[0].name == "a/b");
  CHECK(evolved.added_columns[0].source.argument == "/a~1b");
  CHECK(evolved.added_columns[1].name == "c~d");
  CHECK(evolved.added_columns[1].source.argument == "/c~0d");
  CHECK(ignored.empty());  // both fields are known to the new version
  CHECK(writer.tuples.find("slash-value") != std::string::npos);
  CHECK(writer.tuples.find("tilde-value") != std::string::npos);
  CHECK(writer.tuples.find("second-slash") != std::string::npos);
}

TEST_CASE("a field named longer than PostgreSQL's 63-byte identifiers is ignored, never added") {
  Config config;
  config.sinks.push_back(evolving_debezium_sink());
  RouteTable routes(config);
  TupleRecordingWriter writer;
  ManualClock clock;
  Pipeline pipeline(config, writer, clock);
  pipeline.share_routes(routes, [&](size_t, const RecordView&) -> Result<size_t> {
    return routes.publish(id_only_route(config.sinks[0]), 0);
  });
  std::vector<std::string> ignored;
  pipeline.set_ignored_field_listener([&](size_t, std::string_view field) { ignored.emplace_back(field); });
  pipeline.assign({"db.users", 0}, std::nullopt);
  const std::string long_name(64, 'f');
  const std::string longest(63, 'g');
  REQUIRE(pipeline.add(record("db.users", 0, 0, create_event(1, {{long_name, "x"}, {longest, "y"}}), R"({"id": 1})"))
              .is_ok());
  REQUIRE(pipeline.add(record("db.users", 0, 1, create_event(2, {{long_name, "x"}}), R"({"id": 2})")).is_ok());
  REQUIRE(pipeline.flush_all().is_ok());
  REQUIRE(routes.size() == 2);  // the 63-byte name is added, the 64-byte one never
  REQUIRE(routes.route(1).added_columns.size() == 1);
  CHECK(routes.route(1).added_columns[0].name == longest);
  CHECK(ignored == std::vector<std::string>{long_name, long_name});
  CHECK(pipeline.stored_next_offset({"db.users", 0}) == 2);
}

TEST_CASE("a lane routing a topic after another lane evolved its table takes the newest version") {
  Config config;
  config.sinks.push_back(evolving_debezium_sink());
  RouteTable routes(config);
  // Like the connector's resolver: a topic's route is published once and then cached.
  std::optional<size_t> cached;
  const RouteResolverFn resolver = [&](size_t, const RecordView&) -> Result<size_t> {
    if (!cached) cached = routes.publish(id_only_route(config.sinks[0]), 0);
    return *cached;
  };
  TupleRecordingWriter first_writer;
  TupleRecordingWriter second_writer;
  ManualClock clock;
  Pipeline first_lane(config, first_writer, clock);
  Pipeline second_lane(config, second_writer, clock);
  first_lane.share_routes(routes, resolver);
  second_lane.share_routes(routes, resolver);
  first_lane.assign({"db.users", 0}, std::nullopt);
  second_lane.assign({"db.users", 1}, std::nullopt);
  REQUIRE(first_lane.add(record("db.users", 0, 0, create_event(1, {{"email", "a@x"}}), R"({"id": 1})")).is_ok());
  REQUIRE(routes.size() == 2);
  REQUIRE(second_lane.add(record("db.users", 1, 0, create_event(2, {{"email", "b@x"}}), R"({"id": 2})")).is_ok());
  REQUIRE(first_lane.flush_all().is_ok());
  REQUIRE(second_lane.flush_all().is_ok());
  CHECK(routes.size() == 2);  // the second lane published no version of its own
  CHECK(second_writer.routes == std::vector<size_t>{1});
  CHECK(second_writer.tuples.find("b@x") != std::string::npos);
}
