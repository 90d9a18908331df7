#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "connector/debezium_decoder.h"
#include "tests/test_support.h"

// The corpus below follows the shapes of the change events in Debezium's documentation
// for the PostgreSQL and MySQL connectors (customers tables, the JsonConverter's
// {"schema", "payload"} wrapper, the key forms shown there); values are our own.

namespace kps {
namespace {

using kps::testing::column;
using kps::testing::hex;
using kps::testing::sink_with;

/// A decode's outcome: the change, the tuple's fields as hex ("NULL" for NULL), or the error.
struct Decoded {
  std::optional<DecodedChange> change;
  std::optional<DecodeError> error;
  std::string tuple;
  std::vector<UnknownField> unknown;

  const DecodedChange& ok() const {
    if (error) FAIL("unexpected error on column '" << error->column << "': " << error->reason);
    REQUIRE(change.has_value());
    return *change;
  }
  std::string field_hex(int index) const {
    ok();
    const auto field = tuple_field(tuple, index);
    return field ? hex(*field) : "NULL";
  }
  std::string field_text(int index) const {
    ok();
    const auto field = tuple_field(tuple, index);
    REQUIRE(field.has_value());
    return std::string(*field);
  }
  int field_count() const {
    ok();
    REQUIRE(tuple.size() >= 2);
    return (static_cast<unsigned char>(tuple[0]) << 8) | static_cast<unsigned char>(tuple[1]);
  }
  const DecodeError& failed() const {
    REQUIRE(error.has_value());
    return *error;
  }
};

Decoded decode(const SinkConfig& route, std::optional<std::string_view> value,
               std::optional<std::string_view> key = std::nullopt) {
  DebeziumDecoder decoder(route);
  CopyBuffer buffer;
  RecordView record = kps::testing::record_with(value);
  record.key = key;
  Decoded result;
  auto outcome = decoder.decode(record, buffer, &result.unknown);
  if (auto* change = std::get_if<DecodedChange>(&outcome)) {
    result.change = *change;
  } else {
    result.error = std::get<DecodeError>(outcome);
    CHECK(buffer.size() == 0);  // nothing appended on error
  }
  result.tuple = std::string(buffer.view());
  return result;
}

/// The value bytes one append_* call writes, as hex.
std::string bytes_of(const std::function<void(CopyBuffer&)>& append) {
  CopyBuffer buffer;
  append(buffer);
  return hex(buffer.view().substr(4));
}
std::string int32_hex(int32_t v) { return bytes_of([&](CopyBuffer& b) { b.append_int32(v); }); }
std::string int64_hex(int64_t v) { return bytes_of([&](CopyBuffer& b) { b.append_int64(v); }); }
std::string numeric_hex(std::string_view text) { return bytes_of([&](CopyBuffer& b) { b.append_numeric(text); }); }

/// The customers table of the documentation: id integer (primary key), names and email.
SinkConfig customers_route() {
  SinkConfig route = sink_with({column("id", "/id", ColumnType::Integer, true),
                                column("first_name", "/first_name", ColumnType::Text, true),
                                column("last_name", "/last_name", ColumnType::Text, true),
                                column("email", "/email", ColumnType::Text, true)},
                               {"id"});
  route.format = RecordFormat::Debezium;
  route.mode = WriteMode::Upsert;
  route.timestamp_unit = TimestampUnit::Micros;
  return route;
}

// The PostgreSQL connector's key as its documentation shows it (fields named by "name",
// typed by a nested "schema", the value written as a string), and as the JsonConverter writes it.
constexpr std::string_view kPostgresDocKey = R"({
  "schema": {"type": "struct", "name": "PostgreSQL_server.public.customers.Key", "optional": false,
             "fields": [{"name": "id", "index": "0", "schema": {"type": "INT32", "optional": "false"}}]},
  "payload": {"id": "1"}
})";
constexpr std::string_view kWrappedKey = R"({"schema": {"type": "struct", "fields": [{"type": "int32", "optional": false, "field": "id"}], "optional": false, "name": "PostgreSQL_server.inventory.customers.Key"}, "payload": {"id": 1}})";
constexpr std::string_view kPlainKey = R"({"id": 1})";

constexpr std::string_view kCustomerSchema = R"({"type": "struct", "fields": [
      {"type": "struct", "fields": [
          {"type": "int32", "optional": false, "field": "id"},
          {"type": "string", "optional": false, "field": "first_name"},
          {"type": "string", "optional": false, "field": "last_name"},
          {"type": "string", "optional": false, "field": "email"}],
       "optional": true, "name": "PostgreSQL_server.inventory.customers.Value", "field": "before"},
      {"type": "struct", "fields": [
          {"type": "int32", "optional": false, "field": "id"},
          {"type": "string", "optional": false, "field": "first_name"},
          {"type": "string", "optional": false, "field": "last_name"},
          {"type": "string", "optional": false, "field": "email"}],
       "optional": true, "name": "PostgreSQL_server.inventory.customers.Value", "field": "after"},
      {"type": "struct", "fields": [
          {"type": "string", "optional": false, "field": "version"},
          {"type": "string", "optional": false, "field": "connector"},
          {"type": "string", "optional": false, "field": "name"},
          {"type": "int64", "optional": false, "field": "ts_ms"},
          {"type": "boolean", "optional": true, "default": false, "field": "snapshot"},
          {"type": "string", "optional": false, "field": "db"},
          {"type": "string", "optional": false, "field": "schema"},
          {"type": "string", "optional": false, "field": "table"},
          {"type": "int64", "optional": true, "field": "txId"},
          {"type": "int64", "optional": true, "field": "lsn"},
          {"type": "int64", "optional": true, "field": "xmin"}],
       "optional": false, "name": "io.debezium.connector.postgresql.Source", "field": "source"},
      {"type": "string", "optional": false, "field": "op"},
      {"type": "int64", "optional": true, "field": "ts_ms"}],
  "optional": false, "name": "PostgreSQL_server.inventory.customers.Envelope"})";

constexpr std::string_view kPostgresSource = R"({"version": "2.5.0.Final", "connector": "postgresql", "name": "PostgreSQL_server", "ts_ms": 1559033904863, "snapshot": true, "db": "postgres", "sequence": "[\"24023119\",\"24023128\"]", "schema": "public", "table": "customers", "txId": 555, "lsn": 24023128, "xmin": null})";

std::string postgres_payload(std::string_view op, std::string_view before, std::string_view after) {
  return "{\"before\": " + std::string(before) + ", \"after\": " + std::string(after) +
         ", \"source\": " + std::string(kPostgresSource) + ", \"op\": \"" + std::string(op) +
         "\", \"ts_ms\": 1559033904863}";
}
std::string wrapped(std::string_view payload) {
  return "{\"schema\": " + std::string(kCustomerSchema) + ", \"payload\": " + std::string(payload) + "}";
}

