#pragma once
// Typed configuration. config.cpp is the only file that includes yaml-cpp.
// Every default below is the one documented in the README's configuration reference.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kps {

enum class WriteMode { Insert, Upsert, InsertIgnore };

/// The PostgreSQL column types a mapping can target (contract: "types").
enum class ColumnType {
  SmallInt, Integer, BigInt, Real, Double, Numeric, Boolean, Text, Uuid,
  Date, Timestamp, TimestampTz, Json, Jsonb, Bytea,
  Time,  // time without time zone: microseconds since midnight, 24:00:00 included
};

/// The SQL spelling of a type, as used in CREATE TABLE and in the staging table
/// ("double precision", "timestamp with time zone", ...).
std::string_view column_type_sql(ColumnType type);
/// The config spelling ("double", "timestamptz", ...).
std::string_view column_type_name(ColumnType type);

enum class ErrorTolerance { None, All };

/// How a sink reads its records (config key `format`).
enum class RecordFormat { Json, Debezium };  // Default: json
/// What a field with no column does (config key `schema_evolution`).
enum class SchemaEvolution { None, AddColumns };  // Default: none
/// What a Debezium truncate event ("op": "t") does (config key `on_truncate`).
enum class TruncateAction { Ignore, Apply };  // Default: ignore
/// How an integer is read as a timestamp (config key `timestamp_unit`).
enum class TimestampUnit { Millis, Micros, Nanos };  // Default: ms for json, us for debezium
enum class LogFormat { Text, Json };
enum class LogLevel { Debug, Info, Warn, Error };

/// Where a column's value comes from.
struct ColumnSource {
  enum class Kind { JsonPointer, Key, Topic, Partition, Offset, Timestamp, Header };
  Kind kind = Kind::JsonPointer;
  std::string argument;  // the RFC 6901 pointer for JsonPointer, the header name for Header

  bool operator==(const ColumnSource&) const = default;
};

struct ColumnConfig {
  std::string name;       // PostgreSQL column name, used as written (quoted)
  ColumnSource source;    // config key `path`
  ColumnType type = ColumnType::Text;
  bool nullable = false;  // Default: false. A missing or null value in a non-nullable column is a bad record.
};

/// A possibly schema-qualified PostgreSQL name; `schema` empty means the search_path decides.
struct QualifiedName {
  std::string schema;
  std::string name;

  bool operator==(const QualifiedName&) const = default;
};

struct DedupConfig {
  std::vector<std::string> fields;  // JSON pointers forming the identity
  std::chrono::seconds ttl{24 * 3600};  // Default: 24h
};

struct SinkConfig {
  std::string topic;          // exactly one of topic / topic_pattern is set
  std::string topic_pattern;  // ECMAScript regex matched against the whole topic name
  QualifiedName table;
  WriteMode mode = WriteMode::Insert;  // Default: insert
  std::vector<std::string> primary_key;  // column names; required for upsert and insert_ignore
  bool create_table = false;
  std::string upsert_when_newer;  // column name, or empty
  bool delete_on_tombstone = false;
  std::optional<DedupConfig> dedup;
  std::vector<ColumnConfig> columns;  // in the order written in the YAML file

  // Change data capture, routing and columns by name (contract: "Change data capture"):
  /// `table` as written when it holds `{topic}` or `{1}`..`{9}`; `table` is then empty in the
  /// config and filled on each route (see route_table.h) once a topic is routed.
  std::string table_template;
  RecordFormat format = RecordFormat::Json;
  SchemaEvolution schema_evolution = SchemaEvolution::None;
  TruncateAction on_truncate = TruncateAction::Ignore;
  TimestampUnit timestamp_unit = TimestampUnit::Millis;  // validation makes it Micros for debezium unless written
  /// `columns` omitted: every top-level field (debezium: every field of the row image) goes
  /// to the column of the same name; a route's columns are then read from PostgreSQL.
  bool columns_by_name = false;
  /// On a route only: columns this version of the route added for new fields, ensured with
  /// ALTER TABLE … ADD COLUMN IF NOT EXISTS in the transaction of the writes that carry them.
  std::vector<ColumnConfig> added_columns;
  /// On a columns-by-name route only: the table's columns of a type kafka-pg-sink cannot
  /// write. Their fields are ignored, never added: ADD COLUMN IF NOT EXISTS would do nothing
  /// and the route would still lack them.
  std::vector<std::string> left_out_columns;

  // Derived by validation, so later stages never search by name:
  std::vector<size_t> primary_key_columns;  // indexes into `columns`, in primary_key order
  std::optional<size_t> newer_column;       // index of upsert_when_newer in `columns`
};

struct KafkaConfig {
  std::string bootstrap_servers;                                  // required
  std::string group_id = "kafka-pg-sink";                         // Default: kafka-pg-sink
  std::vector<std::pair<std::string, std::string>> properties;    // passed verbatim to librdkafka, in file order
  // How often the topics are listed to find new ones a topic_pattern matches (and gone
  // ones) when some sink has a pattern. Default: 30s
  std::chrono::milliseconds topic_refresh_interval{30000};
};

