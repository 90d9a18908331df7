#include "connector/pg_writer.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>

#include "connector/change_sql.h"
#include "connector/copy_encoder.h"
#include "connector/failpoint.h"
#include "connector/log.h"
#include "connector/pg_connection.h"
#include "connector/pg_offsets_table.h"

namespace kps {
namespace {

constexpr size_t kCopyChunkBytes = 1 << 20;
constexpr uint32_t kJsonOid = 114;
constexpr ColumnType kAllColumnTypes[] = {
    ColumnType::SmallInt, ColumnType::Integer, ColumnType::BigInt, ColumnType::Real,        ColumnType::Double,
    ColumnType::Numeric,  ColumnType::Boolean, ColumnType::Text,   ColumnType::Uuid,        ColumnType::Date,
    ColumnType::Timestamp, ColumnType::TimestampTz, ColumnType::Json, ColumnType::Jsonb, ColumnType::Bytea,
    ColumnType::Time};
constexpr std::string_view kOpColumn = kStagingOpColumn;

/// pg_type OIDs binary COPY must match exactly, per configured type. Text may also
/// land in varchar and char(n): their binary input is text's.
bool column_type_accepts(ColumnType type, uint32_t oid) {
  switch (type) {
    case ColumnType::SmallInt: return oid == 21;
    case ColumnType::Integer: return oid == 23;
    case ColumnType::BigInt: return oid == 20;
    case ColumnType::Real: return oid == 700;
    case ColumnType::Double: return oid == 701;
    case ColumnType::Numeric: return oid == 1700;
    case ColumnType::Boolean: return oid == 16;
    case ColumnType::Text: return oid == 25 || oid == 1043 || oid == 1042;
    case ColumnType::Uuid: return oid == 2950;
    case ColumnType::Date: return oid == 1082;
    case ColumnType::Timestamp: return oid == 1114;
    case ColumnType::TimestampTz: return oid == 1184;
    case ColumnType::Json: return oid == 114;
    case ColumnType::Jsonb: return oid == 3802;
    case ColumnType::Bytea: return oid == 17;
    case ColumnType::Time: return oid == 1083;
  }
  return false;
}

const char* mode_name(WriteMode mode) {
  switch (mode) {
    case WriteMode::Insert: return "insert";
    case WriteMode::Upsert: return "upsert";
    case WriteMode::InsertIgnore: return "insert_ignore";
  }
  return "unknown";
}

std::string column_list(const SinkConfig& sink, std::string_view prefix = "") {
  std::string list;
  for (const ColumnConfig& column : sink.columns) {
    if (!list.empty()) list += ", ";
    list += prefix;
    list += quote_identifier(column.name);
  }
  return list;
}

std::string primary_key_list(const SinkConfig& sink) {
  std::string list;
  for (const std::string& name : sink.primary_key) {
    if (!list.empty()) list += ", ";
    list += quote_identifier(name);
  }
  return list;
}

// How many times one batch's transaction runs when it loses a deadlock or a serialization
// conflict to another lane, before the connector's recovery takes over.
constexpr int kConflictAttempts = 5;
// Before the second attempt; doubled before each next one (50, 100, 200, 400 ms).
constexpr std::chrono::milliseconds kConflictFirstWait{50};

/// The transaction lost a lock conflict and was rolled back whole (deadlock, serialization).
bool is_lane_conflict(const Status& status) {
  return !status.is_ok() && (status.code() == "40P01" || status.code() == "40001");
}

/// PostgreSQL refused a row for its data (class 22 or 23), not for anything the
/// connection, the schema or the privileges did.
bool is_data_error(const Status& status) {
  return status.kind() == ErrorKind::Poison && status.code().size() == 5;
}

}  // namespace

/// The SQL of one sink, built once at start-up from validated, quoted identifiers.
struct PgWriter::SinkStatements {
  std::string copy_sql;       // COPY into the table (insert) or into the staging table
  std::string staging_table;  // empty for insert mode
  std::string create_staging_sql;
  std::string delete_sql;     // tombstones, Debezium deletes; empty unless delete_on_tombstone or Debezium
  std::string apply_sql;      // INSERT … SELECT … ON CONFLICT from staging
  // Change data capture (change_sql.h):
  MaskedUpsertSql masked;     // Debezium routes: rows with unavailable columns; else empty
  int mask_field = -1;        // Debezium routes: the tuple field of the unavailable mask
  std::string truncate_sql;   // run first when a batch has truncate_first
  /// A write of this route committed on this connection, so its added_columns exist.
  bool added_columns_ensured = false;
};

PgWriter::PgWriter(const Config& config, const Clock& clock)
    : config_(config), clock_(clock), own_routes_(std::make_unique<RouteTable>(config)), routes_(own_routes_.get()) {}

void PgWriter::share_routes(const RouteTable& routes) {
  routes_ = &routes;
  own_routes_.reset();
}

PgWriter::~PgWriter() = default;

Status PgWriter::open() {
  auto connected = PgConnection::connect(
      config_.postgres.dsn, SessionSettings{config_.postgres.statement_timeout, config_.postgres.lock_timeout});
  if (!connected) return connected.status();
  connection_ = std::make_unique<PgConnection>(std::move(connected.value()));
  if (Status status = ensure_offsets_table(); !status) return status;
  // A new session: its staging tables are gone, so every route is prepared again.
  statements_.clear();
  prepared_.clear();
  for (size_t index = 0; index < config_.sinks.size(); ++index) {
    if (const std::optional<size_t> route = routes_->static_route(index)) {
      if (Status status = prepare_sink(*route); !status) return status;
    }
  }
  return Status::ok();
}

Status PgWriter::reopen() {
  connection_.reset();
  return open();
}

Status PgWriter::ensure_offsets_table() {
  const std::string table = quote_qualified_name(config_.postgres.offsets_table);
  Status status = kps::ensure_offsets_table(*connection_, config_.postgres.offsets_table);
  if (!status) return status;
  // Every partition of a batch in one statement each: one round trip for the rows that
  // exist (compare-and-set per row) and one for those with no row yet. RETURNING names the
  // rows that moved, so a partition that did not is named exactly.
  const std::string unnest =
      " FROM unnest($2::text[], $3::integer[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])"
      " AS u(topic, \"partition\", next_offset, last_record_timestamp_ms, last_record_offset, expected)";
  if (status = connection_->prepare("kps_offsets_update",
          "UPDATE " + table + " AS o SET next_offset = u.next_offset,"
          " last_record_timestamp_ms = u.last_record_timestamp_ms, last_record_offset = u.last_record_offset,"
          " reset_to_offset = NULL, updated_at = now()" + unnest +
          " WHERE o.group_id = $1 AND o.topic = u.topic AND o.\"partition\" = u.\"partition\""
          " AND o.next_offset = u.expected RETURNING o.topic, o.\"partition\"");
      !status) {
    return status;
  }
  return connection_->prepare("kps_offsets_insert",
      "INSERT INTO " + table + " (group_id, topic, \"partition\", next_offset, last_record_timestamp_ms,"
      " last_record_offset) SELECT $1, u.topic, u.\"partition\", u.next_offset, u.last_record_timestamp_ms,"
      " u.last_record_offset" + unnest + " ON CONFLICT DO NOTHING RETURNING topic, \"partition\"");
}

Status PgWriter::prepare_sink(size_t route_index) {
  const SinkConfig& sink = routes_->route(route_index);
  if (route_index >= statements_.size()) {
    statements_.resize(route_index + 1);
    prepared_.resize(route_index + 1, false);
  }
  const std::string table = quote_qualified_name(sink.table);
  if (sink.create_table) {
    Status status = connection_->execute(create_table_sql(sink.table, sink.columns, sink.primary_key));
    if (!status && (status.code() == "23505" || status.code() == "42P07")) status = Status::ok();
    if (!status) return status;
  }

  const std::string quoted_table_name = table;
  const std::array<PgParam, 1> params = {quoted_table_name};
  auto columns = connection_->query(
      "SELECT a.attname, a.atttypid::int8, format_type(a.atttypid, a.atttypmod)"
      " FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
      params);
  if (!columns) return columns.status();
  if (columns.value().row_count() == 0) {
    return Status::error(ErrorKind::Fatal, "table " + table + " does not exist (or has no columns);"
                         " create it, or set create_table: true for topic " + sink.topic + sink.topic_pattern);
  }
  // A no-op update is skipped with IS DISTINCT FROM, which needs an equality operator
  // for every updated column: json has none, so such a table updates every time.
  bool all_comparable = true;
  for (const ColumnConfig& column : sink.columns) {
    bool found = false;
    for (int row = 0; row < columns.value().row_count(); ++row) {
      if (columns.value().value(row, 0) != column.name) continue;
      found = true;
      const auto oid = static_cast<uint32_t>(std::stoul(std::string(columns.value().value(row, 1))));
      const bool known_type = std::any_of(std::begin(kAllColumnTypes), std::end(kAllColumnTypes),
                                          [&](ColumnType type) { return column_type_accepts(type, oid); });
      if (!known_type || oid == kJsonOid) all_comparable = false;
      // Insert mode copies straight into the table, which needs the exact type. The other
      // modes go from a staging table of the configured types through INSERT … SELECT,
      // where an assignment cast would silently round a number, truncate a fraction or
      // shift a timestamp by the session's time zone: they need the same type too.
      if (!column_type_accepts(column.type, oid)) {
        return Status::error(ErrorKind::Fatal,
            "column " + quote_identifier(column.name) + " of " + table + " is " +
            std::string(columns.value().value(row, 2)) + " but the config says " +
            std::string(column_type_name(column.type)) + "; " + mode_name(sink.mode) +
            " mode needs the same type (an implicit cast could change the value): change the column or the config");
      }
    }
    const bool added = std::any_of(sink.added_columns.begin(), sink.added_columns.end(),
                                   [&](const ColumnConfig& add) { return add.name == column.name; });
    if (!found && added) {
      // Each write adds it in its own transaction (ensure_added_columns), of this type.
      if (column.type == ColumnType::Json) all_comparable = false;
      continue;
    }
    if (!found) {
      return Status::error(ErrorKind::Fatal,
                           "table " + table + " has no column " + quote_identifier(column.name));
    }
  }

  SinkStatements& statements = statements_[route_index];
  statements = SinkStatements{};
  statements.truncate_sql = truncate_table_sql(sink.table);
  if (sink.mode == WriteMode::Insert) {
    statements.copy_sql = "COPY " + table + " (" + column_list(sink) + ") FROM STDIN (FORMAT binary)";
    prepared_[route_index] = true;
    return Status::ok();
  }

  statements.staging_table = "pg_temp." + quote_identifier("kps_stage_" + std::to_string(route_index));
  std::string staging_columns;
  for (const ColumnConfig& column : sink.columns) {
    staging_columns += quote_identifier(column.name) + " " + std::string(column_type_sql(column.type)) + ", ";
  }
  // A Debezium tuple ends with the unavailable mask, which the staging table takes as is.
  const bool debezium = sink.format == RecordFormat::Debezium;
  const std::string mask_column = debezium ? quote_identifier(kUnavailableMaskColumn) + ", " : "";
  if (debezium) staging_columns += quote_identifier(kUnavailableMaskColumn) + " text, ";
  statements.create_staging_sql = "CREATE TEMP TABLE IF NOT EXISTS " +
      quote_identifier("kps_stage_" + std::to_string(route_index)) + " (" + staging_columns +
      quote_identifier(kOpColumn) + " smallint NOT NULL) ON COMMIT DELETE ROWS";
  statements.copy_sql = "COPY " + statements.staging_table + " (" + column_list(sink) + ", " + mask_column +
                        quote_identifier(kOpColumn) + ") FROM STDIN (FORMAT binary)";
  if (debezium) {
    statements.masked = masked_upsert_sql(sink, statements.staging_table);
    statements.mask_field = static_cast<int>(sink.columns.size());
  }

  // A Debezium "d" is a delete whatever delete_on_tombstone says (its tombstone is skipped).
  if (sink.delete_on_tombstone || debezium) {
    std::string key_match;
    for (const std::string& name : sink.primary_key) {
      key_match += " AND t." + quote_identifier(name) + " = s." + quote_identifier(name);
    }
    statements.delete_sql = "DELETE FROM " + table + " AS t USING " + statements.staging_table +
        " AS s WHERE s." + quote_identifier(kOpColumn) + " <> " +
        std::to_string(static_cast<int>(RowOp::Upsert)) + key_match;
  }

  std::string apply = "INSERT INTO " + table + " AS t (" + column_list(sink) + ") SELECT " +
      column_list(sink) + " FROM " + statements.staging_table + " WHERE " + quote_identifier(kOpColumn) +
      " <> " + std::to_string(static_cast<int>(RowOp::Delete)) +
      (debezium ? " AND " + unmasked_rows_condition() : std::string()) + " ON CONFLICT (" + primary_key_list(sink) + ") ";
  // ROW(...) so that a single updated column still compares as a row.
  const auto updated_columns_as = [&](const std::string& prefix) {
    std::string list = "ROW(";
    bool first = true;
    for (size_t index = 0; index < sink.columns.size(); ++index) {
      if (std::find(sink.primary_key_columns.begin(), sink.primary_key_columns.end(), index) !=
          sink.primary_key_columns.end()) {
        continue;
      }
      if (!first) list += ", ";
      first = false;
      list += prefix + quote_identifier(sink.columns[index].name);
    }
    return list + ")";
  };
  std::string assignments;
  for (size_t index = 0; index < sink.columns.size(); ++index) {
    const bool in_key = std::find(sink.primary_key_columns.begin(), sink.primary_key_columns.end(), index) !=
                        sink.primary_key_columns.end();
    if (in_key) continue;
    if (!assignments.empty()) assignments += ", ";
    const std::string name = quote_identifier(sink.columns[index].name);
    assignments += name + " = EXCLUDED." + name;
  }
  if (sink.mode == WriteMode::InsertIgnore || assignments.empty()) {
    apply += "DO NOTHING";
  } else {
    apply += "DO UPDATE SET " + assignments;
    std::vector<std::string> conditions;
    if (sink.newer_column) {
      const std::string newer = quote_identifier(sink.columns[*sink.newer_column].name);
      // A stored NULL counts as older than anything. On a tie the later record wins, as
      // it does within a batch (KeyReducer).
      conditions.push_back("(t." + newer + " IS NULL OR EXCLUDED." + newer + " >= t." + newer + ")");
    }
    if (all_comparable) {
      // An update that changes nothing still writes a new row version and its WAL.
      conditions.push_back("(" + updated_columns_as("t.") + ") IS DISTINCT FROM (" + updated_columns_as("EXCLUDED.") + ")");
    }
    for (size_t index = 0; index < conditions.size(); ++index) {
      apply += (index == 0 ? " WHERE " : " AND ") + conditions[index];
    }
  }
  statements.apply_sql = std::move(apply);
  Status created = connection_->execute(statements.create_staging_sql);
  if (created) prepared_[route_index] = true;
  return created;
}

Status PgWriter::write(const WriteRequest& request) {
  Status status = write_once(request);
  // Another lane upserting the same keys in another order deadlocks with this one
  // (40P01), or a serialization failure (40001) aborts it: the whole transaction was
  // rolled back, so nothing of it, and no offset, moved. PostgreSQL let the other
  // transaction through; running the same one again at once keeps the lane's order and
  // is cheaper than a recovery, which stays the answer once the attempts are spent.
  for (int attempt = 2; attempt <= kConflictAttempts && is_lane_conflict(status); ++attempt) {
    // The winner still holds its locks until it commits: running again at once takes the
    // same rows in the same order and deadlocks with it again.
    clock_.sleep_for(kConflictFirstWait * (1 << (attempt - 2)));
    log::warn("write to ", quote_qualified_name(routes_->route(request.route_index).table), " rolled back (SQLSTATE ",
              status.code(), ": ", status.message(), "); running the same transaction again (attempt ", attempt,
              " of ", kConflictAttempts, ")");
    if (request.rejected != nullptr) request.rejected->clear();
    status = write_once(request);
  }
  return status;
}

Status PgWriter::write_once(const WriteRequest& request) {
  if (!connection_ || connection_->is_broken()) {
    return Status::error(ErrorKind::Transient, "not connected to PostgreSQL");
  }
  if (request.route_index >= prepared_.size() || !prepared_[request.route_index]) {
    // A route first written on this connection: routed since open(), or a new version.
    if (Status status = prepare_sink(request.route_index); !status) return status;
  }
  SinkStatements& statements = statements_[request.route_index];
  failpoint("before_begin");
  if (Status status = begin_write(request, statements); !status) {
    roll_back();
    return status;
  }
  Status status = write_rows(request.batch, request.rows, statements);
  if (!status && is_data_error(status) && request.rejected != nullptr) {
    // Start over in savepoints, so that the rows PostgreSQL accepts stay written
    // while the refused ones are narrowed down.
    const Status data_error = status;
    log::warn("PostgreSQL refused a batch of ", request.rows.size(), " row(s) (SQLSTATE ", status.code(), ": ",
              status.message(), "); writing it again in parts to find the refused rows");
    roll_back();
    request.rejected->clear();
    status = begin_write(request, statements);
    if (status) status = isolate_rejected_rows(request.batch, request.rows, statements, data_error, *request.rejected);
    if (status && !request.rejected->empty()) {
      // The caller routes them and writes the rest again: the offsets must not move
      // past a refused row before its dead letter is acknowledged.
      roll_back();
      const RejectedRow& first = request.rejected->front();
      return Status::error(ErrorKind::Poison,
                           std::to_string(request.rejected->size()) + " row(s) refused by PostgreSQL; first: " +
                               first.reason, first.sqlstate);
    }
  }
  if (status) status = advance_offsets(request.offsets);
  // A reply lost after COMMIT left is ambiguous; the caller re-reads the offsets rows
  // after reconnecting, and the compare-and-set keeps a retry from applying twice.
  if (status) status = connection_->execute("COMMIT", "after_commit_sent");
  if (!status) {
    roll_back();
    return status;
  }
  failpoint("after_commit");
  note_committed(request, statements);
  return status;
}

Status PgWriter::begin_write(const WriteRequest& request, SinkStatements& statements) {
  columns_added_.clear();
  if (Status status = connection_->execute("BEGIN"); !status) return status;
  const SinkConfig& route = routes_->route(request.route_index);
  if (!route.added_columns.empty() && !statements.added_columns_ensured) {
    if (Status status = ensure_added_columns(route); !status) return status;
  }
  // The batch's rows come after the truncate event, so they survive it.
  if (request.batch.truncate_first) return connection_->execute(statements.truncate_sql);
  return Status::ok();
}

Result<std::vector<ColumnConfig>> PgWriter::missing_added_columns(const SinkConfig& route) {
  const std::string table = quote_qualified_name(route.table);
  const std::array<PgParam, 1> params = {table};
  auto names = connection_->query(table_column_names_sql(), params);
  if (!names) return names.status();
  std::vector<ColumnConfig> missing;
  for (const ColumnConfig& column : route.added_columns) {
    bool found = false;
    for (int row = 0; row < names.value().row_count() && !found; ++row) found = names.value().value(row, 0) == column.name;
    if (!found) missing.push_back(column);
  }
  return missing;
}

Status PgWriter::ensure_added_columns(const SinkConfig& route) {
  // Mostly another connection added them already: then no lock is taken at all.
  auto missing = missing_added_columns(route);
  if (!missing) return missing.status();
  if (missing.value().empty()) return Status::ok();
  // Once the lock is held no other session can add a column, so what is missing now is
  // exactly what this transaction adds (and logs, once it commits).
  if (Status status = connection_->execute(lock_for_alter_sql(route.table)); !status) return status;
  missing = missing_added_columns(route);
  if (!missing) return missing.status();
  if (missing.value().empty()) return Status::ok();
  if (Status status = connection_->execute(add_columns_sql(route.table, missing.value())); !status) return status;
  columns_added_ = std::move(missing.value());
  return Status::ok();
}

void PgWriter::note_committed(const WriteRequest& request, SinkStatements& statements) {
  const SinkConfig& route = routes_->route(request.route_index);
  statements.added_columns_ensured = true;
  for (const ColumnConfig& column : columns_added_) {
    log::info("altered table ", quote_qualified_name(route.table), ": added column ", quote_identifier(column.name),
              " ", column_type_sql(column.type));
  }
  columns_added_.clear();
}

Status PgWriter::try_rows(const TableBatch& batch, std::span<const ReducedRow> rows,
                          const SinkStatements& statements) {
  if (Status status = connection_->execute("SAVEPOINT kps_rows"); !status) return status;
  Status status = write_rows(batch, rows, statements);
  if (status && !statements.staging_table.empty()) {
    // The next attempt applies only its own rows.
    status = connection_->execute("DELETE FROM " + statements.staging_table);
  }
  if (status) return connection_->execute("RELEASE SAVEPOINT kps_rows");
  if (Status undone = connection_->execute("ROLLBACK TO SAVEPOINT kps_rows; RELEASE SAVEPOINT kps_rows"); !undone) {
    return undone;
  }
  return status;
}

Status PgWriter::isolate_rejected_rows(const TableBatch& batch, std::span<const ReducedRow> rows,
                                       const SinkStatements& statements, Status failure,
                                       std::vector<RejectedRow>& rejected) {
  // `failure` is what writing all of `rows` at once gave (ok: not tried yet).
  while (!rows.empty()) {
    Status status = failure.is_ok() ? try_rows(batch, rows, statements) : failure;
    failure = Status::ok();
    if (status) return status;
    if (!is_data_error(status)) return status;
    const PgErrorPosition position = connection_->last_error_position();
    if (rows.size() == 1) {
      rejected.push_back({rows[0].row_index, status.code(), position.column, status.message()});
      return Status::ok();
    }
    // COPY names the row it stopped at: the rows before it are good, the rest is unknown.
    if (position.copy_line && *position.copy_line >= 1 && *position.copy_line <= rows.size()) {
      const size_t bad = *position.copy_line - 1;
      if (bad > 0) {
        if (Status good = isolate_rejected_rows(batch, rows.first(bad), statements, Status::ok(), rejected); !good) {
          return good;
        }
      }
      rejected.push_back({rows[bad].row_index, status.code(), position.column, status.message()});
      rows = rows.subspan(bad + 1);
      continue;
    }
    const size_t half = rows.size() / 2;
    if (Status first = isolate_rejected_rows(batch, rows.first(half), statements, Status::ok(), rejected); !first) {
      return first;
    }
    rows = rows.subspan(half);
  }
  return Status::ok();
}

Status PgWriter::write_rows(const TableBatch& batch, std::span<const ReducedRow> rows,
                            const SinkStatements& statements) {
  if (rows.empty()) return Status::ok();
  if (Status status = connection_->copy_begin(statements.copy_sql); !status) return status;
  Status status = connection_->copy_send(copy_stream_header());
  bool any_delete = false;
  uint64_t masked_rows = 0;  // Debezium rows with unavailable columns
  if (statements.staging_table.empty() && rows.size() == batch.rows.size()) {
    // Insert mode sends every row in batch order: the tuple buffer is the COPY body.
    if (status) status = connection_->copy_send(batch.tuples.view());
  } else if (statements.staging_table.empty()) {
    // Some rows were refused before: send the others, one tuple at a time.
    copy_chunk_.clear();
    for (const ReducedRow& reduced : rows) {
      copy_chunk_.append(batch.tuple(batch.rows[reduced.row_index]));
      if (copy_chunk_.size() >= kCopyChunkBytes) {
        if (status) status = connection_->copy_send(copy_chunk_);
        copy_chunk_.clear();
      }
    }
    if (status && !copy_chunk_.empty()) status = connection_->copy_send(copy_chunk_);
  } else {
    copy_chunk_.clear();
    for (const ReducedRow& reduced : rows) {
      const std::string_view tuple = reduced_tuple(batch, reduced);
      // Re-frame the tuple with one more field, the op column: new field count,
      // the original fields, then an int16.
      int16_t field_count = 0;
      std::memcpy(&field_count, tuple.data(), 2);
      field_count = static_cast<int16_t>(__builtin_bswap16(static_cast<uint16_t>(field_count)) + 1);
      const uint16_t count_be = __builtin_bswap16(static_cast<uint16_t>(field_count));
      copy_chunk_.append(reinterpret_cast<const char*>(&count_be), 2);
      copy_chunk_.append(tuple.substr(2));
      const uint32_t length_be = __builtin_bswap32(2);
      const uint16_t op_be = __builtin_bswap16(static_cast<uint16_t>(reduced.op));
      copy_chunk_.append(reinterpret_cast<const char*>(&length_be), 4);
      copy_chunk_.append(reinterpret_cast<const char*>(&op_be), 2);
      any_delete = any_delete || reduced.op != RowOp::Upsert;
      if (statements.mask_field >= 0 && reduced.op != RowOp::Delete && tuple_field(tuple, statements.mask_field)) {
        ++masked_rows;
      }
      if (copy_chunk_.size() >= kCopyChunkBytes) {
        if (status) status = connection_->copy_send(copy_chunk_);
        copy_chunk_.clear();
      }
    }
    if (status && !copy_chunk_.empty()) status = connection_->copy_send(copy_chunk_);
  }
  failpoint("mid_copy");
  if (status) status = connection_->copy_send(copy_stream_trailer());
  // End the COPY even after a send error, so the connection leaves COPY state.
  const Status ended = connection_->copy_end();
  if (!status) return status;
  if (!ended) return ended;
  if (statements.staging_table.empty()) return Status::ok();
  if (any_delete && !statements.delete_sql.empty()) {
    if (Status deleted = connection_->execute(statements.delete_sql); !deleted) return deleted;
  }
  if (Status applied = connection_->execute(statements.apply_sql); !applied || masked_rows == 0) return applied;
  // Rows with unavailable columns: update the stored ones, insert the missing ones, then
  // update again the ones another lane inserted in between (the insert found them and did
  // nothing). A second update of a row sets the same values, so it is always safe.
  uint64_t handled = 0;
  if (!statements.masked.update_sql.empty()) {
    auto updated = connection_->query(statements.masked.update_sql);
    if (!updated) return updated.status();
    handled += updated.value().affected_rows();
  }
  auto inserted = connection_->query(statements.masked.insert_sql);
  if (!inserted) return inserted.status();
  handled += inserted.value().affected_rows();
  if (handled >= masked_rows || statements.masked.update_sql.empty()) return Status::ok();
  auto updated_again = connection_->query(statements.masked.update_sql);
  return updated_again ? Status::ok() : updated_again.status();
}

namespace {

/// A PostgreSQL array literal of `values` (nullopt: NULL), for a text-format parameter.
std::string array_literal(std::span<const std::optional<std::string>> values) {
  std::string literal = "{";
  for (const std::optional<std::string>& value : values) {
    if (literal.size() > 1) literal += ',';
    if (!value) {
      literal += "NULL";
      continue;
    }
    literal += '"';
    for (const char c : *value) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += '"';
  }
  return literal + "}";
}

/// The offsets of one statement, as the unnest() parameters $2..$7.
struct OffsetColumns {
  std::vector<std::optional<std::string>> topic, partition, next_offset, timestamp, last_offset, expected;
  std::vector<const OffsetAdvance*> advances;