constexpr std::string_view kAnne = R"({"id": 1, "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"})";
constexpr std::string_view kAnneMarie = R"({"id": 1, "first_name": "Anne Marie", "last_name": "Kretchmar", "email": "annek@noanswer.org"})";

void check_anne(const Decoded& decoded, std::string_view first_name) {
  CHECK(decoded.field_count() == 5);  // four columns and the unavailable mask
  CHECK(decoded.field_hex(0) == int32_hex(1));
  CHECK(decoded.field_text(1) == first_name);
  CHECK(decoded.field_text(2) == "Kretchmar");
  CHECK(decoded.field_text(3) == "annek@noanswer.org");
  CHECK(decoded.field_hex(4) == "NULL");
}

}  // namespace

TEST_CASE("a PostgreSQL create event upserts its after image, with or without the schema wrapper") {
  const SinkConfig route = customers_route();
  for (const std::string_view key : {kPostgresDocKey, kWrappedKey, kPlainKey}) {
    CAPTURE(key);
    const Decoded with_schema = decode(route, wrapped(postgres_payload("c", "null", kAnne)), key);
    CHECK(with_schema.ok().kind == ChangeKind::Upsert);
    CHECK(with_schema.ok().op == 'c');
    CHECK_FALSE(with_schema.ok().has_unavailable);
    check_anne(with_schema, "Anne");

    const Decoded without_schema = decode(route, postgres_payload("c", "null", kAnne), key);
    CHECK(without_schema.ok().kind == ChangeKind::Upsert);
    check_anne(without_schema, "Anne");
    CHECK(without_schema.tuple == with_schema.tuple);
  }
}

TEST_CASE("snapshot reads and updates upsert the after image; before is only for deletes") {
  const SinkConfig route = customers_route();
  const Decoded read = decode(route, wrapped(postgres_payload("r", "null", kAnne)), kWrappedKey);
  CHECK(read.ok().kind == ChangeKind::Upsert);
  CHECK(read.ok().op == 'r');
  check_anne(read, "Anne");

  const Decoded update = decode(route, wrapped(postgres_payload("u", kAnne, kAnneMarie)), kWrappedKey);
  CHECK(update.ok().kind == ChangeKind::Upsert);
  CHECK(update.ok().op == 'u');
  check_anne(update, "Anne Marie");
  const Decoded update_plain = decode(route, postgres_payload("u", "null", kAnneMarie), kPlainKey);
  check_anne(update_plain, "Anne Marie");
}

TEST_CASE("a delete names its row by the key's fields, else by before, every other column NULL") {
  const SinkConfig route = customers_route();
  for (const std::string_view key : {kPostgresDocKey, kWrappedKey, kPlainKey}) {
    CAPTURE(key);
    const Decoded deleted = decode(route, wrapped(postgres_payload("d", kAnne, "null")), key);
    CHECK(deleted.ok().kind == ChangeKind::Delete);
    CHECK(deleted.ok().op == 'd');
    CHECK(deleted.field_count() == 5);
    CHECK(deleted.field_hex(0) == int32_hex(1));
    for (int index = 1; index < 5; ++index) CHECK(deleted.field_hex(index) == "NULL");
  }
  // The key wins over before; a null key, or one without the column, leaves it to before.
  CHECK(decode(route, postgres_payload("d", R"({"id": 9})", "null"), R"({"id": 7})").field_hex(0) == int32_hex(7));
  CHECK(decode(route, postgres_payload("d", R"({"id": 9})", "null")).field_hex(0) == int32_hex(9));
  CHECK(decode(route, postgres_payload("d", R"({"id": 9})", "null"), R"({"other": 7})").field_hex(0) ==
        int32_hex(9));
  CHECK(decode(route, wrapped(postgres_payload("d", R"({"id": 9, "first_name": "x", "last_name": "y", "email": "z"})",
                                               "null")),
               "null")
            .field_hex(0) == int32_hex(9));

  const Decoded nameless = decode(route, postgres_payload("d", "null", "null"), R"({"other": 7})");
  CHECK(nameless.failed().column == "id");
  CHECK(nameless.failed().failure == DecodeFailure::InvalidKey);
  CHECK(nameless.failed().reason ==
        "a delete must name its row, but neither the record key nor \"before\" holds this primary-key column");
  const Decoded bad_key = decode(route, postgres_payload("d", "null", "null"), R"({"id": "seven"})");
  CHECK(bad_key.failed().column == "id");
  CHECK(bad_key.failed().failure == DecodeFailure::InvalidKey);
  CHECK(bad_key.failed().reason == "record key: invalid integer \"seven\"");
}

TEST_CASE("a tombstone, a message event and a truncate append nothing") {
  const SinkConfig route = customers_route();
  const Decoded tombstone = decode(route, std::nullopt, kWrappedKey);
  CHECK(tombstone.ok().kind == ChangeKind::Skip);
  CHECK(tombstone.ok().op == 0);
  CHECK(tombstone.tuple.empty());

  const std::string truncate = R"({"schema": {"type": "struct", "fields": [], "optional": false, "name": "PostgreSQL_server.inventory.customers.Envelope"}, "payload": {"source": )" +
                               std::string(kPostgresSource) + R"(, "op": "t", "ts_ms": 1559033904961}})";
  const Decoded truncated = decode(route, truncate);
  CHECK(truncated.ok().kind == ChangeKind::Truncate);
  CHECK(truncated.ok().op == 't');
  CHECK(truncated.tuple.empty());

  const std::string message = R"({"source": )" + std::string(kPostgresSource) +
                              R"(, "op": "m", "ts_ms": 1559033904961, "message": {"prefix": "foo", "content": "Ymfy"}})";
  const Decoded skipped = decode(route, message, R"({"prefix": "foo"})");
  CHECK(skipped.ok().kind == ChangeKind::Skip);
  CHECK(skipped.ok().op == 'm');
  CHECK(skipped.tuple.empty());
}

TEST_CASE("a create or update with a null key is a bad record: a keyless table cannot be upserted") {
  const SinkConfig route = customers_route();
  for (const std::optional<std::string_view> key :
       {std::optional<std::string_view>(), std::optional<std::string_view>("null"),
        std::optional<std::string_view>(R"({"schema": null, "payload": null})")}) {
    const Decoded keyless = decode(route, wrapped(postgres_payload("c", "null", kAnne)), key);
    CHECK(keyless.failed().failure == DecodeFailure::InvalidKey);
    CHECK(keyless.failed().reason.rfind("a keyless table cannot be upserted: ", 0) == 0);
  }
}

