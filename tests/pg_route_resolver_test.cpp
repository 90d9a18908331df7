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