struct PostgresConfig {
  std::string dsn;  // required; libpq keyword/value string or URI. Never log it unredacted.
  int pool_size = 4;  // Default: 4
  QualifiedName offsets_table{"", "kafka_pg_sink_offsets"};  // Default: kafka_pg_sink_offsets
  // Bound every statement the writer runs (set on each connection, over anything the DSN
  // says); a statement they end is retried like any outage. 0 = no limit.
  std::chrono::milliseconds statement_timeout{300000};  // Default: 5 min, far above any sane batch
  std::chrono::milliseconds lock_timeout{30000};        // Default: 30s waiting for another session's lock
  /// A write in flight for longer is "stuck": /readyz fails and a warning is logged every 30 s.
  std::chrono::milliseconds write_stuck_after{30000};   // Default: 30s
};

struct StateConfig {
  std::string dir = "/var/lib/kafka-pg-sink";  // Default: /var/lib/kafka-pg-sink
};

/// The largest batch.max_bytes: a batch's tuples stay well inside the 32-bit offsets the
/// batcher keeps and the memory one write holds twice (the batch in flight and the next).
inline constexpr uint64_t kMaxBatchBytesLimit = uint64_t{1} << 30;  // 1 GiB
/// The largest errors.max_record_bytes: one record's tuple (its value may feed several
/// columns, plus key and headers) must always fit in a batch and in PostgreSQL's 1 GB field limit.
inline constexpr uint64_t kMaxRecordBytesLimit = uint64_t{256} << 20;  // 256 MiB

struct BatchConfig {
  size_t max_rows = 10000;                          // Default: 10000
  size_t max_bytes = 16u * 1024 * 1024;             // Default: 16 MiB; at most 1 GiB
  std::chrono::milliseconds max_latency{250};       // Default: 250ms
};

/// Stops `tolerance: all` from draining a whole topic into dead letters when the bad
/// records are not poison pills but a schema change upstream.
struct CircuitBreakerConfig {
  uint32_t window_records = 1000;  // Default: 1000; the recent records the share is taken over
  double max_bad_share = 0.5;      // Default: 0.5; stop when more of the window is bad; 1 never stops
};

struct ErrorsConfig {
  ErrorTolerance tolerance = ErrorTolerance::None;  // Default: none
  std::string dead_letter_topic;                    // required when tolerance is all
  uint64_t max_record_bytes = 8 * 1024 * 1024;      // Default: 8MiB, at most 256 MiB; a larger record (key + value + headers) is a bad record
  CircuitBreakerConfig circuit_breaker;
};

struct HttpConfig {
  std::string listen = "0.0.0.0:8080";  // Default: 0.0.0.0:8080; empty disables the server
};

struct LogConfig {
  LogLevel level = LogLevel::Info;                        // Default: info
  LogFormat format = LogFormat::Text;                     // Default: text
  std::chrono::milliseconds progress_interval{5000};      // Default: 5s; 0 disables the progress line
};

/// How the daemon waits for PostgreSQL to come back after a transient failure.
struct RetryConfig {
  std::chrono::milliseconds initial_backoff{100};   // Default: 100ms; doubles per attempt, with jitter
  std::chrono::milliseconds max_backoff{30000};     // Default: 30s
  std::chrono::milliseconds give_up_after{600000};  // Default: 10 min of failing, then exit 1; 0 = never
};

struct Config {
  KafkaConfig kafka;
  PostgresConfig postgres;
  StateConfig state;
  BatchConfig batch;
  ErrorsConfig errors;
  HttpConfig http;
  LogConfig log;
  RetryConfig retry;
  std::chrono::milliseconds shutdown_timeout{30000};  // Default: 30000 ms
  std::vector<SinkConfig> sinks;                      // at least one
};

/// One thing wrong with a config file, located by its YAML key path
/// (e.g. "sinks[0].columns.ts.type").
struct ConfigProblem {
  std::string path;
  std::string message;
};

/// Thrown by the loaders with every problem found, not just the first.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<ConfigProblem> problems);
  const std::vector<ConfigProblem>& problems() const { return problems_; }

 private:
  std::vector<ConfigProblem> problems_;
};

/// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// The process environment, for production use.
EnvLookup process_environment();

/// Parses, interpolates and validates a config document. Connects to nothing.
/// Throws ConfigError listing every problem (YAML syntax errors included).
/// Secret values never appear in the problems' messages.
Config parse_config(std::string_view yaml_text, const EnvLookup& env);

/// Reads the file at `path`, then parse_config(). A missing or unreadable file is a ConfigError.
Config load_config_file(const std::string& path, const EnvLookup& env);

/// The DSN with any password removed (keyword form `password=...` and URI form
/// `postgres://user:secret@host`), safe to log.
std::string redact_dsn(std::string_view dsn);

/// PostgreSQL's identifier limit (NAMEDATALEN - 1): a longer name is silently truncated.
inline constexpr size_t kMaxIdentifierBytes = 63;

/// `"schema"."name"` or `"name"`, with embedded double quotes doubled.
std::string quote_identifier(std::string_view identifier);
std::string quote_qualified_name(const QualifiedName& name);

/// Does `sink` consume `topic`? (exact name, or full match of topic_pattern)
bool sink_matches_topic(const SinkConfig& sink, std::string_view topic);

}  // namespace kps