TEST_CASE("the unavailable-value placeholder sets the mask and leaves NULL in text and bytes columns") {
  SinkConfig route = sink_with({column("id", "/id", ColumnType::BigInt, true),
                                column("notes", "/notes", ColumnType::Text, true),
                                column("photo", "/photo", ColumnType::Bytea, true),
                                column("doc", "/doc", ColumnType::Jsonb, true)},
                               {"id"});
  const std::string_view schema = R"({"type": "struct", "optional": false, "name": "s.public.t.Envelope", "fields": [
      {"type": "struct", "optional": true, "field": "after", "fields": [
        {"type": "int64", "optional": false, "field": "id"},
        {"type": "string", "optional": true, "field": "notes"},
        {"type": "bytes", "optional": true, "field": "photo"},
        {"type": "string", "optional": true, "name": "io.debezium.data.Json", "version": 1, "field": "doc"}]},
      {"type": "string", "optional": false, "field": "op"}]})";
  const std::string after =
      R"({"id": 5, "notes": "__debezium_unavailable_value", "photo": "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==", "doc": "{\"a\": 1}"})";
  const std::string payload = R"({"before": null, "after": )" + after + R"(, "op": "u"})";
  for (const std::string& value : {payload, "{\"schema\": " + std::string(schema) + ", \"payload\": " + payload + "}"}) {
    const Decoded decoded = decode(route, value, R"({"id": 5})");
    CHECK(decoded.ok().kind == ChangeKind::Upsert);
    CHECK(decoded.ok().has_unavailable);
    CHECK(decoded.field_count() == 5);
    CHECK(decoded.field_hex(0) == int64_hex(5));
    CHECK(decoded.field_hex(1) == "NULL");
    CHECK(decoded.field_hex(2) == "NULL");
    CHECK(decoded.field_text(3) == "\x01{\"a\": 1}");
    CHECK(decoded.field_text(4) == "0110");
  }
  // In a jsonb column the placeholder is masked too; real bytes are not.
  const Decoded json_masked = decode(
      route, R"({"op": "u", "after": {"id": 5, "notes": "n", "photo": "AP8=", "doc": "__debezium_unavailable_value"}})",
      R"({"id": 5})");
  CHECK(json_masked.field_text(1) == "n");
  CHECK(json_masked.field_hex(2) == "00 ff");
  CHECK(json_masked.field_hex(3) == "NULL");
  CHECK(json_masked.field_text(4) == "0001");

  const Decoded key_masked = decode(route, R"({"op": "u", "after": {"id": "__debezium_unavailable_value"}})", R"({"id": 5})");
  CHECK(key_masked.failed().column == "id");
  CHECK(key_masked.failed().failure == DecodeFailure::InvalidKey);
  CHECK(key_masked.failed().reason == "a primary-key column holds Debezium's unavailable-value placeholder");
}

