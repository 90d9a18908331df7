// What routing by column name reads from PostgreSQL's catalog: which types a route can
// write, and the JSON pointer of a column's same-named field.

#include <catch2/catch.hpp>

#include "connector/pg_route_resolver.h"

using kps::ColumnType;

TEST_CASE("PostgreSQL types map to the column types a route writes; varchar and char are text") {
  CHECK(kps::column_type_from_pg("int2") == ColumnType::SmallInt);
  CHECK(kps::column_type_from_pg("int4") == ColumnType::Integer);
  CHECK(kps::column_type_from_pg("int8") == ColumnType::BigInt);
  CHECK(kps::column_type_from_pg("float4") == ColumnType::Real);
  CHECK(kps::column_type_from_pg("float8") == ColumnType::Double);
  CHECK(kps::column_type_from_pg("numeric") == ColumnType::Numeric);
  CHECK(kps::column_type_from_pg("bool") == ColumnType::Boolean);
  CHECK(kps::column_type_from_pg("text") == ColumnType::Text);
  CHECK(kps::column_type_from_pg("varchar") == ColumnType::Text);
  CHECK(kps::column_type_from_pg("bpchar") == ColumnType::Text);
  CHECK(kps::column_type_from_pg("uuid") == ColumnType::Uuid);
  CHECK(kps::column_type_from_pg("date") == ColumnType::Date);
  CHECK(kps::column_type_from_pg("timestamp") == ColumnType::Timestamp);
  CHECK(kps::column_type_from_pg("timestamptz") == ColumnType::TimestampTz);
  CHECK(kps::column_type_from_pg("json") == ColumnType::Json);
  CHECK(kps::column_type_from_pg("jsonb") == ColumnType::Jsonb);
  CHECK(kps::column_type_from_pg("bytea") == ColumnType::Bytea);
}

TEST_CASE("a PostgreSQL type a route cannot write is left out, not guessed") {
  CHECK_FALSE(kps::column_type_from_pg("point").has_value());
  CHECK_FALSE(kps::column_type_from_pg("_int4").has_value());
  CHECK_FALSE(kps::column_type_from_pg("interval").has_value());
}

TEST_CASE("a column's field is the top-level member of its name, with ~ and / escaped") {
  CHECK(kps::json_pointer_to_member("id") == "/id");
  CHECK(kps::json_pointer_to_member("a/b") == "/a~1b");
  CHECK(kps::json_pointer_to_member("x~y") == "/x~0y");
  CHECK(kps::json_pointer_to_member("Odd Name") == "/Odd Name");
}

TEST_CASE("a Debezium record key agrees with the table's primary key when they name the same columns, in any order") {
  using Names = std::vector<std::string>;
  CHECK(kps::debezium_key_disagreement(Names{"id"}, Names{"id"}, "\"public\".\"t\"", "db.t").empty());
  CHECK(kps::debezium_key_disagreement(Names{"a", "b"}, Names{"b", "a"}, "\"public\".\"t\"", "db.t").empty());
}

TEST_CASE("a Debezium record key naming other fields than the table's primary key is refused, naming both keys") {
  using Names = std::vector<std::string>;
  const std::string why = kps::debezium_key_disagreement(Names{"id"}, Names{"order_id", "line"}, "\"public\".\"t\"",
                                                         "db.t");
  CHECK(why == "topic db.t routes to table \"public\".\"t\", whose primary key (id) is not the record key (fields "
               "order_id, line): a change would update or delete the wrong rows; make them agree");
  CHECK_FALSE(kps::debezium_key_disagreement(Names{"a", "b"}, Names{"a"}, "t", "db.t").empty());
}

TEST_CASE("a table without a primary key cannot take a Debezium upsert by a record key, and the message says how to fix it") {
  using Names = std::vector<std::string>;
  CHECK(kps::debezium_key_disagreement(Names{}, Names{"a", "b"}, "\"public\".\"x\"", "db.x") ==
        "table \"public\".\"x\" has no primary key; format debezium upserts by the record key (fields a, b) of "
        "topic db.x: add PRIMARY KEY (a, b) or use create_table");
}

TEST_CASE("a keyless source table (no record key) is not a key disagreement: its route is published keyless") {
  using Names = std::vector<std::string>;
  CHECK(kps::debezium_key_disagreement(Names{}, std::nullopt, "t", "db.t").empty());
  CHECK(kps::debezium_key_disagreement(Names{"id"}, std::nullopt, "t", "db.t").empty());
}

TEST_CASE("names up to PostgreSQL's 63 bytes fit, a longer one would be truncated and is refused") {
  CHECK(kps::fits_pg_identifier(std::string(63, 'a')));
  CHECK_FALSE(kps::fits_pg_identifier(std::string(64, 'a')));
  // Bytes, not characters: 32 two-byte characters are 64 bytes.
  std::string wide;
  for (int i = 0; i < 32; ++i) wide += "\xc3\xa9";
  CHECK_FALSE(kps::fits_pg_identifier(wide));
}
