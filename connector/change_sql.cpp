#include "connector/change_sql.h"

#include <algorithm>

#include "connector/table_batch.h"

namespace kps {
namespace {

std::string quoted_list(std::span<const std::string> names, std::string_view prefix = "") {
  std::string list;
  for (const std::string& name : names) {
    if (!list.empty()) list += ", ";
    list += prefix;
    list += quote_identifier(name);
  }
  return list;
}

bool in_primary_key(const SinkConfig& route, size_t column_index) {
  return std::find(route.primary_key_columns.begin(), route.primary_key_columns.end(), column_index) !=
         route.primary_key_columns.end();
}

/// `substr(<prefix>mask, N, 1) = '1'`: column N (from 1) holds the placeholder.
std::string marked(std::string_view prefix, size_t column_index) {
  return "substr(" + std::string(prefix) + quote_identifier(kUnavailableMaskColumn) + ", " +
         std::to_string(column_index + 1) + ", 1) = '1'";
}

/// The staging rows that carry a mask and are not plain deletes.
std::string masked_rows_condition(std::string_view prefix) {
  return std::string(prefix) + quote_identifier(kStagingOpColumn) + " <> " +
         std::to_string(static_cast<int>(RowOp::Delete)) + " AND " + std::string(prefix) +
         quote_identifier(kUnavailableMaskColumn) + " IS NOT NULL";
}

}  // namespace

std::string create_table_sql(const QualifiedName& table, std::span<const ColumnConfig> columns,
                             std::span<const std::string> primary_key) {
  std::string sql = "CREATE TABLE IF NOT EXISTS " + quote_qualified_name(table) + " (";
  for (const ColumnConfig& column : columns) {
    sql += quote_identifier(column.name) + " " + std::string(column_type_sql(column.type));
    if (!column.nullable) sql += " NOT NULL";
    sql += ", ";
  }
  if (!primary_key.empty()) {
    sql += "PRIMARY KEY (" + quoted_list(primary_key) + ")";
  } else if (!columns.empty()) {
    sql.resize(sql.size() - 2);
  }
  return sql + ")";
}

std::string truncate_table_sql(const QualifiedName& table) {
  return "TRUNCATE TABLE " + quote_qualified_name(table);
}

std::string lock_for_alter_sql(const QualifiedName& table) {
  return "LOCK TABLE " + quote_qualified_name(table) + " IN ACCESS EXCLUSIVE MODE";
}

std::string add_columns_sql(const QualifiedName& table, std::span<const ColumnConfig> columns) {
  std::string sql = "ALTER TABLE " + quote_qualified_name(table);
  for (size_t index = 0; index < columns.size(); ++index) {
    sql += (index == 0 ? " " : ", ");
    sql += "ADD COLUMN IF NOT EXISTS " + quote_identifier(columns[index].name) + " " +
           std::string(column_type_sql(columns[index].type));
  }
  return sql;
}

std::string table_column_names_sql() {
  return "SELECT a.attname FROM pg_attribute a"
         " WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped";
}

std::string unmasked_rows_condition() {
  return quote_identifier(kUnavailableMaskColumn) + " IS NULL";
}

MaskedUpsertSql masked_upsert_sql(const SinkConfig& route, std::string_view staging_table) {
  const std::string table = quote_qualified_name(route.table);
  MaskedUpsertSql sql;

  std::string assignments;
  for (size_t index = 0; index < route.columns.size(); ++index) {
    if (in_primary_key(route, index)) continue;
    const std::string name = quote_identifier(route.columns[index].name);
    if (!assignments.empty()) assignments += ", ";
    assignments += name + " = CASE WHEN " + marked("s.", index) + " THEN t." + name + " ELSE s." + name + " END";
  }
  if (!assignments.empty()) {
    sql.update_sql = "UPDATE " + table + " AS t SET " + assignments + " FROM " + std::string(staging_table) +
                     " AS s WHERE " + masked_rows_condition("s.");
    for (const std::string& key : route.primary_key) {
      sql.update_sql += " AND t." + quote_identifier(key) + " = s." + quote_identifier(key);
    }
    if (route.newer_column) {
      // As the plain upsert: a stored NULL is older than anything, a tie goes to the record.
      const std::string newer = quote_identifier(route.columns[*route.newer_column].name);
      sql.update_sql += " AND (t." + newer + " IS NULL OR s." + newer + " >= t." + newer + ")";
    }
  }

  std::string targets;
  std::string values;
  for (size_t index = 0; index < route.columns.size(); ++index) {
    const std::string name = quote_identifier(route.columns[index].name);
    if (!targets.empty()) {
      targets += ", ";
      values += ", ";
    }
    targets += name;
    // A new row has no stored value to keep: NULL, never the placeholder.
    values += in_primary_key(route, index) ? name : "CASE WHEN " + marked("", index) + " THEN NULL ELSE " + name + " END";
  }
  sql.insert_sql = "INSERT INTO " + table + " AS t (" + targets + ") SELECT " + values + " FROM " +
                   std::string(staging_table) + " WHERE " + masked_rows_condition("") + " ON CONFLICT (" +
                   quoted_list(route.primary_key) + ") DO NOTHING";
  return sql;
}

}  // namespace kps