TEST_CASE("semantic types with the schema are converted exactly into the column's type") {
  SinkConfig route = sink_with({
                                   column("id", "/id", ColumnType::Integer, true),
                                   column("d", "/d", ColumnType::Date, true),
                                   column("cd", "/cd", ColumnType::Date, true),
                                   column("t_ms", "/t_ms", ColumnType::Time, true),
                                   column("t_us", "/t_us", ColumnType::Time, true),
                                   column("t_ns", "/t_ns", ColumnType::Time, true),
                                   column("ct", "/ct", ColumnType::Time, true),
                                   column("ts_ms", "/ts_ms", ColumnType::Timestamp, true),
                                   column("ts_us", "/ts_us", ColumnType::Timestamp, true),
                                   column("ts_ns", "/ts_ns", ColumnType::TimestampTz, true),
                                   column("cts", "/cts", ColumnType::TimestampTz, true),
                                   column("zts", "/zts", ColumnType::TimestampTz, true),
                                   column("zts_local", "/zts_local", ColumnType::Timestamp, true),
                                   column("zt", "/zt", ColumnType::Time, true),
                                   column("yr", "/yr", ColumnType::Integer, true),
                                   column("price", "/price", ColumnType::Numeric, true),
                                   column("loss", "/loss", ColumnType::Numeric, true),
                                   column("vsd", "/vsd", ColumnType::Numeric, true),
                                   column("j", "/j", ColumnType::Jsonb, true),
                                   column("u", "/u", ColumnType::Uuid, true),
                                   column("e", "/e", ColumnType::Text, true),
                                   column("es", "/es", ColumnType::Text, true),
                                   column("x", "/x", ColumnType::Text, true),
                                   column("bits", "/bits", ColumnType::Bytea, true),
                                   column("point", "/point", ColumnType::Jsonb, true),
                                   column("tags", "/tags", ColumnType::Jsonb, true),
                                   column("d_ts", "/d_ts", ColumnType::TimestampTz, true),
                               },
                               {"id"});
  route.timestamp_unit = TimestampUnit::Millis;  // the schema decides, not the route's unit
  const std::string value = R"({"schema": {"type": "struct", "optional": false, "name": "s.public.all_types.Envelope", "fields": [
    {"type": "struct", "optional": true, "field": "after", "name": "s.public.all_types.Value", "fields": [
      {"type": "int32", "optional": false, "field": "id"},
      {"type": "int32", "optional": true, "name": "io.debezium.time.Date", "version": 1, "field": "d"},
      {"type": "int32", "optional": true, "name": "org.apache.kafka.connect.data.Date", "version": 1, "field": "cd"},
      {"type": "int32", "optional": true, "name": "io.debezium.time.Time", "version": 1, "field": "t_ms"},
      {"type": "int64", "optional": true, "name": "io.debezium.time.MicroTime", "version": 1, "field": "t_us"},
      {"type": "int64", "optional": true, "name": "io.debezium.time.NanoTime", "version": 1, "field": "t_ns"},
      {"type": "int32", "optional": true, "name": "org.apache.kafka.connect.data.Time", "version": 1, "field": "ct"},
      {"type": "int64", "optional": true, "name": "io.debezium.time.Timestamp", "version": 1, "field": "ts_ms"},
      {"type": "int64", "optional": true, "name": "io.debezium.time.MicroTimestamp", "version": 1, "field": "ts_us"},
      {"type": "int64", "optional": true, "name": "io.debezium.time.NanoTimestamp", "version": 1, "field": "ts_ns"},
      {"type": "int64", "optional": true, "name": "org.apache.kafka.connect.data.Timestamp", "version": 1, "field": "cts"},
      {"type": "string", "optional": true, "name": "io.debezium.time.ZonedTimestamp", "version": 1, "field": "zts"},
      {"type": "string", "optional": true, "name": "io.debezium.time.ZonedTimestamp", "version": 1, "field": "zts_local"},
      {"type": "string", "optional": true, "name": "io.debezium.time.ZonedTime", "version": 1, "field": "zt"},
      {"type": "int32", "optional": true, "name": "io.debezium.time.Year", "version": 1, "field": "yr"},
      {"type": "bytes", "optional": true, "name": "org.apache.kafka.connect.data.Decimal", "version": 1, "parameters": {"scale": "2", "connect.decimal.precision": "10"}, "field": "price"},
      {"type": "bytes", "optional": true, "name": "org.apache.kafka.connect.data.Decimal", "version": 1, "parameters": {"scale": "2"}, "field": "loss"},
      {"type": "struct", "optional": true, "name": "io.debezium.data.VariableScaleDecimal", "version": 1, "fields": [{"type": "int32", "optional": false, "field": "scale"}, {"type": "bytes", "optional": false, "field": "value"}], "field": "vsd"},
      {"type": "string", "optional": true, "name": "io.debezium.data.Json", "version": 1, "field": "j"},
      {"type": "string", "optional": true, "name": "io.debezium.data.Uuid", "version": 1, "field": "u"},
      {"type": "string", "optional": true, "name": "io.debezium.data.Enum", "version": 1, "parameters": {"allowed": "red,green"}, "field": "e"},
      {"type": "string", "optional": true, "name": "io.debezium.data.EnumSet", "version": 1, "parameters": {"allowed": "a,b,c"}, "field": "es"},
      {"type": "string", "optional": true, "name": "io.debezium.data.Xml", "version": 1, "field": "x"},
      {"type": "bytes", "optional": true, "name": "io.debezium.data.Bits", "version": 1, "parameters": {"length": "16"}, "field": "bits"},
      {"type": "struct", "optional": true, "name": "io.debezium.data.geometry.Point", "version": 1, "fields": [{"type": "double", "optional": false, "field": "x"}, {"type": "double", "optional": false, "field": "y"}], "field": "point"},
      {"type": "array", "optional": true, "items": {"type": "string", "optional": true}, "field": "tags"},
      {"type": "int32", "optional": true, "name": "io.debezium.time.Date", "version": 1, "field": "d_ts"}]},
    {"type": "string", "optional": false, "field": "op"}]},
  "payload": {"before": null, "after": {
      "id": 1, "d": 19000, "cd": -1, "t_ms": 45296789, "t_us": 45296789123, "t_ns": 45296789123000, "ct": 1000,
      "ts_ms": 1700000000123, "ts_us": 1700000000123456, "ts_ns": 1700000000123456000, "cts": 946684800000,
      "zts": "2021-03-04T05:06:07.123456Z", "zts_local": "2021-03-04T05:06:07+02:00", "zt": "10:11:12.5Z",
      "yr": 2024, "price": "BNI=", "loss": "+y4=", "vsd": {"scale": 3, "value": "AeI="},
      "j": "{\"k\": [1, 2]}", "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "e": "red", "es": "a,c", "x": "<a>1</a>",
      "bits": "AP8=", "point": {"x": 1.5, "y": -2}, "tags": ["a", "b"], "d_ts": 1},
    "source": {"version": "2.5.0.Final", "connector": "postgresql", "name": "s"}, "op": "c", "ts_ms": 1}})";
  const Decoded decoded = decode(route, value, R"({"id": 1})");
  REQUIRE(decoded.ok().kind == ChangeKind::Upsert);
  constexpr int64_t kEpochMicros = 946684800000000;  // Unix epoch to 2000-01-01
  CHECK(decoded.field_hex(1) == int32_hex(19000 - 10957));
  CHECK(decoded.field_hex(2) == int32_hex(-1 - 10957));
  CHECK(decoded.field_hex(3) == int64_hex(45296789000));
  CHECK(decoded.field_hex(4) == int64_hex(45296789123));
  CHECK(decoded.field_hex(5) == int64_hex(45296789123));
  CHECK(decoded.field_hex(6) == int64_hex(1000000));
  CHECK(decoded.field_hex(7) == int64_hex(1700000000123000 - kEpochMicros));
  CHECK(decoded.field_hex(8) == int64_hex(1700000000123456 - kEpochMicros));
  CHECK(decoded.field_hex(9) == int64_hex(1700000000123456 - kEpochMicros));
  CHECK(decoded.field_hex(10) == int64_hex(0));
  CHECK(decoded.field_hex(11) == int64_hex(1614834367123456 - kEpochMicros));
  CHECK(decoded.field_hex(12) == int64_hex(1614827167000000 - kEpochMicros));  // 03:06:07 UTC
  CHECK(decoded.field_hex(13) == int64_hex(36672500000));
  CHECK(decoded.field_hex(14) == int32_hex(2024));
  CHECK(decoded.field_hex(15) == numeric_hex("12.34"));
  CHECK(decoded.field_hex(16) == numeric_hex("-12.34"));
  CHECK(decoded.field_hex(17) == numeric_hex("0.482"));
  CHECK(decoded.field_text(18) == "\x01{\"k\": [1, 2]}");
  CHECK(decoded.field_hex(19) == "a0 ee bc 99 9c 0b 4e f8 bb 6d 6b b9 bd 38 0a 11");
  CHECK(decoded.field_text(20) == "red");
  CHECK(decoded.field_text(21) == "a,c");
  CHECK(decoded.field_text(22) == "<a>1</a>");
  CHECK(decoded.field_hex(23) == "00 ff");
  CHECK(decoded.field_text(24) == "\x01{\"x\": 1.5, \"y\": -2}");
  CHECK(decoded.field_text(25) == "\x01[\"a\", \"b\"]");
  CHECK(decoded.field_hex(26) == int64_hex(86400000000 - kEpochMicros));
  CHECK(decoded.field_hex(27) == "NULL");
}

TEST_CASE("Decimal bytes keep every digit whatever their length and scale") {
  SinkConfig route = sink_with({column("id", "/id", ColumnType::Integer, true), column("n", "/n", ColumnType::Numeric, true),
                                column("s", "/s", ColumnType::Text, true)},
                               {"id"});
  const auto decimal = [&](std::string_view base64, std::string_view scale) {
    const std::string value = R"({"schema": {"type": "struct", "fields": [{"type": "struct", "field": "after", "fields": [
        {"type": "int32", "field": "id"},
        {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": ")" +
                              std::string(scale) + R"("}, "field": "n"},
        {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": ")" +
                              std::string(scale) + R"("}, "field": "s"}]}]},
      "payload": {"op": "c", "after": {"id": 1, "n": ")" + std::string(base64) + R"(", "s": ")" + std::string(base64) + R"("}}})";
    return decode(route, value, R"({"id": 1})");
  };
  // 12345678901234567890123 in 10 bytes
  CHECK(decimal("Ap1Ctk52cUJEyw==", "5").field_text(2) == "123456789012345678.90123");
  CHECK(decimal("Ap1Ctk52cUJEyw==", "5").field_hex(1) == numeric_hex("123456789012345678.90123"));
  CHECK(decimal("Ap1Ctk52cUJEyw==", "0").field_text(2) == "12345678901234567890123");
  CHECK(decimal("BNI=", "6").field_text(2) == "0.001234");
  CHECK(decimal("BNI=", "-2").field_text(2) == "123400");
  CHECK(decimal("+y4=", "4").field_text(2) == "-0.1234");
  CHECK(decimal("AA==", "2").field_text(2) == "0.00");
  CHECK(decimal("/w==", "0").field_text(2) == "-1");
  CHECK(decimal("gA==", "1").field_text(2) == "-12.8");

  const Decoded bad = decimal("BN*=", "2");
  CHECK(bad.failed().column == "n");
  CHECK(bad.failed().reason == "org.apache.kafka.connect.data.Decimal: invalid base64 \"BN*=\": invalid character");
}

