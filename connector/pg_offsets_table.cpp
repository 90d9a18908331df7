#include "connector/pg_offsets_table.h"

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "connector/pg_connection.h"

namespace kps {

namespace {

/// Nullable bigint columns added after the first release (see StoredOffset).
constexpr std::array<std::string_view, 3> kOptionalColumns{"last_record_timestamp_ms", "last_record_offset",
                                                           "reset_to_offset"};

/// Refuses a table the compare-and-set cannot rely on; adds the columns newer versions need.
Status check_offsets_table_shape(PgConnection& connection, const std::string& table) {
  const std::array<PgParam, 1> params = {std::string_view(table)};
  auto columns = connection.query(
      "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
      " WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
      params);
  if (!columns) return columns.status();
  // The compare-and-set on next_offset is only exact with these types and this key: with no
  // unique key two owners of a partition could each insert its row, and resume from either.
  constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kRequired{{
      {"group_id", "text"}, {"topic", "text"}, {"partition", "integer"}, {"next_offset", "bigint"}}};
  const std::string or_rename = ", or rename the table and let the daemon create a new one";
  const auto add_hint = [&](std::string_view column, std::string_view type) {
    return ". Fix it with ALTER TABLE " + table + " ADD COLUMN \"" + std::string(column) + "\" " + std::string(type) +
           or_rename;
  };
  const auto retype_hint = [&](std::string_view column, std::string_view type) {
    return ". Fix it with ALTER TABLE " + table + " ALTER COLUMN \"" + std::string(column) + "\" TYPE " +
           std::string(type) + or_rename;
  };
  for (const auto& [name, type] : kRequired) {
    std::optional<std::string_view> found;
    for (int row = 0; row < columns.value().row_count(); ++row) {
      if (columns.value().value(row, 0) == name) found = columns.value().value(row, 1);
    }
    if (!found) {
      return Status::error(ErrorKind::Fatal, "offsets table " + table + " has no column " + std::string(name) +
                                                 " (" + std::string(type) + ")" +
                                                 add_hint(name, type));
    }
    if (*found != type) {
      return Status::error(ErrorKind::Fatal, "offsets table " + table + ": column " + std::string(name) + " is " +
                                                 std::string(*found) + ", expected " + std::string(type) +
                                                 retype_hint(name, type));
    }
  }
  // Columns later versions added: created when missing, checked when present.
  std::string missing_columns;
  for (const std::string_view name : kOptionalColumns) {
    std::optional<std::string_view> found;
    for (int row = 0; row < columns.value().row_count(); ++row) {
      if (columns.value().value(row, 0) == name) found = columns.value().value(row, 1);
    }
    if (!found) {
      missing_columns += std::string(missing_columns.empty() ? "" : ",") + " ADD COLUMN IF NOT EXISTS " +
                         std::string(name) + " bigint";
    } else if (*found != "bigint") {
      return Status::error(ErrorKind::Fatal, "offsets table " + table + ": column " + std::string(name) + " is " +
                                                 std::string(*found) + ", expected bigint" + retype_hint(name, "bigint"));
    }
  }
  auto key = connection.query(
      "SELECT count(*) FROM pg_index i"
      " WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indisvalid AND i.indpred IS NULL"
      " AND i.indnkeyatts = 3"
      " AND (SELECT array_agg(a.attname::text ORDER BY a.attname)"
      "      FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)"
      "      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
      "      WHERE k.n <= i.indnkeyatts) = ARRAY['group_id', 'partition', 'topic']",
      params);
  if (!key) return key.status();
  if (key.value().value(0, 0) == "0") {
    return Status::error(ErrorKind::Fatal,
        "offsets table " + table + " has no primary key or unique index on exactly (group_id, topic, partition):"
        " without one, two owners of a partition could both store its offset. Add it with ALTER TABLE " + table +
        " ADD PRIMARY KEY (group_id, topic, \"partition\") (after removing duplicate rows), or rename the table"
        " and let the daemon create a new one");
  }
  if (!missing_columns.empty()) {
    // A table created by an earlier version. Two instances starting together can race inside
    // ADD COLUMN IF NOT EXISTS as inside CREATE TABLE.
    Status added = connection.execute("ALTER TABLE " + table + missing_columns);
    if (!added && (added.code() == "23505" || added.code() == "42701")) added = Status::ok();
    return added;
  }
  return Status::ok();
}

}  // namespace

Status ensure_offsets_table(PgConnection& connection, const QualifiedName& name) {
  const std::string table = quote_qualified_name(name);
  const std::string create =
      "CREATE TABLE IF NOT EXISTS " + table +
      " (group_id text NOT NULL, topic text NOT NULL, \"partition\" integer NOT NULL,"
      " next_offset bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),"
      " last_record_timestamp_ms bigint, last_record_offset bigint, reset_to_offset bigint,"
      " PRIMARY KEY (group_id, topic, \"partition\"))";
  Status status = connection.execute(create);
  // Two instances starting together can race inside CREATE TABLE IF NOT EXISTS.
  if (!status && (status.code() == "23505" || status.code() == "42P07")) status = connection.execute(create);
  if (!status) return status;
  return check_offsets_table_shape(connection, table);
}

PgOffsetsTable::PgOffsetsTable(const Config& config, std::unique_ptr<PgConnection> connection)
    : config_(&config), connection_(std::move(connection)) {}

PgOffsetsTable::PgOffsetsTable(PgOffsetsTable&&) noexcept = default;

PgOffsetsTable::~PgOffsetsTable() = default;

Result<PgOffsetsTable> PgOffsetsTable::open(const Config& config) {
  auto connected = PgConnection::connect(config.postgres.dsn);
  if (!connected) return connected.status();
  return PgOffsetsTable(config, std::make_unique<PgConnection>(std::move(connected.value())));
}

Result<std::vector<std::pair<TopicPartition, int64_t>>> PgOffsetsTable::load() {
  const std::string table = quote_qualified_name(config_->postgres.offsets_table);
  const std::array<PgParam, 1> table_param = {table};
  auto exists = connection_->query("SELECT to_regclass($1) IS NOT NULL", table_param);
  if (!exists) return exists.status();
  std::vector<std::pair<TopicPartition, int64_t>> offsets;
  if (exists.value().value(0, 0) != "t") return offsets;
  const std::array<PgParam, 1> group_param = {config_->kafka.group_id};
  auto rows = connection_->query(
      "SELECT topic, \"partition\", next_offset FROM " + table + " WHERE group_id = $1 ORDER BY topic, \"partition\"",
      group_param);
  if (!rows) return rows.status();
  for (int row = 0; row < rows.value().row_count(); ++row) {
    offsets.emplace_back(TopicPartition{std::string(rows.value().value(row, 0)),
                                        std::stoi(std::string(rows.value().value(row, 1)))},
                         std::stoll(std::string(rows.value().value(row, 2))));
  }
  return offsets;
}

Status PgOffsetsTable::move(std::span<const std::pair<TopicPartition, int64_t>> offsets) {
  const std::string table = quote_qualified_name(config_->postgres.offsets_table);
  if (Status ready = ensure_offsets_table(*connection_, config_->postgres.offsets_table); !ready) return ready;
  if (Status begun = connection_->execute("BEGIN"); !begun) return begun;
  // The record before the new offset is another one: nothing to compare it with. And the
  // row says that an operator put the offset there, so the daemon neither takes the records
  // a forward reset skips for applied ones (the dedup state would learn their identities)
  // nor re-reads them.
  const std::string upsert = "INSERT INTO " + table +
                             " (group_id, topic, \"partition\", next_offset, reset_to_offset) VALUES ($1, $2, $3, $4, $4)"
                             " ON CONFLICT (group_id, topic, \"partition\") DO UPDATE"
                             " SET next_offset = EXCLUDED.next_offset, updated_at = now(),"
                             " last_record_timestamp_ms = NULL, last_record_offset = NULL,"
                             " reset_to_offset = EXCLUDED.next_offset";
  for (const auto& [tp, next_offset] : offsets) {
    const std::string partition = std::to_string(tp.partition);
    const std::string offset = std::to_string(next_offset);
    const std::array<PgParam, 4> params = {config_->kafka.group_id, tp.topic, partition, offset};
    if (auto moved = connection_->query(upsert, params); !moved) {
      (void)connection_->execute("ROLLBACK");
      return moved.status();
    }
  }
  return connection_->execute("COMMIT");
}

}  // namespace kps