  void add(const OffsetAdvance& advance) {
    advances.push_back(&advance);
    topic.emplace_back(advance.topic_partition.topic);
    partition.emplace_back(std::to_string(advance.topic_partition.partition));
    next_offset.emplace_back(std::to_string(advance.next_offset));
    // The timestamp says which record it belongs to, so a row an earlier version (or a hand)
    // moved without it is never compared against the wrong record.
    if (advance.last_record_timestamp_ms) {
      timestamp.emplace_back(std::to_string(*advance.last_record_timestamp_ms));
      last_offset.emplace_back(std::to_string(advance.next_offset - 1));
    } else {
      timestamp.emplace_back(std::nullopt);
      last_offset.emplace_back(std::nullopt);
    }
    expected.emplace_back(advance.expected_stored ? std::optional(std::to_string(*advance.expected_stored))
                                                  : std::nullopt);
  }
};

}  // namespace

Status PgWriter::advance_offsets(std::span<const OffsetAdvance> offsets) {
  OffsetColumns updates;
  OffsetColumns inserts;
  for (const OffsetAdvance& advance : offsets) (advance.expected_stored ? updates : inserts).add(advance);
  for (OffsetColumns* columns : {&updates, &inserts}) {
    if (columns->advances.empty()) continue;
    const std::array<std::string, 6> arrays = {array_literal(columns->topic),     array_literal(columns->partition),
                                               array_literal(columns->next_offset), array_literal(columns->timestamp),
                                               array_literal(columns->last_offset), array_literal(columns->expected)};
    const std::array<PgParam, 7> params = {config_.kafka.group_id, arrays[0], arrays[1], arrays[2],
                                           arrays[3],             arrays[4], arrays[5]};
    // With nothing stored yet the row is inserted; if it appeared meanwhile, someone else wrote it.
    auto result = connection_->execute_prepared(columns == &updates ? "kps_offsets_update" : "kps_offsets_insert",
                                                params);
    if (!result) return result.status();
    if (result.value().affected_rows() == columns->advances.size()) continue;
    // Another consumer moved a partition's offset since we read it: it owns the partition
    // now, and our batch must not be applied.
    std::vector<TopicPartition> moved;
    for (int row = 0; row < result.value().row_count(); ++row) {
      moved.push_back({std::string(result.value().value(row, 0)), std::stoi(std::string(result.value().value(row, 1)))});
    }
    for (const OffsetAdvance* advance : columns->advances) {
      if (std::find(moved.begin(), moved.end(), advance->topic_partition) != moved.end()) continue;
      return Status::error(ErrorKind::Transient, Cause::Fenced,
          "offset of topic=" + advance->topic_partition.topic + " partition=" +
          std::to_string(advance->topic_partition.partition) + " was moved by another consumer (expected " +
          (advance->expected_stored ? std::to_string(*advance->expected_stored) : std::string("no stored offset")) +
          "); the batch was rolled back");
    }
    return Status::error(ErrorKind::Transient, Cause::Fenced,
                         "the offsets of a batch did not all move; the batch was rolled back");
  }
  return Status::ok();
}

void PgWriter::roll_back() {
  if (connection_ && !connection_->is_broken()) {
    const Status status = connection_->execute("ROLLBACK");
    if (!status) log::warn("rollback failed: ", status.message());
  }
}

Result<std::vector<StoredOffset>> PgWriter::load_offsets() {
  const std::array<PgParam, 1> params = {config_.kafka.group_id};
  auto result = connection_->query(
      "SELECT topic, \"partition\", next_offset,"
      " CASE WHEN last_record_offset = next_offset - 1 THEN last_record_timestamp_ms END,"
      " reset_to_offset IS NOT DISTINCT FROM next_offset FROM " +
          quote_qualified_name(config_.postgres.offsets_table) + " WHERE group_id = $1",
      params);
  if (!result) return result.status();
  std::vector<StoredOffset> offsets;
  for (int row = 0; row < result.value().row_count(); ++row) {
    std::optional<int64_t> timestamp;
    if (!result.value().is_null(row, 3)) timestamp = std::stoll(std::string(result.value().value(row, 3)));
    offsets.push_back({TopicPartition{std::string(result.value().value(row, 0)),
                                      std::stoi(std::string(result.value().value(row, 1)))},
                       std::stoll(std::string(result.value().value(row, 2))), timestamp,
                       result.value().value(row, 4) == "t"});
  }
  return offsets;
}

}  // namespace kps