TEST_CASE("without the schema, values are read by the column's type, Debezium's encodings included") {
  SinkConfig route = sink_with({column("id", "/id", ColumnType::BigInt, true), column("d", "/d", ColumnType::Date, true),
                                column("t", "/t", ColumnType::Time, true), column("ts", "/ts", ColumnType::TimestampTz, true),
                                column("j", "/j", ColumnType::Jsonb, true), column("n", "/n", ColumnType::Numeric, true),
                                column("n2", "/n2", ColumnType::Numeric, true), column("vsd", "/vsd", ColumnType::Numeric, true),
                                column("b", "/b", ColumnType::Bytea, true), column("o", "/o", ColumnType::Json, true)},
                               {"id"});
  route.timestamp_unit = TimestampUnit::Micros;
  const Decoded decoded = decode(route, R"({"before": null, "after": {
      "id": "42", "d": 19000, "t": 45296789123, "ts": 1700000000123456, "j": "{\"k\": 1}", "n": 12.345,
      "n2": "-0.50", "vsd": {"scale": 3, "value": "AeI="}, "b": "AP8=", "o": {"a": [1]}},
    "source": {"connector": "mysql"}, "op": "c", "ts_ms": 1})",
                                 R"({"id": 42})");
  constexpr int64_t kEpochMicros = 946684800000000;
  CHECK(decoded.field_hex(0) == int64_hex(42));
  CHECK(decoded.field_hex(1) == int32_hex(19000 - 10957));
  CHECK(decoded.field_hex(2) == int64_hex(45296789123));
  CHECK(decoded.field_hex(3) == int64_hex(1700000000123456 - kEpochMicros));
  CHECK(decoded.field_text(4) == "\x01{\"k\": 1}");
  CHECK(decoded.field_hex(5) == numeric_hex("12.345"));
  CHECK(decoded.field_hex(6) == numeric_hex("-0.50"));
  CHECK(decoded.field_hex(7) == numeric_hex("0.482"));
  CHECK(decoded.field_hex(8) == "00 ff");
  CHECK(decoded.field_text(9) == R"({"a": [1]})");
  CHECK(decoded.field_hex(10) == "NULL");

  // The same string read as text would be stored as written, in a text column.
  const Decoded not_json = decode(route, R"({"op": "c", "after": {"id": 1, "j": "{\"k\": "}})", R"({"id": 1})");
  CHECK(not_json.failed().column == "j");
  CHECK(not_json.failed().failure == DecodeFailure::InvalidJson);
}

TEST_CASE("decimal bytes for a numeric column without the schema are a bad record that says what to do") {
  const SinkConfig route =
      sink_with({column("id", "/id", ColumnType::BigInt, true), column("price", "/price", ColumnType::Numeric, true)}, {"id"});
  const Decoded decoded = decode(route, R"({"op": "c", "after": {"id": 1, "price": "BNI="}})", R"({"id": 1})");
  CHECK(decoded.failed().column == "price");
  CHECK(decoded.failed().failure == DecodeFailure::InvalidValue);
  CHECK(decoded.failed().reason ==
        "\"BNI=\" looks like Debezium's Decimal bytes (base64), whose scale only the schema gives: send the schema "
        "(value.converter.schemas.enable=true) or set decimal.handling.mode=string in the connector");
  // Text that is neither a decimal nor base64 is just an invalid numeric.
  CHECK(decode(route, R"({"op": "c", "after": {"id": 1, "price": "12,5"}})", R"({"id": 1})").failed().reason ==
        "invalid numeric \"12,5\": not a decimal number");
}

TEST_CASE("a MySQL create and delete, with and without the schema wrapper") {
  SinkConfig route = sink_with({column("id", "/id", ColumnType::Integer, true),
                                column("first_name", "/first_name", ColumnType::Text, true),
                                column("last_name", "/last_name", ColumnType::Text, true),
                                column("email", "/email", ColumnType::Text, true),
                                column("created", "/created", ColumnType::TimestampTz, true),
                                column("birthday", "/birthday", ColumnType::Date, true)},
                               {"id"});
  const std::string_view image_schema = R"({"type": "int32", "optional": false, "field": "id"},
      {"type": "string", "optional": false, "field": "first_name"},
      {"type": "string", "optional": false, "field": "last_name"},
      {"type": "string", "optional": false, "field": "email"},
      {"type": "string", "optional": true, "name": "io.debezium.time.ZonedTimestamp", "version": 1, "field": "created"},
      {"type": "int32", "optional": true, "name": "io.debezium.time.Date", "version": 1, "field": "birthday"})";
  const std::string schema = R"({"type": "struct", "fields": [
      {"type": "struct", "fields": [)" + std::string(image_schema) + R"(], "optional": true, "name": "mysql-server-1.inventory.customers.Value", "field": "before"},
      {"type": "struct", "fields": [)" + std::string(image_schema) + R"(], "optional": true, "name": "mysql-server-1.inventory.customers.Value", "field": "after"},
      {"type": "struct", "fields": [{"type": "string", "optional": false, "field": "version"}, {"type": "string", "optional": false, "field": "connector"}], "optional": false, "name": "io.debezium.connector.mysql.Source", "field": "source"},
      {"type": "string", "optional": false, "field": "op"},
      {"type": "int64", "optional": true, "field": "ts_ms"}],
    "optional": false, "name": "mysql-server-1.inventory.customers.Envelope"})";
  const std::string_view source = R"({"version": "2.5.0.Final", "connector": "mysql", "name": "mysql-server-1", "ts_ms": 0, "snapshot": false, "db": "inventory", "table": "customers", "server_id": 0, "gtid": null, "file": "mysql-bin.000003", "pos": 154, "row": 0, "thread": 7, "query": null})";
  const std::string_view row = R"({"id": 1004, "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org", "created": "2020-01-02T03:04:05Z", "birthday": 18262})";
  const std::string create = R"({"before": null, "after": )" + std::string(row) + R"(, "source": )" + std::string(source) +
                             R"(, "op": "c", "ts_ms": 1465491411815})";
  const std::string remove = R"({"before": )" + std::string(row) + R"(, "after": null, "source": )" + std::string(source) +
                             R"(, "op": "d", "ts_ms": 1465581902461})";
  const std::string key_schema = R"({"type": "struct", "fields": [{"type": "int32", "optional": false, "field": "id"}], "optional": false, "name": "mysql-server-1.inventory.customers.Key"})";
  const std::string wrapped_key = "{\"schema\": " + key_schema + ", \"payload\": {\"id\": 1004}}";
  for (const bool with_schema : {true, false}) {
    CAPTURE(with_schema);
    const auto wrap = [&](const std::string& payload) {
      return with_schema ? "{\"schema\": " + schema + ", \"payload\": " + payload + "}" : payload;
    };
    const std::string key = with_schema ? wrapped_key : std::string(R"({"id": 1004})");
    const Decoded created = decode(route, wrap(create), key);
    CHECK(created.ok().kind == ChangeKind::Upsert);
    CHECK(created.field_hex(0) == int32_hex(1004));
    CHECK(created.field_text(1) == "Anne");
    CHECK(created.field_hex(4) == int64_hex(631249445000000));  // 2020-01-02T03:04:05Z since 2000
    CHECK(created.field_hex(5) == int32_hex(18262 - 10957));
    CHECK(created.field_hex(6) == "NULL");

    const Decoded deleted = decode(route, wrap(remove), key);
    CHECK(deleted.ok().kind == ChangeKind::Delete);
    CHECK(deleted.field_hex(0) == int32_hex(1004));
    CHECK(deleted.field_hex(4) == "NULL");
  }
}

