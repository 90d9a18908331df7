#include "connector/change_sql.h"

#include <catch2/catch.hpp>

#include "tests/test_support.h"

using namespace kps;
using kps::testing::column;
using kps::testing::sink_with;

namespace {

/// A Debezium route of public.customers: key (tenant, id), then name and note.
SinkConfig customers_route() {
  SinkConfig route = sink_with({column("tenant", "/tenant", ColumnType::Text), column("id", "/id", ColumnType::BigInt),
                                column("name", "/name", ColumnType::Text, true),
                                column("note", "/note", ColumnType::Text, true)},
                               {"tenant", "id"});
  route.table = {"public", "customers"};
  route.format = RecordFormat::Debezium;
  route.mode = WriteMode::Upsert;
  return route;
}

}  // namespace

TEST_CASE("create_table_sql lists the columns in order, NOT NULL unless nullable, then the primary key") {
  const std::vector<ColumnConfig> columns = {column("id", "/id", ColumnType::BigInt),
                                             column("Ts", "/ts", ColumnType::TimestampTz, true),
                                             column("we\"ird", "/w", ColumnType::Double, true)};
  const std::vector<std::string> key = {"id"};
  CHECK(create_table_sql({"replica", "orders"}, columns, key) ==
        "CREATE TABLE IF NOT EXISTS \"replica\".\"orders\" (\"id\" bigint NOT NULL,"
        " \"Ts\" timestamp with time zone, \"we\"\"ird\" double precision, PRIMARY KEY (\"id\"))");
}

TEST_CASE("create_table_sql leaves the primary key out when there is none") {
  const std::vector<ColumnConfig> columns = {column("a", "/a", ColumnType::Text, true)};
  CHECK(create_table_sql({"", "t"}, columns, {}) == "CREATE TABLE IF NOT EXISTS \"t\" (\"a\" text)");
}

TEST_CASE("truncate_table_sql truncates the quoted qualified table") {
  CHECK(truncate_table_sql({"replica", "Orders"}) == "TRUNCATE TABLE \"replica\".\"Orders\"");
}

TEST_CASE("add_columns_sql adds every column nullable and only if it does not exist yet") {
  const std::vector<ColumnConfig> columns = {column("email", "/email", ColumnType::Text, false),
                                             column("born", "/born", ColumnType::Date, true)};
  CHECK(add_columns_sql({"replica", "customers"}, columns) ==
        "ALTER TABLE \"replica\".\"customers\" ADD COLUMN IF NOT EXISTS \"email\" text,"
        " ADD COLUMN IF NOT EXISTS \"born\" date");
  CHECK(lock_for_alter_sql({"replica", "customers"}) ==
        "LOCK TABLE \"replica\".\"customers\" IN ACCESS EXCLUSIVE MODE");
}

TEST_CASE("the masked update keeps every marked column's stored value and sets only the unmarked ones") {
  const MaskedUpsertSql sql = masked_upsert_sql(customers_route(), "pg_temp.\"kps_stage_0\"");
  CHECK(sql.update_sql ==
        "UPDATE \"public\".\"customers\" AS t SET"
        " \"name\" = CASE WHEN substr(s.\"__kps_unavailable\", 3, 1) = '1' THEN t.\"name\" ELSE s.\"name\" END,"
        " \"note\" = CASE WHEN substr(s.\"__kps_unavailable\", 4, 1) = '1' THEN t.\"note\" ELSE s.\"note\" END"
        " FROM pg_temp.\"kps_stage_0\" AS s"
        " WHERE s.\"__kps_op\" <> 2 AND s.\"__kps_unavailable\" IS NOT NULL"
        " AND t.\"tenant\" = s.\"tenant\" AND t.\"id\" = s.\"id\"");
}

TEST_CASE("the masked insert writes NULL, never the placeholder, into a new row's marked columns") {
  const MaskedUpsertSql sql = masked_upsert_sql(customers_route(), "pg_temp.\"kps_stage_0\"");
  CHECK(sql.insert_sql ==
        "INSERT INTO \"public\".\"customers\" AS t (\"tenant\", \"id\", \"name\", \"note\") SELECT \"tenant\", \"id\","
        " CASE WHEN substr(\"__kps_unavailable\", 3, 1) = '1' THEN NULL ELSE \"name\" END,"
        " CASE WHEN substr(\"__kps_unavailable\", 4, 1) = '1' THEN NULL ELSE \"note\" END"
        " FROM pg_temp.\"kps_stage_0\" WHERE \"__kps_op\" <> 2 AND \"__kps_unavailable\" IS NOT NULL"
        " ON CONFLICT (\"tenant\", \"id\") DO NOTHING");
}

TEST_CASE("the masked update of an upsert_when_newer route overwrites only older stored rows") {
  SinkConfig route = customers_route();
  route.newer_column = 2;
  const MaskedUpsertSql sql = masked_upsert_sql(route, "s_t");
  CHECK_THAT(sql.update_sql,
             Catch::EndsWith(" AND (t.\"name\" IS NULL OR s.\"name\" >= t.\"name\")"));
}

TEST_CASE("a route whose columns are all key columns has no masked update, only the insert") {
  SinkConfig route = sink_with({column("id", "/id", ColumnType::BigInt)}, {"id"});
  const MaskedUpsertSql sql = masked_upsert_sql(route, "s_t");
  CHECK(sql.update_sql.empty());
  CHECK(sql.insert_sql ==
        "INSERT INTO \"public\".\"events\" AS t (\"id\") SELECT \"id\" FROM s_t"
        " WHERE \"__kps_op\" <> 2 AND \"__kps_unavailable\" IS NOT NULL ON CONFLICT (\"id\") DO NOTHING");
}

TEST_CASE("the plain upsert of a Debezium route takes only the staging rows without a mask") {
  CHECK(unmasked_rows_condition() == "\"__kps_unavailable\" IS NULL");
}
