#include "connector/pg_offsets_table.h"

#include <array>
#include <string>

#include "connector/pg_connection.h"

namespace kps {

std::string offsets_table_ddl(const QualifiedName& table) {
  return "CREATE TABLE IF NOT EXISTS " + quote_qualified_name(table) +
         " (group_id text NOT NULL, topic text NOT NULL, \"partition\" integer NOT NULL,"
         " next_offset bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),"
         " PRIMARY KEY (group_id, topic, \"partition\"))";
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
  if (Status created = connection_->execute(offsets_table_ddl(config_->postgres.offsets_table)); !created) return created;
  if (Status begun = connection_->execute("BEGIN"); !begun) return begun;
  const std::string upsert = "INSERT INTO " + table +
                             " (group_id, topic, \"partition\", next_offset) VALUES ($1, $2, $3, $4)"
                             " ON CONFLICT (group_id, topic, \"partition\") DO UPDATE"
                             " SET next_offset = EXCLUDED.next_offset, updated_at = now()";
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