TEST_CASE("fields with no column are listed with the type their schema calls for") {
  const SinkConfig route = customers_route();
  const std::string_view value = R"({"schema": {"type": "struct", "fields": [{"type": "struct", "field": "after", "fields": [
      {"type": "int32", "field": "id"}, {"type": "string", "field": "first_name"},
      {"type": "int64", "name": "io.debezium.time.MicroTimestamp", "field": "joined"},
      {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}, "field": "balance"},
      {"type": "string", "name": "io.debezium.data.Json", "field": "prefs"},
      {"type": "weird", "field": "odd"}]}]},
    "payload": {"op": "c", "after": {"id": 1, "first_name": "A", "joined": 1, "balance": "AA==", "prefs": "{}", "odd": 1}}})";
  const Decoded decoded = decode(route, value, kPlainKey);
  REQUIRE(decoded.ok().kind == ChangeKind::Upsert);
  REQUIRE(decoded.unknown.size() == 4);
  CHECK(decoded.unknown[0].name == "joined");
  CHECK(decoded.unknown[0].type == ColumnType::Timestamp);
  CHECK(decoded.unknown[1].name == "balance");
  CHECK(decoded.unknown[1].type == ColumnType::Numeric);
  CHECK(decoded.unknown[2].name == "prefs");
  CHECK(decoded.unknown[2].type == ColumnType::Jsonb);
  CHECK(decoded.unknown[3].name == "odd");
  CHECK_FALSE(decoded.unknown[3].type.has_value());
  CHECK(decoded.field_hex(2) == "NULL");  // last_name and email are absent: NULL in nullable columns

  const Decoded plain = decode(route, R"({"op": "c", "after": {"id": 1, "extra": true}})", kPlainKey);
  REQUIRE(plain.unknown.size() == 1);
  CHECK(plain.unknown[0].name == "extra");
  CHECK_FALSE(plain.unknown[0].type.has_value());
}

TEST_CASE("malformed envelopes are bad records whose reason names the problem") {
  const SinkConfig route = customers_route();
  struct Case {
    std::string value;
    std::string column;
    DecodeFailure failure;
    std::string reason;
  };
  const Case cases[] = {
      {R"({"op": "c", "after": )", "", DecodeFailure::InvalidJson, ""},
      {R"([1, 2])", "", DecodeFailure::NotAnObject, "value is not a Debezium change event (it is a JSON array)"},
      {R"({"schema": {}, "payload": "c"})", "payload", DecodeFailure::NotAnObject,
       "the wrapper's payload is not a change event envelope (it is a JSON string)"},
      {R"({"before": null, "after": {"id": 1}})", "op", DecodeFailure::MissingValue,
       "missing: a Debezium change event envelope has an \"op\" field"},
      {R"({"op": 5, "after": {"id": 1}})", "op", DecodeFailure::WrongType, "expected a one-letter string, got number"},
      {R"({"op": "x", "after": {"id": 1}})", "op", DecodeFailure::InvalidValue,
       "unknown Debezium op \"x\" (expected c, r, u, d, t or m)"},
      {R"({"op": "create", "after": {"id": 1}})", "op", DecodeFailure::InvalidValue,
       "unknown Debezium op \"create\" (expected c, r, u, d, t or m)"},
      {R"({"op": "c", "before": null})", "after", DecodeFailure::MissingValue,
       "missing or null: a create, read or update event (op c, r, u) carries the row image there"},
      {R"({"op": "u", "after": null})", "after", DecodeFailure::MissingValue,
       "missing or null: a create, read or update event (op c, r, u) carries the row image there"},
      {R"({"op": "c", "after": "row"})", "after", DecodeFailure::WrongType,
       "expected the row image as an object, got string"},
      {R"({"op": "c", "after": {"first_name": "A"}})", "id", DecodeFailure::InvalidKey,
       "the row image has no value for this primary-key column"},
      {R"({"op": "c", "after": {"id": 1.5}})", "id", DecodeFailure::InvalidValue, "1.5 is not an integer"},
      {R"({"op": "c", "after": {"id": 1, "email": 7}})", "email", DecodeFailure::WrongType,
       "expected a JSON string, got number"},
  };
  for (const Case& bad : cases) {
    CAPTURE(bad.value);
    const Decoded decoded = decode(route, bad.value, kPlainKey);
    CHECK(decoded.failed().column == bad.column);
    CHECK(decoded.failed().failure == bad.failure);
    if (!bad.reason.empty()) CHECK(decoded.failed().reason == bad.reason);
  }
  // A semantic value that cannot be read exactly names its field and its type.
  SinkConfig timed = sink_with({column("id", "/id", ColumnType::Integer, true), column("at", "/at", ColumnType::Time, true),
                                column("day", "/day", ColumnType::Uuid, true)},
                               {"id"});
  const std::string schema = R"({"type": "struct", "fields": [{"type": "struct", "field": "after", "fields": [
      {"type": "int32", "field": "id"}, {"type": "int64", "name": "io.debezium.time.NanoTime", "field": "at"},
      {"type": "int32", "name": "io.debezium.time.Date", "field": "day"}]}]})";
  const Decoded nanos = decode(timed, "{\"schema\": " + schema + R"(, "payload": {"op": "c", "after": {"id": 1, "at": 1001}}})",
                               kPlainKey);
  CHECK(nanos.failed().column == "at");
  CHECK(nanos.failed().reason ==
        "1001 nanoseconds of the day has a fraction of a microsecond, which PostgreSQL's time cannot hold");
  const Decoded wrong_column = decode(timed, "{\"schema\": " + schema + R"(, "payload": {"op": "c", "after": {"id": 1, "day": 3}}})",
                                      kPlainKey);
  CHECK(wrong_column.failed().column == "day");
  CHECK(wrong_column.failed().reason == "io.debezium.time.Date (epoch days) cannot be stored in a uuid column");
}

