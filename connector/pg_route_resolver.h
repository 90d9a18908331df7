#pragma once
// Routes a topic on its first record (contract: "Change data capture, routing and
// columns by name"): the sink's table template gives the table; with columns omitted the
// table's columns, their types and its primary key are read from pg_catalog; a missing
// table is created when create_table is set (json: from `columns`; debezium: from the
// change event's schema); the concrete route is published in the RouteTable. Two topics
// whose template gives one table share its route. Runs on the polling thread, over a
// catalog connection of its own (the lanes' connections belong to their writer threads).

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "connector/config.h"
#include "connector/record.h"
#include "connector/route_table.h"
#include "connector/status.h"
#include "connector/table_template.h"
#include "connector/wanted_paths.h"

namespace kps {

class PgConnection;

/// The ColumnType a PostgreSQL type (pg_type.typname) is written as; nullopt for a type
/// no route can write (it is left out of a columns-by-name route, with a warning).
std::optional<ColumnType> column_type_from_pg(std::string_view typname);

/// PostgreSQL truncates an identifier to NAMEDATALEN - 1 bytes; a longer name (MySQL allows
/// 64 characters) would be created truncated and never match again, so routing refuses it.
inline bool fits_pg_identifier(std::string_view name) { return name.size() <= kMaxIdentifierBytes; }

/// Why a Debezium route cannot upsert by its record key into `table_name`, whose primary
/// key is `table_key`: the key's fields must be the key's columns (as a set), and a table
/// without a primary key cannot take an upsert by a key. Empty when they agree, or when the
/// record has no key to compare (a keyless source table).
std::string debezium_key_disagreement(const std::vector<std::string>& table_key,
                                      const std::optional<std::vector<std::string>>& record_key,
                                      std::string_view table_name, std::string_view topic);

class PgRouteResolver {
 public:
  /// `config` and `routes` must outlive the resolver. Connects on first use.
  PgRouteResolver(const Config& config, RouteTable& routes);
  ~PgRouteResolver();
  PgRouteResolver(const PgRouteResolver&) = delete;
  PgRouteResolver& operator=(const PgRouteResolver&) = delete;

  /// The route of `first_record`'s topic, consumed by sink `sink_index`. Transient when
  /// PostgreSQL cannot be reached (the connection is dropped and made again next time);
  /// Fatal, naming topic and table, when the table is missing without create_table, or has
  /// no primary key an upsert needs, or lacks a configured key column, or (debezium) its
  /// primary key is not the record key's fields, or a key field is over 63 bytes. kRouteNotYet
  /// when the table must be created from a row image and `first_record` carries none.
  Result<size_t> resolve(size_t sink_index, const RecordView& first_record);

 private:
  struct TableColumns {
    std::vector<ColumnConfig> columns;     // writable ones, in table order, nullable
    std::vector<std::string> unsupported;  // "name (type)" of the ones left out
    std::vector<std::string> unsupported_names;
    std::vector<std::string> generated;    // names of generated and GENERATED ALWAYS identity columns
    std::vector<std::string> primary_key;  // the table's, in key order
  };
  Status connect();
  /// nullopt: no such table.
  Result<std::optional<TableColumns>> read_table(const QualifiedName& table);
  Status create_table(const QualifiedName& table, const std::vector<ColumnConfig>& columns,
                      const std::vector<std::string>& primary_key);
  /// Drops the connection after a failure that may have broken it.
  Status failed(Status status);

  const Config& config_;
  RouteTable& routes_;
  std::vector<std::optional<TableTemplate>> templates_;  // by sink index; nullopt for a literal table
  std::unique_ptr<PgConnection> catalog_;
  std::unordered_map<std::string, size_t> route_of_topic_;
};

}  // namespace kps
