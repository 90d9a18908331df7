#include "connector/pg_route_resolver.h"

#include <algorithm>
#include <array>
#include <variant>

#include "connector/debezium_decoder.h"
#include "connector/log.h"
#include "connector/pg_connection.h"

namespace kps {
namespace {

std::string sink_path(size_t sink_index) { return "sinks[" + std::to_string(sink_index) + "]"; }

std::string create_table_statement(const QualifiedName& table, const std::vector<ColumnConfig>& columns,
                                   const std::vector<std::string>& primary_key) {
  std::string sql = "CREATE TABLE IF NOT EXISTS " + quote_qualified_name(table) + " (";
  for (size_t index = 0; index < columns.size(); ++index) {
    if (index > 0) sql += ", ";
    sql += quote_identifier(columns[index].name) + " " + std::string(column_type_sql(columns[index].type));
    if (!columns[index].nullable) sql += " NOT NULL";
  }
  if (!primary_key.empty()) {
    sql += ", PRIMARY KEY (";
    for (size_t index = 0; index < primary_key.size(); ++index) {
      if (index > 0) sql += ", ";
      sql += quote_identifier(primary_key[index]);
    }
    sql += ")";
  }
  return sql + ")";
}

}  // namespace

std::optional<ColumnType> column_type_from_pg(std::string_view typname) {
  static constexpr std::array<std::pair<std::string_view, ColumnType>, 17> kTypes{{
      {"int2", ColumnType::SmallInt},
      {"int4", ColumnType::Integer},
      {"int8", ColumnType::BigInt},
      {"float4", ColumnType::Real},
      {"float8", ColumnType::Double},
      {"numeric", ColumnType::Numeric},
      {"bool", ColumnType::Boolean},
      {"text", ColumnType::Text},
      {"varchar", ColumnType::Text},  // binary input is text's
      {"bpchar", ColumnType::Text},
      {"uuid", ColumnType::Uuid},
      {"date", ColumnType::Date},
      {"timestamp", ColumnType::Timestamp},
      {"timestamptz", ColumnType::TimestampTz},
      {"json", ColumnType::Json},
      {"jsonb", ColumnType::Jsonb},
      {"bytea", ColumnType::Bytea},
  }};
  for (const auto& [name, type] : kTypes) {
    if (name == typname) return type;
  }
  return std::nullopt;
}

std::string debezium_key_disagreement(const std::vector<std::string>& table_key,
                                      const std::optional<std::vector<std::string>>& record_key,
                                      std::string_view table_name, std::string_view topic) {
  if (!record_key || record_key->empty()) return {};
  const auto joined = [](const std::vector<std::string>& names) {
    std::string list;
    for (const std::string& name : names) list += (list.empty() ? "" : ", ") + name;
    return list;
  };
  if (table_key.empty()) {
    return "table " + std::string(table_name) + " has no primary key; format debezium upserts by the record key "
           "(fields " + joined(*record_key) + ") of topic " + std::string(topic) + ": add PRIMARY KEY (" +
           joined(*record_key) + ") or use create_table";
  }
  std::vector<std::string> columns = table_key;
  std::vector<std::string> fields = *record_key;
  std::sort(columns.begin(), columns.end());
  std::sort(fields.begin(), fields.end());
  if (columns == fields) return {};
  return "topic " + std::string(topic) + " routes to table " + std::string(table_name) + ", whose primary key (" +
         joined(table_key) + ") is not the record key (fields " + joined(*record_key) +
         "): a change would update or delete the wrong rows; make them agree";
}

PgRouteResolver::PgRouteResolver(const Config& config, RouteTable& routes) : config_(config), routes_(routes) {
  templates_.resize(config.sinks.size());
  for (size_t index = 0; index < config.sinks.size(); ++index) {
    const SinkConfig& sink = config.sinks[index];
    if (sink.table_template.empty()) continue;
    auto parsed = TableTemplate::parse(sink.table_template, sink.topic_pattern);
    // Validated at load: a template that does not parse never gets here.
    if (auto* table = std::get_if<TableTemplate>(&parsed)) templates_[index].emplace(std::move(*table));
  }
}

PgRouteResolver::~PgRouteResolver() = default;

Status PgRouteResolver::connect() {
  if (catalog_ && !catalog_->is_broken()) return Status::ok();
  catalog_.reset();
  auto connected = PgConnection::connect(
      config_.postgres.dsn, SessionSettings{config_.postgres.statement_timeout, config_.postgres.lock_timeout});
  if (!connected) return connected.status();
  catalog_ = std::make_unique<PgConnection>(std::move(connected.value()));
  return Status::ok();
}

Status PgRouteResolver::failed(Status status) {
  if (status.kind() == ErrorKind::Transient) catalog_.reset();
  return status;
}

Result<std::optional<PgRouteResolver::TableColumns>> PgRouteResolver::read_table(const QualifiedName& table) {
  const std::string quoted = quote_qualified_name(table);
  const std::array<PgParam, 1> params = {quoted};
  // ord: the column's place in the primary key (from 1), NULL outside it.
  auto rows = catalog_->query(
      "SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod),"
      " (SELECT k.ord FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)"
      "   WHERE i.indrelid = a.attrelid AND i.indisprimary AND k.attnum = a.attnum),"
      " a.attgenerated <> '' OR a.attidentity = 'a'"
      " FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
      " WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
      params);
  if (!rows) return rows.status();
  const PgResult& result = rows.value();
  if (result.row_count() == 0) return std::optional<TableColumns>{};
  TableColumns columns;
  std::vector<std::pair<int, std::string>> key;
  for (int row = 0; row < result.row_count(); ++row) {
    const std::string name(result.value(row, 0));
    if (!result.is_null(row, 3)) key.emplace_back(std::stoi(std::string(result.value(row, 3))), name);
    // PostgreSQL refuses any value for these (428C9): an identity BY DEFAULT may be written.
    if (result.value(row, 4) == "t") {
      columns.generated.push_back(name);
      continue;
    }
    const std::optional<ColumnType> type = column_type_from_pg(result.value(row, 1));
    if (!type) {
      columns.unsupported.push_back(quote_identifier(name) + " (" + std::string(result.value(row, 2)) + ")");
      columns.unsupported_names.push_back(name);
      continue;
    }
    // Nullable here: PostgreSQL's NOT NULL refuses a missing value as a refused row, the
    // usual bad-record path, and names the column.
    columns.columns.push_back(
        ColumnConfig{name, ColumnSource{ColumnSource::Kind::JsonPointer, json_pointer_to_member(name)}, *type, true});
  }
  std::sort(key.begin(), key.end());
  for (auto& [ord, name] : key) columns.primary_key.push_back(std::move(name));
  return std::optional<TableColumns>{std::move(columns)};
}

Status PgRouteResolver::create_table(const QualifiedName& table, const std::vector<ColumnConfig>& columns,
                                     const std::vector<std::string>& primary_key) {
  Status status = catalog_->execute(create_table_statement(table, columns, primary_key));
  // Another daemon created it at the same moment.
  if (!status && (status.code() == "23505" || status.code() == "42P07")) status = Status::ok();
  if (status) log::info("created table ", quote_qualified_name(table));
  return status;
}

Result<size_t> PgRouteResolver::resolve(size_t sink_index, const RecordView& first_record) {
  const std::string topic(first_record.topic);
  if (auto known = route_of_topic_.find(topic); known != route_of_topic_.end()) return known->second;
  const SinkConfig& sink = config_.sinks.at(sink_index);

  QualifiedName table = sink.table;
  if (templates_[sink_index]) {
    auto resolved = templates_[sink_index]->resolve(topic);
    if (const std::string* why = std::get_if<std::string>(&resolved)) {
      return Status::error(ErrorKind::Fatal, "topic " + topic + " cannot be routed: " + sink_path(sink_index) +
                                                 ".table " + *why);
    }
    table = std::get<QualifiedName>(resolved);
  }
  const std::string table_name = quote_qualified_name(table);

  std::optional<size_t> route_index = routes_.find(sink_index, table);
  if (!route_index) {
    if (Status status = connect(); !status) return failed(status);
    auto existing = read_table(table);
    if (!existing) return failed(existing.status());
    std::optional<TableColumns> columns = std::move(existing.value());
    if (!columns) {
      if (!sink.create_table) {
        return Status::error(ErrorKind::Fatal, "topic " + topic + " routes to table " + table_name +
                                                   ", which does not exist: create it, or set create_table: true "
                                                   "on " + sink_path(sink_index));
      }
      Status created;
      if (sink.format == RecordFormat::Debezium && sink.columns_by_name) {
        // A tombstone or a truncate says nothing of the columns: failing on it would fail
        // again at every restart, so the topic waits for a record with a row.
        if (!DebeziumDecoder::carries_row(first_record)) {
          log::info("topic ", topic, " offset ", first_record.offset, " carries no row to create table ",
                    table_name, " from; it is routed on a later record");
          return kRouteNotYet;
        }
        std::string why_not;
        const std::optional<TableShape> shape = DebeziumDecoder::table_shape(first_record, &why_not);
        if (!shape) {
          return Status::error(ErrorKind::Fatal, "table " + table_name + " for topic " + topic +
                                                     " does not exist and cannot be created from offset " +
                                                     std::to_string(first_record.offset) + ": " + why_not);
        }
        for (const std::string& why : shape->left_out) {
          log::warn("table ", table_name, " is created without a field of topic ", topic, ": ", why,
                    "; the field is ignored");
        }
        std::vector<ColumnConfig> fitting;
        for (const ColumnConfig& column : shape->columns) {
          if (fits_pg_identifier(column.name)) {
            fitting.push_back(column);
            continue;
          }
          if (std::find(shape->primary_key.begin(), shape->primary_key.end(), column.name) !=
              shape->primary_key.end()) {
            return Status::error(ErrorKind::Fatal, "table " + table_name + " for topic " + topic +
                                                       " cannot be created: its key field " +
                                                       quote_identifier(column.name) + " is longer than " +
                                                       std::to_string(kMaxIdentifierBytes) +
                                                       " bytes, PostgreSQL's limit for a column name");
          }
          log::warn("table ", table_name, " is created without field ", quote_identifier(column.name),
                    " of topic ", topic, ": its name is longer than ", kMaxIdentifierBytes,
                    " bytes, PostgreSQL's limit for a column name; the field is ignored");
        }
        created = create_table(table, fitting, shape->primary_key);
      } else {
        created = create_table(table, sink.columns, sink.primary_key);
      }
      if (!created) return failed(created);
      auto reread = read_table(table);
      if (!reread) return failed(reread.status());
      columns = std::move(reread.value());
      if (!columns) {
        return Status::error(ErrorKind::Fatal, "table " + table_name + " was created but cannot be found");
      }
    }

    SinkConfig route = sink;
    route.table = table;
    route.table_template.clear();
    // The table exists now: the writers must not create it again from the route's columns.
    route.create_table = false;
    route.primary_key_columns.clear();
    route.newer_column.reset();
    if (sink.columns_by_name) {
      route.columns = columns->columns;
      route.left_out_columns = columns->unsupported_names;
      for (const std::string& left_out : columns->unsupported) {
        log::warn("table ", table_name, " column ", left_out, " has a type kafka-pg-sink cannot write; topic ",
                  topic, " leaves it out");
      }
      for (const std::string& left_out : columns->generated) {
        log::warn("table ", table_name, " column ", quote_identifier(left_out),
                  " is generated, so PostgreSQL writes it; topic ", topic, " leaves it out");
      }
    }
    if (route.primary_key.empty()) route.primary_key = columns->primary_key;
    const bool debezium = sink.format == RecordFormat::Debezium;
    if (debezium) {
      const std::string disagreement = debezium_key_disagreement(
          columns->primary_key, DebeziumDecoder::key_fields(first_record), table_name, topic);
      if (!disagreement.empty()) return Status::error(ErrorKind::Fatal, disagreement);
    }
    // A Debezium route without a key replicates a keyless source table: its changes cannot be
    // applied, and the decoder makes each one a bad record with that reason, so the route
    // itself stands (the sink's other tables keep replicating).
    if (route.mode != WriteMode::Insert && route.primary_key.empty() && !debezium) {
      return Status::error(ErrorKind::Fatal, "table " + table_name + " (topic " + topic +
                                                 ") has no primary key, which mode upsert and insert_ignore need: "
                                                 "add one, or set primary_key on " + sink_path(sink_index));
    }
    const auto column_index = [&route](std::string_view name) -> std::optional<size_t> {
      for (size_t index = 0; index < route.columns.size(); ++index) {
        if (route.columns[index].name == name) return index;
      }
      return std::nullopt;
    };
    for (const std::string& name : route.primary_key) {
      const std::optional<size_t> index = column_index(name);
      if (!index) {
        return Status::error(ErrorKind::Fatal, "table " + table_name + " (topic " + topic +
                                                   ") has no writable column " + quote_identifier(name) +
                                                   " for its primary key");
      }
      route.primary_key_columns.push_back(*index);
    }
    if (!route.upsert_when_newer.empty()) {
      route.newer_column = column_index(route.upsert_when_newer);
      if (!route.newer_column) {
        return Status::error(ErrorKind::Fatal, "table " + table_name + " (topic " + topic + ") has no column " +
                                                   quote_identifier(route.upsert_when_newer) + " for " +
                                                   sink_path(sink_index) + ".upsert_when_newer");
      }
    }
    route_index = routes_.publish(std::move(route), sink_index);
  }
  log::info("routed topic ", topic, " to table ", table_name, " (", routes_.route(*route_index).columns.size(),
            " columns)");
  route_of_topic_.emplace(topic, *route_index);
  return *route_index;
}

}  // namespace kps