TEST_CASE("key_fields names the record key's fields, wrapped or not") {
  RecordView record = kps::testing::record_with("{}");
  record.key = kPostgresDocKey;
  CHECK(DebeziumDecoder::key_fields(record) == std::vector<std::string>{"id"});
  record.key = R"({"schema": {"type": "struct", "fields": []}, "payload": {"tenant": "a", "id": 2}})";
  CHECK(DebeziumDecoder::key_fields(record) == std::vector<std::string>{"tenant", "id"});
  record.key = R"({"tenant": "a", "id": 2})";
  CHECK(DebeziumDecoder::key_fields(record) == std::vector<std::string>{"tenant", "id"});
  record.key = std::nullopt;
  CHECK_FALSE(DebeziumDecoder::key_fields(record).has_value());
  record.key = "null";
  CHECK_FALSE(DebeziumDecoder::key_fields(record).has_value());
  record.key = "42";
  CHECK_FALSE(DebeziumDecoder::key_fields(record).has_value());
}

TEST_CASE("table_shape types the after image's columns by semantic type, primary key from the key schema") {
  RecordView record = kps::testing::record_with(std::nullopt);
  const std::string value = R"({"schema": {"type": "struct", "fields": [
      {"type": "struct", "optional": true, "field": "before", "fields": []},
      {"type": "struct", "optional": true, "field": "after", "fields": [
        {"type": "int32", "optional": false, "field": "id"},
        {"type": "string", "optional": false, "field": "name"},
        {"type": "int16", "optional": true, "field": "qty"},
        {"type": "double", "optional": true, "field": "weight"},
        {"type": "bytes", "optional": true, "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}, "field": "price"},
        {"type": "int32", "optional": true, "name": "io.debezium.time.Date", "field": "since"},
        {"type": "int64", "optional": true, "name": "io.debezium.time.MicroTime", "field": "opens"},
        {"type": "string", "optional": true, "name": "io.debezium.time.ZonedTimestamp", "field": "updated"},
        {"type": "int64", "optional": true, "name": "io.debezium.time.MicroTimestamp", "field": "seen"},
        {"type": "string", "optional": true, "name": "io.debezium.data.Json", "field": "doc"},
        {"type": "string", "optional": true, "name": "io.debezium.data.Uuid", "field": "uid"},
        {"type": "boolean", "optional": true, "field": "active"},
        {"type": "bytes", "optional": true, "field": "blob"},
        {"type": "array", "optional": true, "items": {"type": "int32"}, "field": "list"},
        {"type": "string", "optional": true, "field": "a/b~c"}]},
      {"type": "string", "optional": false, "field": "op"}]},
    "payload": {"before": null, "after": {"id": 1, "name": "n"}, "op": "r"}})";
  record.value = value;
  record.key = kPostgresDocKey;
  std::string why_not;
  const auto shape = DebeziumDecoder::table_shape(record, &why_not);
  REQUIRE(shape.has_value());
  CHECK(shape->primary_key == std::vector<std::string>{"id"});
  const std::vector<std::pair<std::string, ColumnType>> expected = {
      {"id", ColumnType::Integer},       {"name", ColumnType::Text},      {"qty", ColumnType::SmallInt},
      {"weight", ColumnType::Double},    {"price", ColumnType::Numeric},  {"since", ColumnType::Date},
      {"opens", ColumnType::Time},       {"updated", ColumnType::TimestampTz}, {"seen", ColumnType::Timestamp},
      {"doc", ColumnType::Jsonb},        {"uid", ColumnType::Uuid},       {"active", ColumnType::Boolean},
      {"blob", ColumnType::Bytea},       {"list", ColumnType::Jsonb},     {"a/b~c", ColumnType::Text},
  };
  REQUIRE(shape->columns.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(shape->columns[i].name == expected[i].first);
    CHECK(shape->columns[i].type == expected[i].second);
    // Only the key is NOT NULL: "name" is required in the source, but a row first seen through
    // an update with an unchanged TOASTed column would have no value for such a column.
    CHECK(shape->columns[i].nullable == (i >= 1));
  }
  CHECK(shape->columns[14].source.argument == "/a~1b~0c");

  const std::string unwrapped = postgres_payload("c", "null", kAnne);
  record.value = unwrapped;
  CHECK_FALSE(DebeziumDecoder::table_shape(record, &why_not).has_value());
  CHECK(why_not.find("no schema wrapper") != std::string::npos);
  record.value = std::nullopt;
  CHECK_FALSE(DebeziumDecoder::table_shape(record, &why_not).has_value());
}

TEST_CASE("table_shape leaves out a field whose schema type maps to no column, saying why, unless it is a key field") {
  RecordView record = kps::testing::record_with(std::nullopt);
  const std::string value = R"({"schema": {"type": "struct", "fields": [
      {"type": "struct", "optional": true, "field": "after", "fields": [
        {"type": "int32", "optional": false, "field": "id"},
        {"type": "geometry", "optional": true, "field": "attrs"},
        {"type": "string", "optional": true, "field": "name"}]},
      {"type": "string", "optional": false, "field": "op"}]},
    "payload": {"before": null, "after": {"id": 1, "name": "n"}, "op": "c"}})";
  record.value = value;
  record.key = R"({"id": 1})";
  std::string why_not;
  const auto shape = DebeziumDecoder::table_shape(record, &why_not);
  REQUIRE(shape.has_value());
  REQUIRE(shape->columns.size() == 2);
  CHECK(shape->columns[0].name == "id");
  CHECK(shape->columns[1].name == "name");
  CHECK(shape->left_out == std::vector<std::string>{"field \"attrs\" has schema type \"geometry\", which maps to no column type"});

  record.key = R"({"attrs": 1})";
  CHECK_FALSE(DebeziumDecoder::table_shape(record, &why_not).has_value());
  CHECK(why_not == "key field \"attrs\" has schema type \"geometry\", which maps to no column type");
}

TEST_CASE("carries_row is true for a row change only, not for a tombstone, a truncate or a message") {
  RecordView record = kps::testing::record_with(std::nullopt);
  CHECK_FALSE(DebeziumDecoder::carries_row(record));
  const std::string created = R"({"before": null, "after": {"id": 1}, "op": "c"})";
  record.value = created;
  CHECK(DebeziumDecoder::carries_row(record));
  const std::string deleted = R"({"schema": {"type": "struct", "fields": []}, "payload": {"before": {"id": 1}, "after": null, "op": "d"}})";
  record.value = deleted;
  CHECK(DebeziumDecoder::carries_row(record));
  const std::string truncated = R"({"before": null, "after": null, "op": "t"})";
  record.value = truncated;
  CHECK_FALSE(DebeziumDecoder::carries_row(record));
  const std::string message = R"({"op": "m", "message": {"prefix": "p", "content": "YQ=="}})";
  record.value = message;
  CHECK_FALSE(DebeziumDecoder::carries_row(record));
  const std::string not_json = "{";
  record.value = not_json;
  CHECK_FALSE(DebeziumDecoder::carries_row(record));
}

}  // namespace kps

