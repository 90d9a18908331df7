#pragma once
// The SQL of change data capture, as pure string builders over a route's validated names:
// the table a Debezium schema describes, the upsert that keeps unavailable (TOASTed)
// columns, the truncate that opens a batch, and the columns schema evolution adds. No
// libpq here, so every statement is unit-tested as text; PgWriter runs them.

#include <span>
#include <string>
#include <string_view>

#include "connector/config.h"

namespace kps {

/// The staging table's trailing columns, after the route's own: the reduced row's RowOp
/// (every upsert route), and, on a Debezium route only, the unavailable mask the decoder
/// appends to each tuple (NULL, or one '0'/'1' per route column; '1': keep the stored value).
inline constexpr std::string_view kStagingOpColumn = "__kps_op";
inline constexpr std::string_view kUnavailableMaskColumn = "__kps_unavailable";

/// CREATE TABLE IF NOT EXISTS with `columns` in order (NOT NULL unless nullable) and, when
/// `primary_key` is not empty, that primary key in that order. For json sinks from `columns`,
/// for Debezium routes from DebeziumDecoder::table_shape.
std::string create_table_sql(const QualifiedName& table, std::span<const ColumnConfig> columns,
                             std::span<const std::string> primary_key);

/// Empties the table in the write's transaction (a Debezium truncate event): it takes the
/// ACCESS EXCLUSIVE lock, so it waits under lock_timeout like every statement.
std::string truncate_table_sql(const QualifiedName& table);

/// Taken before adding columns: from then on no other session can add one, so what
/// pg_attribute says is missing is what this transaction adds. ALTER TABLE takes this lock
/// anyway; taking it first costs no concurrency.
std::string lock_for_alter_sql(const QualifiedName& table);

/// One ALTER TABLE adding every column of `columns`, each nullable and IF NOT EXISTS, so a
/// column another session added in the meantime is no error. Never drops or retypes.
/// `columns` must not be empty.
std::string add_columns_sql(const QualifiedName& table, std::span<const ColumnConfig> columns);

/// The column names of `table` ($1: the quoted qualified name), for telling which of a
/// route's added columns are missing.
std::string table_column_names_sql();

/// Condition on the staging table (unqualified) picking the rows a plain upsert takes: on a
/// Debezium route, the rows with no unavailable column.
std::string unmasked_rows_condition();

/// The two statements that apply a Debezium route's staging rows that have an unavailable
/// mask, after the unmasked rows went through the plain upsert. `update_sql` sets, on every
/// stored row of such a key, only the columns the mask does not mark (empty when the table
/// has no column outside the key); `insert_sql` then inserts the keys still missing, with
/// NULL in the marked columns, ON CONFLICT DO NOTHING.
///
/// Should another lane insert one of those keys between the two, the insert waits for it and
/// does nothing: the writer then runs `update_sql` again, which now finds the row. Running it
/// twice on a row sets the same values, so no count has to be exact for this to be right.
struct MaskedUpsertSql {
  std::string update_sql;
  std::string insert_sql;
};
/// `route` has validated `primary_key_columns`; `staging_table` is quoted.
MaskedUpsertSql masked_upsert_sql(const SinkConfig& route, std::string_view staging_table);

}  // namespace kps