namespace kps {

TEST_CASE("a delete of a table with a two-column key takes each column from the key, else from before") {
  const SinkConfig route = sink_with({column("tenant", "/tenant", ColumnType::Text, true),
                                      column("note", "/note", ColumnType::Text, true),
                                      column("id", "/id", ColumnType::BigInt, true)},
                                     {"tenant", "id"});
  const Decoded both = decode(route, R"({"op": "d", "before": null, "after": null})",
                              R"({"schema": {"type": "struct", "fields": [{"type": "string", "field": "tenant"}, {"type": "int64", "field": "id"}]}, "payload": {"tenant": "a", "id": 7}})");
  CHECK(both.ok().kind == ChangeKind::Delete);
  CHECK(both.field_count() == 4);
  CHECK(both.field_text(0) == "a");
  CHECK(both.field_hex(1) == "NULL");
  CHECK(both.field_hex(2) == int64_hex(7));
  CHECK(both.field_hex(3) == "NULL");

  const Decoded half = decode(route, R"({"op": "d", "before": {"tenant": "b", "id": 8, "note": "x"}})", R"({"id": 9})");
  CHECK(half.field_text(0) == "b");
  CHECK(half.field_hex(2) == int64_hex(9));
}

TEST_CASE("Decimal written as a JSON number and semantic integers in integer columns keep their value") {
  const SinkConfig route = sink_with({column("id", "/id", ColumnType::Integer, true),
                                      column("price", "/price", ColumnType::Numeric, true),
                                      column("micros", "/micros", ColumnType::BigInt, true),
                                      column("day", "/day", ColumnType::Numeric, true)},
                                     {"id"});
  const Decoded decoded = decode(route, R"({"schema": {"type": "struct", "fields": [{"type": "struct", "field": "after", "fields": [
      {"type": "int32", "field": "id"},
      {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "3"}, "field": "price"},
      {"type": "int64", "name": "io.debezium.time.MicroTimestamp", "field": "micros"},
      {"type": "int32", "name": "io.debezium.time.Date", "field": "day"}]}]},
    "payload": {"op": "c", "after": {"id": "3", "price": 1.250, "micros": 1700000000123456, "day": 19000}}})",
                                 R"({"id": 3})");
  CHECK(decoded.field_hex(0) == int32_hex(3));
  CHECK(decoded.field_hex(1) == numeric_hex("1.250"));
  CHECK(decoded.field_hex(2) == int64_hex(1700000000123456));
  CHECK(decoded.field_hex(3) == numeric_hex("19000"));
}

TEST_CASE("one decoder reads events with and without the wrapper in turn, and the mask resets between rows") {
  const SinkConfig route = customers_route();
  DebeziumDecoder decoder(route);
  CopyBuffer buffer;
  RecordView record = kps::testing::record_with(std::nullopt);
  const std::string masked = R"({"op": "u", "after": {"id": 1, "first_name": "__debezium_unavailable_value"}})";
  const std::string plain = wrapped(postgres_payload("c", "null", kAnne));
  record.key = kPlainKey;
  record.value = masked;
  auto first = decoder.decode(record, buffer);
  REQUIRE(std::holds_alternative<DecodedChange>(first));
  CHECK(std::get<DecodedChange>(first).has_unavailable);
  const size_t first_end = buffer.size();
  record.value = plain;
  record.key = kPostgresDocKey;
  auto second = decoder.decode(record, buffer);
  REQUIRE(std::holds_alternative<DecodedChange>(second));
  CHECK_FALSE(std::get<DecodedChange>(second).has_unavailable);
  const std::string_view tuples = buffer.view();
  CHECK(tuple_field(tuples, 4) == std::optional<std::string_view>("0100"));
  const std::string_view second_tuple = tuples.substr(first_end);
  CHECK(hex(*tuple_field(second_tuple, 0)) == int32_hex(1));
  CHECK_FALSE(tuple_field(second_tuple, 4).has_value());
}

}  // namespace kps

namespace kps {

TEST_CASE("explicit columns read the row image at their path, and record metadata as the json decoder does") {
  SinkConfig route = sink_with({column("customer_id", "/id", ColumnType::Integer, true),
                                column("city", "/address/city", ColumnType::Text, true),
                                column("first_tag", "/tags/0", ColumnType::Text, true),
                                column("source_topic", "@topic", ColumnType::Text),
                                column("source_offset", "@offset", ColumnType::BigInt)},
                               {"customer_id"});
  const std::string_view event =
      R"({"op": "c", "after": {"id": 3, "address": {"city": "Lyon"}, "tags": ["vip", "new"], "email": "e"}})";
  const Decoded created = decode(route, event, R"({"id": 3})");
  CHECK(created.field_hex(0) == int32_hex(3));
  CHECK(created.field_text(1) == "Lyon");
  CHECK(created.field_text(2) == "vip");
  CHECK(created.field_text(3) == "events");
  CHECK(created.field_hex(4) == int64_hex(42));
  CHECK(created.field_hex(5) == "NULL");
  REQUIRE(created.unknown.size() == 1);  // address and tags are read by a column; email is not
  CHECK(created.unknown[0].name == "email");

  // A delete finds the key column by the image's field name.
  const Decoded deleted = decode(route, R"({"op": "d", "before": null})", R"({"id": 3})");
  CHECK(deleted.field_hex(0) == int32_hex(3));
  CHECK(deleted.field_hex(1) == "NULL");
}

}  // namespace kps

namespace kps {

TEST_CASE("cut or corrupted events are bad records that append nothing, never a crash or a half tuple") {
  const SinkConfig route = customers_route();
  const std::string event = wrapped(postgres_payload("u", kAnne, kAnneMarie));
  for (size_t length = 0; length < event.size(); ++length) {
    CAPTURE(length);
    const Decoded cut = decode(route, std::string_view(event).substr(0, length), kWrappedKey);
    CHECK(cut.failed().failure == DecodeFailure::InvalidJson);
  }
  // Every byte replaced by a few troublesome ones: whatever comes out is whole.
  uint32_t accepted = 0;
  for (size_t position = 0; position < event.size(); ++position) {
    for (const char replacement : {'"', '{', '}', '0', '\\', 'x', '\0'}) {
      std::string mutated = event;
      mutated[position] = replacement;
      const Decoded decoded = decode(route, mutated, kWrappedKey);
      if (decoded.error) continue;  // decode() checked that nothing was appended
      ++accepted;
      if (decoded.change->kind == ChangeKind::Upsert || decoded.change->kind == ChangeKind::Delete) {
        CHECK(decoded.field_count() == 5);
        for (int index = 0; index < 5; ++index) (void)tuple_field(decoded.tuple, index);
      } else {
        CHECK(decoded.tuple.empty());
      }
    }
  }
  CHECK(accepted > 0);  // some mutations stay valid (inside strings), so the success path is exercised too
}

}  // namespace kps
