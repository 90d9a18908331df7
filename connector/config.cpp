// Loading and validating the YAML configuration. This is the only file that includes
// yaml-cpp: everything else sees the typed structs of config.h.
//
// The reader never stops at the first problem. Each key is read on its own and a
// problem is recorded with its key path, so one run of --check-config lists
// everything that is wrong. A half-read value simply keeps its default; the
// Config is discarded anyway when any problem was found.

#include "connector/config.h"

#include <yaml-cpp/yaml.h>

#include "connector/table_template.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <sstream>

namespace kps {
namespace {

struct ColumnTypeInfo {
  ColumnType type;
  std::string_view name;  // config spelling
  std::string_view sql;   // valid in CREATE TABLE and casts
};

constexpr std::array<ColumnTypeInfo, 16> kColumnTypes{{
    {ColumnType::SmallInt, "smallint", "smallint"},
    {ColumnType::Integer, "integer", "integer"},
    {ColumnType::BigInt, "bigint", "bigint"},
    {ColumnType::Real, "real", "real"},
    {ColumnType::Double, "double", "double precision"},
    {ColumnType::Numeric, "numeric", "numeric"},
    {ColumnType::Boolean, "boolean", "boolean"},
    {ColumnType::Text, "text", "text"},
    {ColumnType::Uuid, "uuid", "uuid"},
    {ColumnType::Date, "date", "date"},
    {ColumnType::Timestamp, "timestamp", "timestamp without time zone"},
    {ColumnType::TimestampTz, "timestamptz", "timestamp with time zone"},
    {ColumnType::Json, "json", "json"},
    {ColumnType::Jsonb, "jsonb", "jsonb"},
    {ColumnType::Bytea, "bytea", "bytea"},
    {ColumnType::Time, "time", "time without time zone"},
}};

const ColumnTypeInfo& column_type_info(ColumnType type) {
  for (const ColumnTypeInfo& info : kColumnTypes) {
    if (info.type == type) return info;
  }
  return kColumnTypes[7];  // unreachable for a valid enum value; text is the safest spelling
}

template <typename E>
struct EnumName {
  std::string_view name;
  E value;
};

constexpr std::array<EnumName<WriteMode>, 3> kWriteModes{{
    {"insert", WriteMode::Insert},
    {"upsert", WriteMode::Upsert},
    {"insert_ignore", WriteMode::InsertIgnore},
}};
constexpr std::array<EnumName<ErrorTolerance>, 2> kTolerances{{
    {"none", ErrorTolerance::None},
    {"all", ErrorTolerance::All},
}};
constexpr std::array<EnumName<LogLevel>, 4> kLogLevels{{
    {"debug", LogLevel::Debug},
    {"info", LogLevel::Info},
    {"warn", LogLevel::Warn},
    {"error", LogLevel::Error},
}};
constexpr std::array<EnumName<RecordFormat>, 2> kRecordFormats{{
    {"json", RecordFormat::Json},
    {"debezium", RecordFormat::Debezium},
}};
constexpr std::array<EnumName<SchemaEvolution>, 2> kSchemaEvolutions{{
    {"none", SchemaEvolution::None},
    {"add_columns", SchemaEvolution::AddColumns},
}};
constexpr std::array<EnumName<TruncateAction>, 2> kTruncateActions{{
    {"ignore", TruncateAction::Ignore},
    {"apply", TruncateAction::Apply},
}};
constexpr std::array<EnumName<TimestampUnit>, 3> kTimestampUnits{{
    {"ms", TimestampUnit::Millis},
    {"us", TimestampUnit::Micros},
    {"ns", TimestampUnit::Nanos},
}};
constexpr std::array<EnumName<LogFormat>, 2> kLogFormats{{
    {"text", LogFormat::Text},
    {"json", LogFormat::Json},
}};

std::string_view write_mode_name(WriteMode mode) {
  for (const EnumName<WriteMode>& entry : kWriteModes) {
    if (entry.value == mode) return entry.name;
  }
  return "unknown";
}

std::array<EnumName<ColumnType>, kColumnTypes.size()> column_type_names() {
  std::array<EnumName<ColumnType>, kColumnTypes.size()> names{};
  for (size_t i = 0; i < kColumnTypes.size(); ++i) names[i] = {kColumnTypes[i].name, kColumnTypes[i].type};
  return names;
}

// Types whose `<` PostgreSQL and compare_binary_values() agree on, so
// upsert_when_newer can decide which row is newer.
bool is_ordered_type(ColumnType type) {
  switch (type) {
    case ColumnType::SmallInt:
    case ColumnType::Integer:
    case ColumnType::BigInt:
    case ColumnType::Real:
    case ColumnType::Double:
    case ColumnType::Numeric:
    case ColumnType::Date:
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz:
    case ColumnType::Time:
      return true;
    case ColumnType::Boolean:
    case ColumnType::Text:
    case ColumnType::Uuid:
    case ColumnType::Json:
    case ColumnType::Jsonb:
    case ColumnType::Bytea:
      return false;
  }
  return false;
}

// The column types a metadata source can be stored in; empty means any type
// (the key and headers are decoded like a JSON value).
std::vector<ColumnType> types_allowed_for(ColumnSource::Kind kind) {
  switch (kind) {
    case ColumnSource::Kind::Topic:
      return {ColumnType::Text};
    case ColumnSource::Kind::Partition:
      return {ColumnType::SmallInt, ColumnType::Integer, ColumnType::BigInt, ColumnType::Numeric,
              ColumnType::Text};
    case ColumnSource::Kind::Offset:
      return {ColumnType::BigInt, ColumnType::Numeric, ColumnType::Text};
    case ColumnSource::Kind::Timestamp:
      return {ColumnType::TimestampTz, ColumnType::Timestamp, ColumnType::BigInt};
    case ColumnSource::Kind::JsonPointer:
    case ColumnSource::Kind::Key:
    case ColumnSource::Kind::Header:
      return {};
  }
  return {};
}

std::string_view source_spelling(const ColumnSource& source) {
  switch (source.kind) {
    case ColumnSource::Kind::Key: return "@key";
    case ColumnSource::Kind::Topic: return "@topic";
    case ColumnSource::Kind::Partition: return "@partition";
    case ColumnSource::Kind::Offset: return "@offset";
    case ColumnSource::Kind::Timestamp: return "@timestamp";
    case ColumnSource::Kind::Header: return "@header:NAME";
    case ColumnSource::Kind::JsonPointer: return "a JSON pointer";
  }
  return "this path";
}

// ---------------------------------------------------------------------------------
// Small text helpers

/// A value as it should appear inside a problem message: quoted, with control
/// characters escaped so a message stays on one line.
std::string quote_value(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

template <typename Names>
std::string join_names(const Names& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += (i + 1 == names.size()) ? " or " : ", ";
    out += names[i].name;
  }
  return out;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

/// " (did you mean \"x\"?)" when one candidate is a plausible typo of `word`.
template <typename Candidates, typename NameOf>
std::string did_you_mean(std::string_view word, const Candidates& candidates, NameOf name_of) {
  std::string_view best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const auto& candidate : candidates) {
    const std::string_view name = name_of(candidate);
    const size_t distance = edit_distance(word, name);
    if (distance < best_distance) {
      best = name;
      best_distance = distance;
    }
  }
  // A close spelling, or a longer form of a name ("warning" for "warn").
  const bool close = best_distance <= std::max<size_t>(2, word.size() / 4);
  const bool extends = best.size() >= 3 && word.starts_with(best);
  if (best.empty() || !(close || extends)) return {};
  return " (did you mean " + quote_value(best) + "?)";
}

std::string display_name(const QualifiedName& name) {
  return name.schema.empty() ? name.name : name.schema + "." + name.name;
}

std::string join_path(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string path = parent;
  path += '.';
  path += key;
  return path;
}

std::string index_path(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

std::string_view node_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "nothing (null)";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Undefined: return "nothing";
  }
  return "an unknown YAML node";
}

bool is_env_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

/// PostgreSQL identifiers are always quoted by this project, so any character is safe
/// except NUL and control characters; longer than NAMEDATALEN-1 would be silently
/// truncated by the server, which is why it is an error here.
std::optional<std::string> identifier_problem(std::string_view identifier) {
  if (identifier.empty()) return "must not be empty";
  if (identifier.size() > kMaxIdentifierBytes) {
    return "is " + std::to_string(identifier.size()) + " bytes long; PostgreSQL identifiers are at most 63 bytes";
  }
  for (char c : identifier) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return "must not contain control characters";
  }
  return std::nullopt;
}

/// Kafka's own rule for topic names (legal characters and length).
std::optional<std::string> topic_name_problem(std::string_view topic) {
  constexpr size_t kMaxTopicLength = 249;
  if (topic.empty()) return "must not be empty";
  if (topic.size() > kMaxTopicLength) return "is longer than Kafka's limit of 249 characters";
  if (topic == "." || topic == "..") return "cannot be \".\" or \"..\"";
  for (char c : topic) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return "contains " + quote_value(std::string_view(&c, 1)) +
             "; Kafka topic names use only letters, digits, '.', '_' and '-'";
    }
  }
  return std::nullopt;
}

/// RFC 6901: "" or a sequence of "/token", where `~` is only ever followed by 0 or 1.
/// The empty pointer (whole document) is rejected because a column needs a field.
std::optional<std::string> json_pointer_problem(std::string_view pointer) {
  if (pointer.empty() || pointer[0] != '/') return "must start with \"/\"";
  for (size_t i = 0; i < pointer.size(); ++i) {
    if (pointer[i] != '~') continue;
    if (i + 1 >= pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1')) {
      return "has an invalid escape: in a JSON pointer \"~\" must be followed by 0 or 1 (~0 is \"~\", ~1 is \"/\")";
    }
  }
  return std::nullopt;
}

std::optional<uint64_t> parse_unsigned(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

/// Splits "16MiB" / "16 MiB" into the number and its unit.
std::pair<std::string_view, std::string_view> split_number_and_unit(std::string_view text) {
  size_t digits_end = 0;
  while (digits_end < text.size() && std::isdigit(static_cast<unsigned char>(text[digits_end]))) ++digits_end;
  std::string_view unit = text.substr(digits_end);
  if (unit.size() > 1 && unit.front() == ' ') unit.remove_prefix(1);
  return {text.substr(0, digits_end), unit};
}

std::optional<uint64_t> multiply_checked(uint64_t value, uint64_t factor) {
  if (factor != 0 && value > std::numeric_limits<uint64_t>::max() / factor) return std::nullopt;
  return value * factor;
}

/// Bytes from an integer or "<n><unit>" with B, KB, MB, GB (powers of 1000) or
/// KiB, MiB, GiB (powers of 1024).
std::optional<uint64_t> parse_size(std::string_view text) {
  const auto [number_text, unit] = split_number_and_unit(text);
  const std::optional<uint64_t> number = parse_unsigned(number_text);
  if (!number) return std::nullopt;
  static constexpr std::array<std::pair<std::string_view, uint64_t>, 8> kUnits{{
      {"", 1}, {"B", 1},
      {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
      {"KiB", 1024}, {"MiB", 1024 * 1024}, {"GiB", 1024 * 1024 * 1024},
  }};
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) return multiply_checked(*number, factor);
  }
  return std::nullopt;
}

enum class BareNumber { Milliseconds, NeedsUnit };

/// Milliseconds from "<n><unit>" with ms, s, m, h, d; a bare integer is milliseconds
/// for the *_ms keys and rejected elsewhere (a bare "ttl: 3600" is ambiguous).
std::optional<int64_t> parse_duration_ms(std::string_view text, BareNumber bare) {
  const auto [number_text, unit] = split_number_and_unit(text);
  const std::optional<uint64_t> number = parse_unsigned(number_text);
  if (!number) return std::nullopt;
  if (unit.empty() && bare == BareNumber::NeedsUnit) return std::nullopt;
  static constexpr std::array<std::pair<std::string_view, uint64_t>, 6> kUnits{{
      {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 24 * 3600 * 1000},
  }};
  for (const auto& [name, factor] : kUnits) {
    if (unit != name) continue;
    const std::optional<uint64_t> millis = multiply_checked(*number, factor);
    if (!millis || *millis > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(*millis);
  }
  return std::nullopt;
}

enum class Secrecy { Plain, Secret };

/// The entries of one YAML map, in document order.
struct MapEntries {
  std::vector<std::pair<std::string, YAML::Node>> entries;

  const YAML::Node* find(std::string_view key) const {
    for (const auto& [name, node] : entries) {
      if (name == key) return &node;
    }
    return nullptr;
  }
};

// ---------------------------------------------------------------------------------
// The reader: one pass over the document, collecting problems.

constexpr std::array<std::string_view, 10> kTopLevelKeys{
    "kafka", "postgres", "state", "batch", "errors", "http", "log", "retry", "shutdown_timeout_ms", "sinks"};
constexpr std::array<std::string_view, 4> kKafkaKeys{"bootstrap_servers", "group_id", "properties",
                                                   "topic_refresh_interval_ms"};
constexpr std::array<std::string_view, 6> kPostgresKeys{"dsn", "pool_size", "offsets_table", "statement_timeout_ms",
                                                        "lock_timeout_ms", "write_stuck_after_ms"};
constexpr std::array<std::string_view, 1> kStateKeys{"dir"};
constexpr std::array<std::string_view, 3> kBatchKeys{"max_rows", "max_bytes", "max_latency_ms"};
constexpr std::array<std::string_view, 4> kErrorsKeys{"tolerance", "dead_letter_topic", "max_record_bytes",
                                                      "circuit_breaker"};
constexpr std::array<std::string_view, 2> kCircuitBreakerKeys{"window_records", "max_bad_share"};
constexpr std::array<std::string_view, 1> kHttpKeys{"listen"};
constexpr std::array<std::string_view, 3> kLogKeys{"level", "format", "progress_interval_ms"};
constexpr std::array<std::string_view, 3> kRetryKeys{"initial_backoff_ms", "max_backoff_ms", "give_up_after_ms"};
constexpr std::array<std::string_view, 14> kSinkKeys{
    "topic", "topic_pattern", "table", "mode", "primary_key", "create_table",
    "upsert_when_newer", "delete_on_tombstone", "dedup", "columns",
    "format", "schema_evolution", "on_truncate", "timestamp_unit"};
constexpr std::array<std::string_view, 2> kDedupKeys{"fields", "ttl"};
constexpr std::array<std::string_view, 3> kColumnKeys{"path", "type", "nullable"};

// Kafka properties the daemon owns (README, kafka.properties): two have their own
// keys, the auto-commit pair must stay off for the exactly-once promise (offsets are
// committed only after the PostgreSQL transaction), and the consumer relies on its
// own setting of partition EOF events.
constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kManagedKafkaProperties{{
    {"bootstrap.servers", "set kafka.bootstrap_servers instead"},
    {"group.id", "set kafka.group_id instead"},
    {"enable.auto.commit", "kafka-pg-sink commits offsets itself, after each database transaction"},
    {"enable.auto.offset.store", "kafka-pg-sink stores offsets itself, after each database transaction"},
    {"enable.partition.eof", "kafka-pg-sink sets it itself"},
}};

class Reader {
 public:
  explicit Reader(const EnvLookup& env) : env_(env) {}

  Config read_document(const YAML::Node& root);
  std::vector<ConfigProblem> take_problems() { return std::move(problems_); }

 private:
  void problem(std::string path, std::string message) {
    problems_.push_back({std::move(path), std::move(message)});
  }

  /// The map's entries, with keys outside `known` and duplicate keys reported.
  /// A null node (a section with every line commented out) is an empty map.
  /// nullopt, with a problem, when the node is not a map.
  template <size_t N>
  std::optional<MapEntries> open_map(const YAML::Node& node, const std::string& path,
                                     const std::array<std::string_view, N>& known);
  /// The same for a map whose keys the user chooses (columns, kafka.properties);
  /// `expected` describes it in the problem when the node is not a map.
  std::optional<MapEntries> open_any_map(const YAML::Node& node, const std::string& path,
                                         std::string_view expected);

  const YAML::Node* require(const MapEntries& map, std::string_view key, const std::string& path) {
    const YAML::Node* node = map.find(key);
    if (node == nullptr) problem(join_path(path, key), "is required");
    return node;
  }

  std::optional<std::string> interpolate(std::string_view raw, const std::string& path, Secrecy secrecy);
  std::optional<std::string> read_string(const YAML::Node& node, const std::string& path,
                                         Secrecy secrecy = Secrecy::Plain);
  std::optional<std::string> read_non_empty_string(const YAML::Node& node, const std::string& path,
                                                   Secrecy secrecy = Secrecy::Plain);
  std::optional<int64_t> read_integer(const YAML::Node& node, const std::string& path, int64_t min, int64_t max);
  std::optional<bool> read_bool(const YAML::Node& node, const std::string& path);
  /// A decimal number in (0, 1].
  std::optional<double> read_share(const YAML::Node& node, const std::string& path);
  std::optional<uint64_t> read_size(const YAML::Node& node, const std::string& path);
  std::optional<std::chrono::milliseconds> read_duration(const YAML::Node& node, const std::string& path,
                                                         BareNumber bare, int64_t min_ms);
  template <typename E, size_t N>
  std::optional<E> read_enum(const YAML::Node& node, const std::string& path,
                             const std::array<EnumName<E>, N>& names);
  std::optional<std::vector<std::string>> read_string_list(const YAML::Node& node, const std::string& path);
  std::optional<QualifiedName> read_qualified_name(const YAML::Node& node, const std::string& path);
  std::optional<std::string> read_topic(const YAML::Node& node, const std::string& path);

  void read_kafka(const YAML::Node& node, KafkaConfig& kafka);
  void read_postgres(const YAML::Node& node, PostgresConfig& postgres);
  void read_state(const YAML::Node& node, StateConfig& state);
  void read_batch(const YAML::Node& node, BatchConfig& batch);
  void read_errors(const YAML::Node& node, ErrorsConfig& errors);
  void read_http(const YAML::Node& node, HttpConfig& http);
  void read_log(const YAML::Node& node, LogConfig& log);
  void read_retry(const YAML::Node& node, RetryConfig& retry);
  void read_sinks(const YAML::Node& node, std::vector<SinkConfig>& sinks);
  void read_sink(const YAML::Node& node, const std::string& path, SinkConfig& sink);
  void read_dedup(const YAML::Node& node, const std::string& path, DedupConfig& dedup);
  void read_columns(const YAML::Node& node, const std::string& path, SinkConfig& sink);
  std::optional<ColumnSource> read_column_source(const YAML::Node& node, const std::string& path);

  void read_table(const YAML::Node& node, const std::string& path, SinkConfig& sink);
  void check_sink_rules(const std::string& path, SinkConfig& sink);
  /// format, columns omitted, create_table: the rules of change data capture and routing.
  void check_routing_rules(const std::string& path, SinkConfig& sink, bool mode_written);
  void check_across_sinks(const Config& config);

  const EnvLookup& env_;
  std::vector<ConfigProblem> problems_;
  // Sinks whose table or pattern could not be read are left out of the cross-sink
  // checks, so one typo is not reported twice.
  std::vector<bool> sink_table_ok_;
  std::vector<bool> sink_pattern_ok_;
  size_t current_sink_ = 0;
  // Per column of the sink being read: did its type parse? Rules about types skip
  // the columns whose type is already reported as wrong.
  std::vector<bool> column_type_known_;
};

template <size_t N>
std::optional<MapEntries> Reader::open_map(const YAML::Node& node, const std::string& path,
                                           const std::array<std::string_view, N>& known) {
  std::optional<MapEntries> map = open_any_map(node, path, "a map");
  if (!map) return map;
  for (const auto& [key, value] : map->entries) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      problem(join_path(path, key),
              "unknown key" + did_you_mean(key, known, [](std::string_view name) { return name; }));
    }
  }
  return map;
}

std::optional<MapEntries> Reader::open_any_map(const YAML::Node& node, const std::string& path,
                                               std::string_view expected) {
  MapEntries map;
  if (node.IsNull()) return map;
  if (!node.IsMap()) {
    problem(path, "expected " + std::string(expected) + ", found " + std::string(node_kind(node)));
    return std::nullopt;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) {
      problem(path, "has a key that is " + std::string(node_kind(it->first)) + "; keys must be plain names");
      continue;
    }
    const std::string& key = it->first.Scalar();
    // yaml-cpp keeps both entries of a repeated key; silently using one of them
    // would hide a mistake.
    if (map.find(key) != nullptr) {
      problem(join_path(path, key), "duplicate key");
      continue;
    }
    map.entries.emplace_back(key, it->second);
  }
  return map;
}

// Interpolation: `${NAME}` is the variable's value and an error when it is unset;
// `${NAME:-default}` falls back to `default` when the variable is unset or empty
// (shell semantics). `$${` is an escape for a literal `${`; any other `$` is kept
// as it is. Substituted values are not interpolated again, and defaults cannot
// nest another `${...}`.
std::optional<std::string> Reader::interpolate(std::string_view raw, const std::string& path, Secrecy secrecy) {
  if (raw.find('$') == std::string_view::npos) return std::string(raw);
  // A secret's text must not reach a message, not even around a malformed reference.
  const std::string shown = secrecy == Secrecy::Secret ? std::string() : " in " + quote_value(raw);
  std::string out;
  out.reserve(raw.size());
  bool ok = true;
  size_t i = 0;
  while (i < raw.size()) {
    if (raw.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (raw.compare(i, 2, "${") != 0) {
      out += raw[i];
      ++i;
      continue;
    }
    const size_t close = raw.find('}', i + 2);
    if (close == std::string_view::npos) {
      problem(path, "has an unterminated \"${\"" + shown + " (write \"$${\" for a literal \"${\")");
      return std::nullopt;
    }
    const std::string_view body = raw.substr(i + 2, close - i - 2);
    const size_t separator = body.find(":-");
    const std::string_view name = body.substr(0, separator);
    std::optional<std::string_view> fallback;
    if (separator != std::string_view::npos) fallback = body.substr(separator + 2);
    i = close + 1;

    if (!is_env_name(name)) {
      problem(path, "has an invalid reference \"${...}\"" + shown +
                        ": expected ${NAME} or ${NAME:-default}, NAME made of letters, digits and '_'"
                        " (write \"$${\" for a literal \"${\")");
      ok = false;
      continue;
    }
    if (fallback && fallback->find("${") != std::string_view::npos) {
      problem(path, "nests a reference inside the default of ${" + std::string(name) +
                        ":-...}, which is not supported");
      ok = false;
      continue;
    }
    const std::optional<std::string> value = env_ ? env_(std::string(name)) : std::nullopt;
    if (value && !(fallback && value->empty())) {
      out += *value;
    } else if (fallback) {
      out += *fallback;
    } else {
      problem(path, "environment variable " + std::string(name) + " is not set (write ${" + std::string(name) +
                        ":-default} to give a default)");
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::string> Reader::read_string(const YAML::Node& node, const std::string& path, Secrecy secrecy) {
  if (node.IsNull()) {
    problem(path, "has no value (write \"\" for an empty string, or remove the key to use the default)");
    return std::nullopt;
  }
  if (!node.IsScalar()) {
    problem(path, "expected a single value, found " + std::string(node_kind(node)));
    return std::nullopt;
  }
  return interpolate(node.Scalar(), path, secrecy);
}

std::optional<std::string> Reader::read_non_empty_string(const YAML::Node& node, const std::string& path,
                                                         Secrecy secrecy) {
  std::optional<std::string> value = read_string(node, path, secrecy);
  if (value && value->empty()) {
    problem(path, "must not be empty");
    return std::nullopt;
  }
  return value;
}

std::optional<int64_t> Reader::read_integer(const YAML::Node& node, const std::string& path, int64_t min,
                                            int64_t max) {
  const std::optional<std::string> text = read_string(node, path);
  if (!text) return std::nullopt;
  const std::string expected = "expected an integer from " + std::to_string(min) + " to " + std::to_string(max);
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (text->empty() || end != text->data() + text->size() || error == std::errc::invalid_argument) {
    problem(path, expected + ", found " + quote_value(*text));
    return std::nullopt;
  }
  if (error == std::errc::result_out_of_range || value < min || value > max) {
    problem(path, "is out of range: " + expected + ", found " + *text);
    return std::nullopt;
  }
  return value;
}

std::optional<bool> Reader::read_bool(const YAML::Node& node, const std::string& path) {
  const std::optional<std::string> text = read_string(node, path);
  if (!text) return std::nullopt;
  if (*text == "true") return true;
  if (*text == "false") return false;
  problem(path, "expected true or false, found " + quote_value(*text));
  return std::nullopt;
}

std::optional<double> Reader::read_share(const YAML::Node& node, const std::string& path) {
  const std::optional<std::string> text = read_string(node, path);
  if (!text) return std::nullopt;
  double value = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (text->empty() || end != text->data() + text->size() || error != std::errc() || !(value > 0 && value <= 1)) {
    problem(path, "expected a share greater than 0 and at most 1 (like 0.5), found " + quote_value(*text));
    return std::nullopt;
  }
  return value;
}

std::optional<uint64_t> Reader::read_size(const YAML::Node& node, const std::string& path) {
  const std::optional<std::string> text = read_string(node, path);
  if (!text) return std::nullopt;
  const std::optional<uint64_t> bytes = parse_size(*text);
  if (!bytes) {
    problem(path, "expected a number of bytes or a size like 512KiB, 16MiB, 1GiB, 100MB (units B, KB, MB, GB, "
                  "KiB, MiB, GiB), found " + quote_value(*text));
    return std::nullopt;
  }
  if (*bytes < 1) {
    problem(path, "must be at least 1 byte");
    return std::nullopt;
  }
  return bytes;
}

std::optional<std::chrono::milliseconds> Reader::read_duration(const YAML::Node& node, const std::string& path,
                                                               BareNumber bare, int64_t min_ms) {
  const std::optional<std::string> text = read_string(node, path);
  if (!text) return std::nullopt;
  const std::optional<int64_t> millis = parse_duration_ms(*text, bare);
  if (!millis) {
    const std::string_view bare_form = bare == BareNumber::Milliseconds ? "an integer number of milliseconds or " : "";
    problem(path, "expected " + std::string(bare_form) + "a duration like 250ms, 30s, 5m, 24h or 7d, found " +
                      quote_value(*text));
    return std::nullopt;
  }
  if (*millis < min_ms) {
    problem(path, min_ms == 1 ? "must be greater than zero" : "must be at least " + std::to_string(min_ms) + "ms");
    return std::nullopt;
  }
  return std::chrono::milliseconds(*millis);
}

template <typename E, size_t N>
std::optional<E> Reader::read_enum(const YAML::Node& node, const std::string& path,
                                   const std::array<EnumName<E>, N>& names) {
  const std::optional<std::string> text = read_string(node, path);
  if (!text) return std::nullopt;
  for (const EnumName<E>& entry : names) {
    if (entry.name == *text) return entry.value;
  }
  problem(path, "expected " + join_names(names) + ", found " + quote_value(*text) +
                    did_you_mean(*text, names, [](const EnumName<E>& entry) { return entry.name; }));
  return std::nullopt;
}

std::optional<std::vector<std::string>> Reader::read_string_list(const YAML::Node& node, const std::string& path) {
  if (!node.IsSequence()) {
    problem(path, "expected a list, found " + std::string(node_kind(node)));
    return std::nullopt;
  }
  std::vector<std::string> values;
  bool ok = true;
  for (size_t i = 0; i < node.size(); ++i) {
    std::optional<std::string> value = read_non_empty_string(node[i], index_path(path, i));
    if (value) {
      values.push_back(std::move(*value));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return values;
}

std::optional<QualifiedName> Reader::read_qualified_name(const YAML::Node& node, const std::string& path) {
  const std::optional<std::string> text = read_non_empty_string(node, path);
  if (!text) return std::nullopt;
  QualifiedName name;
  const size_t dot = text->find('.');
  if (dot == std::string::npos) {
    name.name = *text;
  } else {
    if (text->find('.', dot + 1) != std::string::npos) {
      problem(path, "expected name or schema.name with one dot, found " + quote_value(*text));
      return std::nullopt;
    }
    name.schema = text->substr(0, dot);
    name.name = text->substr(dot + 1);
  }
  bool ok = true;
  if (dot != std::string::npos) {
    if (std::optional<std::string> why = identifier_problem(name.schema)) {
      problem(path, "has a schema that " + *why + ": " + quote_value(*text));
      ok = false;
    }
  }
  if (std::optional<std::string> why = identifier_problem(name.name)) {
    problem(path, "has a table name that " + *why + ": " + quote_value(*text));
    ok = false;
  }
  if (!ok) return std::nullopt;
  return name;
}

std::optional<std::string> Reader::read_topic(const YAML::Node& node, const std::string& path) {
  std::optional<std::string> topic = read_string(node, path);
  if (!topic) return std::nullopt;
  if (std::optional<std::string> why = topic_name_problem(*topic)) {
    problem(path, "is not a valid Kafka topic name: " + quote_value(*topic) + " " + *why);
    return std::nullopt;
  }
  return topic;
}

template <typename T, typename U>
void assign(std::optional<T> value, U& target) {
  if (value) target = std::move(*value);
}

Config Reader::read_document(const YAML::Node& root) {
  Config config;
  const std::optional<MapEntries> top = open_map(root, "", kTopLevelKeys);
  if (!top) return config;

  // Required sections are read even when absent, so their required keys are named.
  const YAML::Node null_node = YAML::Node(YAML::NodeType::Null);
  const auto section = [&](std::string_view key) -> const YAML::Node& {
    const YAML::Node* node = top->find(key);
    return node != nullptr ? *node : null_node;
  };

  read_kafka(section("kafka"), config.kafka);
  read_postgres(section("postgres"), config.postgres);
  read_state(section("state"), config.state);
  read_batch(section("batch"), config.batch);
  read_errors(section("errors"), config.errors);
  read_http(section("http"), config.http);
  read_log(section("log"), config.log);
  read_retry(section("retry"), config.retry);
  if (const YAML::Node* node = top->find("shutdown_timeout_ms")) {
    assign(read_duration(*node, "shutdown_timeout_ms", BareNumber::Milliseconds, 1), config.shutdown_timeout);
  }
  if (const YAML::Node* node = require(*top, "sinks", "")) read_sinks(*node, config.sinks);
  check_across_sinks(config);
  return config;
}

void Reader::read_kafka(const YAML::Node& node, KafkaConfig& kafka) {
  const std::string path = "kafka";
  const std::optional<MapEntries> map = open_map(node, path, kKafkaKeys);
  if (!map) return;
  if (const YAML::Node* value = require(*map, "bootstrap_servers", path)) {
    assign(read_non_empty_string(*value, join_path(path, "bootstrap_servers")), kafka.bootstrap_servers);
  }
  if (const YAML::Node* value = map->find("group_id")) {
    assign(read_non_empty_string(*value, join_path(path, "group_id")), kafka.group_id);
  }
  if (const YAML::Node* value = map->find("topic_refresh_interval_ms")) {
    assign(read_duration(*value, join_path(path, "topic_refresh_interval_ms"), BareNumber::Milliseconds, 100),
           kafka.topic_refresh_interval);
  }
  if (const YAML::Node* value = map->find("properties")) {
    const std::string properties_path = join_path(path, "properties");
    const std::optional<MapEntries> properties =
        open_any_map(*value, properties_path, "a map of librdkafka property names to values");
    if (!properties) return;
    for (const auto& [name, property] : properties->entries) {
      const std::string property_path = join_path(properties_path, name);
      // Compared through a plain reference: clang before 16 cannot capture a structured binding.
      const std::string& property_name = name;
      const auto managed = std::find_if(kManagedKafkaProperties.begin(), kManagedKafkaProperties.end(),
                                        [&property_name](const auto& entry) { return entry.first == property_name; });
      if (managed != kManagedKafkaProperties.end()) {
        problem(property_path, "cannot be set here: " + std::string(managed->second));
        continue;
      }
      // Any property may hold a credential (sasl.password, ssl.key.password, ...).
      std::optional<std::string> text = read_string(property, property_path, Secrecy::Secret);
      if (text) kafka.properties.emplace_back(name, std::move(*text));
    }
  }
}

void Reader::read_postgres(const YAML::Node& node, PostgresConfig& postgres) {
  const std::string path = "postgres";
  const std::optional<MapEntries> map = open_map(node, path, kPostgresKeys);
  if (!map) return;
  if (const YAML::Node* value = require(*map, "dsn", path)) {
    assign(read_non_empty_string(*value, join_path(path, "dsn"), Secrecy::Secret), postgres.dsn);
  }
  if (const YAML::Node* value = map->find("pool_size")) {
    constexpr int64_t kMaxPoolSize = 64;
    assign(read_integer(*value, join_path(path, "pool_size"), 1, kMaxPoolSize), postgres.pool_size);
  }
  if (const YAML::Node* value = map->find("offsets_table")) {
    assign(read_qualified_name(*value, join_path(path, "offsets_table")), postgres.offsets_table);
  }
  if (const YAML::Node* value = map->find("statement_timeout_ms")) {
    // 0: no limit, as in PostgreSQL.
    assign(read_duration(*value, "postgres.statement_timeout_ms", BareNumber::Milliseconds, 0),
           postgres.statement_timeout);
  }
  if (const YAML::Node* value = map->find("lock_timeout_ms")) {
    assign(read_duration(*value, "postgres.lock_timeout_ms", BareNumber::Milliseconds, 0), postgres.lock_timeout);
  }
  if (const YAML::Node* value = map->find("write_stuck_after_ms")) {
    assign(read_duration(*value, "postgres.write_stuck_after_ms", BareNumber::Milliseconds, 1),
           postgres.write_stuck_after);
  }
  // PostgreSQL keeps both in an int of milliseconds.
  constexpr std::chrono::milliseconds kMaxTimeout{2147483647};
  if (postgres.statement_timeout > kMaxTimeout) problem("postgres.statement_timeout_ms", "must be at most 2147483647 ms");
  if (postgres.lock_timeout > kMaxTimeout) problem("postgres.lock_timeout_ms", "must be at most 2147483647 ms");
}

void Reader::read_state(const YAML::Node& node, StateConfig& state) {
  const std::optional<MapEntries> map = open_map(node, "state", kStateKeys);
  if (!map) return;
  if (const YAML::Node* value = map->find("dir")) assign(read_non_empty_string(*value, "state.dir"), state.dir);
}

void Reader::read_batch(const YAML::Node& node, BatchConfig& batch) {
  const std::optional<MapEntries> map = open_map(node, "batch", kBatchKeys);
  if (!map) return;
  if (const YAML::Node* value = map->find("max_rows")) {
    assign(read_integer(*value, "batch.max_rows", 1, std::numeric_limits<int64_t>::max()), batch.max_rows);
  }
  if (const YAML::Node* value = map->find("max_bytes")) {
    const std::optional<uint64_t> bytes = read_size(*value, "batch.max_bytes");
    if (bytes && *bytes > kMaxBatchBytesLimit) {
      problem("batch.max_bytes", "is " + std::to_string(*bytes) + " bytes; at most 1GiB (" +
                                     std::to_string(kMaxBatchBytesLimit) +
                                     ") is allowed: a batch is held in memory twice while the previous one is "
                                     "written, and larger batches gain nothing (use 16MiB to 256MiB)");
    } else if (bytes) {
      batch.max_bytes = static_cast<size_t>(*bytes);
    }
  }
  if (const YAML::Node* value = map->find("max_latency_ms")) {
    // 0 is allowed: every poll flushes what it has.
    assign(read_duration(*value, "batch.max_latency_ms", BareNumber::Milliseconds, 0), batch.max_latency);
  }
}

void Reader::read_errors(const YAML::Node& node, ErrorsConfig& errors) {
  const std::optional<MapEntries> map = open_map(node, "errors", kErrorsKeys);
  if (!map) return;
  bool tolerance_read = true;
  if (const YAML::Node* value = map->find("tolerance")) {
    const std::optional<ErrorTolerance> tolerance = read_enum(*value, "errors.tolerance", kTolerances);
    tolerance_read = tolerance.has_value();
    assign(tolerance, errors.tolerance);
  }
  bool topic_read = true;
  if (const YAML::Node* value = map->find("dead_letter_topic")) {
    const std::optional<std::string> topic = read_string(*value, "errors.dead_letter_topic");
    topic_read = topic.has_value();
    if (topic && !topic->empty()) {
      if (std::optional<std::string> why = topic_name_problem(*topic)) {
        problem("errors.dead_letter_topic", "is not a valid Kafka topic name: " + quote_value(*topic) + " " + *why);
        topic_read = false;
      }
    }
    assign(topic, errors.dead_letter_topic);
  }
  if (tolerance_read && topic_read && errors.tolerance == ErrorTolerance::All && errors.dead_letter_topic.empty()) {
    problem("errors.dead_letter_topic", "is required when errors.tolerance is all (bad records are sent there)");
  }
  if (const YAML::Node* value = map->find("max_record_bytes")) {
    const std::optional<uint64_t> bytes = read_size(*value, "errors.max_record_bytes");
    if (bytes && *bytes > kMaxRecordBytesLimit) {
      problem("errors.max_record_bytes", "is " + std::to_string(*bytes) + " bytes; at most 256MiB (" +
                                             std::to_string(kMaxRecordBytesLimit) +
                                             ") is allowed, so that one record's row always fits in a batch "
                                             "and in PostgreSQL's 1 GB field limit");
    } else {
      assign(bytes, errors.max_record_bytes);
    }
  }
  if (const YAML::Node* value = map->find("circuit_breaker")) {
    const std::optional<MapEntries> breaker = open_map(*value, "errors.circuit_breaker", kCircuitBreakerKeys);
    if (!breaker) return;
    if (const YAML::Node* window = breaker->find("window_records")) {
      const auto records = read_integer(*window, "errors.circuit_breaker.window_records", 1, 1000000);
      if (records) errors.circuit_breaker.window_records = static_cast<uint32_t>(*records);
    }
    if (const YAML::Node* share = breaker->find("max_bad_share")) {
      assign(read_share(*share, "errors.circuit_breaker.max_bad_share"), errors.circuit_breaker.max_bad_share);
    }
  }
}

void Reader::read_http(const YAML::Node& node, HttpConfig& http) {
  const std::optional<MapEntries> map = open_map(node, "http", kHttpKeys);
  if (!map) return;
  const YAML::Node* value = map->find("listen");
  if (value == nullptr) return;
  const std::optional<std::string> listen = read_string(*value, "http.listen");
  if (!listen) return;
  if (listen->empty()) {  // the documented way to turn the server off
    http.listen.clear();
    return;
  }
  const std::string expected = "expected host:port (like 0.0.0.0:8080 or [::]:8080), or \"\" to disable, found " +
                               quote_value(*listen);
  const size_t colon = listen->rfind(':');
  if (colon == std::string::npos || colon == 0) {
    problem("http.listen", expected);
    return;
  }
  const std::string_view host = std::string_view(*listen).substr(0, colon);
  const bool bracketed = host.front() == '[';
  if (bracketed ? (host.size() < 3 || host.back() != ']') : host.find(':') != std::string_view::npos) {
    problem("http.listen", expected + " (write an IPv6 address in brackets)");
    return;
  }
  const std::optional<uint64_t> port = parse_unsigned(std::string_view(*listen).substr(colon + 1));
  constexpr uint64_t kMaxPort = 65535;
  if (!port || *port < 1 || *port > kMaxPort) {
    problem("http.listen", "has an invalid port: expected 1 to 65535, found " + quote_value(*listen));
    return;
  }
  http.listen = *listen;
}

void Reader::read_log(const YAML::Node& node, LogConfig& log) {
  const std::optional<MapEntries> map = open_map(node, "log", kLogKeys);
  if (!map) return;
  if (const YAML::Node* value = map->find("level")) assign(read_enum(*value, "log.level", kLogLevels), log.level);
  if (const YAML::Node* value = map->find("format")) assign(read_enum(*value, "log.format", kLogFormats), log.format);
  if (const YAML::Node* value = map->find("progress_interval_ms")) {
    // 0 turns the periodic progress line off.
    assign(read_duration(*value, "log.progress_interval_ms", BareNumber::Milliseconds, 0), log.progress_interval);
  }
}

void Reader::read_retry(const YAML::Node& node, RetryConfig& retry) {
  const std::optional<MapEntries> map = open_map(node, "retry", kRetryKeys);
  if (!map) return;
  if (const YAML::Node* value = map->find("initial_backoff_ms")) {
    assign(read_duration(*value, "retry.initial_backoff_ms", BareNumber::Milliseconds, 1), retry.initial_backoff);
  }
  if (const YAML::Node* value = map->find("max_backoff_ms")) {
    assign(read_duration(*value, "retry.max_backoff_ms", BareNumber::Milliseconds, 1), retry.max_backoff);
  }
  if (const YAML::Node* value = map->find("give_up_after_ms")) {
    // 0: retry for as long as the process runs.
    assign(read_duration(*value, "retry.give_up_after_ms", BareNumber::Milliseconds, 0), retry.give_up_after);
  }
  if (retry.max_backoff < retry.initial_backoff) {
    problem("retry.max_backoff_ms", "must not be smaller than retry.initial_backoff_ms");
  }
}

void Reader::read_sinks(const YAML::Node& node, std::vector<SinkConfig>& sinks) {
  if (node.IsNull()) {
    problem("sinks", "must list at least one sink");
    return;
  }
  if (!node.IsSequence()) {
    problem("sinks", "expected a list of sinks, found " + std::string(node_kind(node)));
    return;
  }
  if (node.size() == 0) {
    problem("sinks", "must list at least one sink");
    return;
  }
  sinks.resize(node.size());
  sink_table_ok_.assign(node.size(), false);
  sink_pattern_ok_.assign(node.size(), false);
  for (size_t i = 0; i < node.size(); ++i) {
    current_sink_ = i;
    read_sink(node[i], index_path("sinks", i), sinks[i]);
  }
}

void Reader::read_sink(const YAML::Node& node, const std::string& path, SinkConfig& sink) {
  column_type_known_.clear();
  const std::optional<MapEntries> map = open_map(node, path, kSinkKeys);
  if (!map) return;

  const YAML::Node* topic = map->find("topic");
  const YAML::Node* pattern = map->find("topic_pattern");
  if (topic != nullptr && pattern != nullptr) {
    problem(path, "sets both topic and topic_pattern; set exactly one");
  } else if (topic == nullptr && pattern == nullptr) {
    problem(path, "needs a topic or a topic_pattern");
  } else if (topic != nullptr) {
    assign(read_topic(*topic, join_path(path, "topic")), sink.topic);
  } else {
    const std::string pattern_path = join_path(path, "topic_pattern");
    const std::optional<std::string> text = read_non_empty_string(*pattern, pattern_path);
    if (text) {
      try {
        const std::regex compiled(*text, std::regex::ECMAScript);
        sink.topic_pattern = *text;
        sink_pattern_ok_[current_sink_] = true;
      } catch (const std::regex_error& error) {
        problem(pattern_path, "is not a valid ECMAScript regular expression (" + std::string(error.what()) +
                                  "): " + quote_value(*text));
      }
    }
  }

  if (const YAML::Node* value = require(*map, "table", path)) read_table(*value, join_path(path, "table"), sink);
  if (const YAML::Node* value = map->find("format")) {
    assign(read_enum(*value, join_path(path, "format"), kRecordFormats), sink.format);
  }
  const bool debezium = sink.format == RecordFormat::Debezium;
  // A debezium sink applies changes by key: upsert is its only mode, so it is the default.
  if (debezium) sink.mode = WriteMode::Upsert;
  if (debezium) sink.timestamp_unit = TimestampUnit::Micros;
  const YAML::Node* mode = map->find("mode");
  if (mode != nullptr) {
    assign(read_enum(*mode, join_path(path, "mode"), kWriteModes), sink.mode);
  }
  if (const YAML::Node* value = map->find("schema_evolution")) {
    assign(read_enum(*value, join_path(path, "schema_evolution"), kSchemaEvolutions), sink.schema_evolution);
  }
  if (const YAML::Node* value = map->find("on_truncate")) {
    assign(read_enum(*value, join_path(path, "on_truncate"), kTruncateActions), sink.on_truncate);
  }
  if (const YAML::Node* value = map->find("timestamp_unit")) {
    assign(read_enum(*value, join_path(path, "timestamp_unit"), kTimestampUnits), sink.timestamp_unit);
  }
  if (const YAML::Node* value = map->find("primary_key")) {
    assign(read_string_list(*value, join_path(path, "primary_key")), sink.primary_key);
  }
  if (const YAML::Node* value = map->find("create_table")) {
    assign(read_bool(*value, join_path(path, "create_table")), sink.create_table);
  }
  if (const YAML::Node* value = map->find("upsert_when_newer")) {
    assign(read_non_empty_string(*value, join_path(path, "upsert_when_newer")), sink.upsert_when_newer);
  }
  if (const YAML::Node* value = map->find("delete_on_tombstone")) {
    assign(read_bool(*value, join_path(path, "delete_on_tombstone")), sink.delete_on_tombstone);
  }
  if (const YAML::Node* value = map->find("dedup")) {
    DedupConfig dedup;
    read_dedup(*value, join_path(path, "dedup"), dedup);
    sink.dedup = std::move(dedup);
  }
  if (const YAML::Node* value = map->find("columns")) {
    read_columns(*value, join_path(path, "columns"), sink);
  } else {
    sink.columns_by_name = true;
  }
  check_routing_rules(path, sink, mode != nullptr);
  check_sink_rules(path, sink);
}

void Reader::read_table(const YAML::Node& node, const std::string& path, SinkConfig& sink) {
  const std::optional<std::string> text = read_non_empty_string(node, path);
  if (!text) return;
  if (text->find_first_of("{}") == std::string::npos) {
    const std::optional<QualifiedName> table = read_qualified_name(node, path);
    sink_table_ok_[current_sink_] = table.has_value();
    assign(table, sink.table);
    return;
  }
  std::variant<TableTemplate, std::string> parsed = TableTemplate::parse(*text, sink.topic_pattern);
  if (const std::string* why = std::get_if<std::string>(&parsed)) {
    problem(path, *why);
    return;
  }
  const TableTemplate& table = std::get<TableTemplate>(parsed);
  if (table.has_placeholders()) {
    // One table per topic: the cross-sink table checks cannot see these names.
    sink.table_template = *text;
    return;
  }
  // Only {{ and }}: one table, whose name holds literal braces.
  std::variant<QualifiedName, std::string> name = table.resolve(sink.topic);
  if (const std::string* why = std::get_if<std::string>(&name)) {
    problem(path, *why);
    return;
  }
  sink.table = std::get<QualifiedName>(name);
  sink_table_ok_[current_sink_] = true;
}

void Reader::check_routing_rules(const std::string& path, SinkConfig& sink, bool mode_written) {
  const bool debezium = sink.format == RecordFormat::Debezium;
  if (debezium && mode_written && sink.mode != WriteMode::Upsert) {
    problem(join_path(path, "mode"), "must be upsert with format debezium (found " +
                                         std::string(write_mode_name(sink.mode)) +
                                         "): change events update and delete rows by key");
  }
  // Dedup identities are field values keyed by sink, not by table: one sink writing several
  // tables would drop a record of one table because another table applied the same values.
  if (sink.dedup && !sink.table_template.empty()) {
    problem(join_path(path, "dedup"),
            "is not supported with a table template (" + quote_value(sink.table_template) +
                "): identities are kept per sink, so equal values in two of its tables would drop "
                "each other's records; use one sink per table, or primary_key with mode insert_ignore");
  }
  if (sink.dedup && debezium) {
    problem(join_path(path, "dedup"),
            "is not supported with format: debezium (change events are applied by key, and the "
            "partition's offset stored with the rows already makes re-delivery a no-op)");
  }
  if (sink.create_table && sink.columns_by_name && !debezium) {
    problem(join_path(path, "create_table"),
            "needs columns with format json: without them there is nothing to create the table from "
            "(format debezium creates it from the change event's schema)");
  }
}

void Reader::read_dedup(const YAML::Node& node, const std::string& path, DedupConfig& dedup) {
  const std::optional<MapEntries> map = open_map(node, path, kDedupKeys);
  if (!map) return;
  if (const YAML::Node* value = require(*map, "fields", path)) {
    const std::string fields_path = join_path(path, "fields");
    const std::optional<std::vector<std::string>> fields = read_string_list(*value, fields_path);
    if (fields && fields->empty()) problem(fields_path, "must list at least one JSON pointer");
    if (fields) {
      for (size_t i = 0; i < fields->size(); ++i) {
        if (std::optional<std::string> why = json_pointer_problem((*fields)[i])) {
          problem(index_path(fields_path, i), "is not a JSON pointer: " + quote_value((*fields)[i]) + " " + *why);
        }
      }
      dedup.fields = *fields;
    }
  }
  if (const YAML::Node* value = map->find("ttl")) {
    const std::string ttl_path = join_path(path, "ttl");
    const std::optional<std::chrono::milliseconds> ttl = read_duration(*value, ttl_path, BareNumber::NeedsUnit, 1);
    if (ttl && ttl->count() % 1000 != 0) {
      problem(ttl_path, "must be a whole number of seconds");
    } else if (ttl) {
      dedup.ttl = std::chrono::duration_cast<std::chrono::seconds>(*ttl);
    }
  }
}

std::optional<ColumnSource> Reader::read_column_source(const YAML::Node& node, const std::string& path) {
  const std::optional<std::string> text = read_string(node, path);
  if (!text) return std::nullopt;
  static constexpr std::array<std::pair<std::string_view, ColumnSource::Kind>, 5> kMetadata{{
      {"@key", ColumnSource::Kind::Key},
      {"@topic", ColumnSource::Kind::Topic},
      {"@partition", ColumnSource::Kind::Partition},
      {"@offset", ColumnSource::Kind::Offset},
      {"@timestamp", ColumnSource::Kind::Timestamp},
  }};
  constexpr std::string_view kHeaderPrefix = "@header:";
  if (!text->empty() && text->front() == '/') {
    if (std::optional<std::string> why = json_pointer_problem(*text)) {
      problem(path, "is not a JSON pointer: " + quote_value(*text) + " " + *why);
      return std::nullopt;
    }
    return ColumnSource{ColumnSource::Kind::JsonPointer, *text};
  }
  for (const auto& [name, kind] : kMetadata) {
    if (*text == name) return ColumnSource{kind, ""};
  }
  if (text->starts_with(kHeaderPrefix)) {
    std::string header = text->substr(kHeaderPrefix.size());
    if (header.empty()) {
      problem(path, "names no header: expected @header:NAME");
      return std::nullopt;
    }
    return ColumnSource{ColumnSource::Kind::Header, std::move(header)};
  }
  problem(path, "expected a JSON pointer starting with \"/\" (like /device/id) or one of @key, @topic, "
                "@partition, @offset, @timestamp, @header:NAME, found " + quote_value(*text));
  return std::nullopt;
}

void Reader::read_columns(const YAML::Node& node, const std::string& path, SinkConfig& sink) {
  const std::optional<MapEntries> map =
      open_any_map(node, path, "a map of column name to {path, type, nullable}");
  if (!map) return;
  if (map->entries.empty()) {
    problem(path, "must map at least one column");
    return;
  }
  static const auto kTypeNames = column_type_names();
  for (const auto& [name, column_node] : map->entries) {
    const std::string column_path = join_path(path, name);
    ColumnConfig column;
    column.name = name;
    bool type_known = false;
    if (std::optional<std::string> why = identifier_problem(name)) {
      problem(column_path, "is not a valid column name: it " + *why);
    }
    const std::optional<MapEntries> fields = open_map(column_node, column_path, kColumnKeys);
    if (fields) {
      std::optional<ColumnSource> source;
      if (const YAML::Node* value = require(*fields, "path", column_path)) {
        source = read_column_source(*value, join_path(column_path, "path"));
        assign(source, column.source);
      }
      if (const YAML::Node* value = require(*fields, "type", column_path)) {
        const std::optional<ColumnType> type = read_enum(*value, join_path(column_path, "type"), kTypeNames);
        type_known = type.has_value();
        assign(type, column.type);
      }
      if (const YAML::Node* value = fields->find("nullable")) {
        assign(read_bool(*value, join_path(column_path, "nullable")), column.nullable);
      }
      if (source && type_known) {
        const std::vector<ColumnType> allowed = types_allowed_for(source->kind);
        if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), column.type) == allowed.end()) {
          std::string names;
          for (size_t i = 0; i < allowed.size(); ++i) {
            if (i > 0) names += ", ";
            names += column_type_name(allowed[i]);
          }
          problem(join_path(column_path, "type"), "cannot hold " + std::string(source_spelling(*source)) + " as " +
                                                      std::string(column_type_name(column.type)) +
                                                      "; use one of " + names);
        }
      }
    }
    sink.columns.push_back(std::move(column));
    column_type_known_.push_back(type_known);
  }
}

void Reader::check_sink_rules(const std::string& path, SinkConfig& sink) {
  const auto column_index = [&sink](std::string_view name) -> std::optional<size_t> {
    for (size_t i = 0; i < sink.columns.size(); ++i) {
      if (sink.columns[i].name == name) return i;
    }
    return std::nullopt;
  };
  const std::string mode_name(write_mode_name(sink.mode));
  const auto column_name_of = [](const ColumnConfig& column) { return std::string_view(column.name); };
  const std::string key_path = join_path(path, "primary_key");
  // Without columns every name lookup fails; that problem is already reported.
  const bool have_columns = !sink.columns.empty();

  for (size_t k = 0; k < sink.primary_key.size() && have_columns; ++k) {
    const std::string& name = sink.primary_key[k];
    const std::string entry_path = index_path(key_path, k);
    if (std::find(sink.primary_key.begin(), sink.primary_key.begin() + static_cast<std::ptrdiff_t>(k), name) !=
        sink.primary_key.begin() + static_cast<std::ptrdiff_t>(k)) {
      problem(entry_path, "lists column " + quote_value(name) + " twice");
      continue;
    }
    const std::optional<size_t> index = column_index(name);
    if (!index) {
      problem(entry_path, quote_value(name) + " is not one of this sink's columns" +
                              did_you_mean(name, sink.columns, column_name_of));
      continue;
    }
    const ColumnConfig& column = sink.columns[*index];
    if (column.nullable) {
      problem(entry_path, "column " + quote_value(name) + " is nullable; a primary key column must not be");
    }
    if (column_type_known_[*index] && column.type == ColumnType::Json) {
      problem(entry_path, "column " + quote_value(name) +
                              " has type json, which PostgreSQL cannot compare for equality; use jsonb");
    }
    sink.primary_key_columns.push_back(*index);
  }

  // By name, the table's own primary key is the default (read when a topic is routed);
  // a debezium sink's key is the record key's fields.
  const bool key_from_elsewhere = sink.columns_by_name || sink.format == RecordFormat::Debezium;
  if ((sink.mode == WriteMode::Upsert || sink.mode == WriteMode::InsertIgnore) && sink.primary_key.empty() &&
      !key_from_elsewhere) {
    problem(key_path, "is required when mode is " + mode_name + ": it names the conflict target");
  }

  if (!sink.upsert_when_newer.empty() && sink.format == RecordFormat::Debezium) {
    // An unchanged TOASTed column is completed from the key's earlier record in the batch,
    // which upsert_when_newer could have rejected: the two do not mix.
    problem(join_path(path, "upsert_when_newer"),
            "is not supported with format: debezium (change events are applied in their order)");
  }
  if (!sink.upsert_when_newer.empty()) {
    const std::string newer_path = join_path(path, "upsert_when_newer");
    const std::string& name = sink.upsert_when_newer;
    const std::optional<size_t> index = have_columns ? column_index(name) : std::nullopt;
    if (sink.mode != WriteMode::Upsert) {
      problem(newer_path, "is only allowed with mode upsert (mode is " + mode_name + ")");
    } else if (!have_columns) {
      // the missing columns are reported already
    } else if (!index) {
      problem(newer_path, quote_value(name) + " is not one of this sink's columns" +
                              did_you_mean(name, sink.columns, column_name_of));
    } else {
      const ColumnConfig& column = sink.columns[*index];
      if (std::find(sink.primary_key.begin(), sink.primary_key.end(), name) != sink.primary_key.end()) {
        problem(newer_path, "column " + quote_value(name) + " is part of the primary key, so it never differs between "
                                                       "the rows it would compare");
      }
      if (column.nullable) {
        problem(newer_path,
                "column " + quote_value(name) + " is nullable; it must not be, so every row can be compared");
      }
      if (column_type_known_[*index] && !is_ordered_type(column.type)) {
        problem(newer_path, "column " + quote_value(name) + " has type " + std::string(column_type_name(column.type)) +
                                ", which cannot be compared; use smallint, integer, bigint, real, double, numeric, "
                                "date, timestamp or timestamptz");
      }
      sink.newer_column = *index;
    }
  }

  if (sink.delete_on_tombstone && sink.mode == WriteMode::Insert) {
    problem(join_path(path, "delete_on_tombstone"),
            "cannot be used with mode insert, which is append-only; use mode upsert or insert_ignore with a "
            "primary_key");
  }
}

void Reader::check_across_sinks(const Config& config) {
  std::vector<std::optional<std::regex>> patterns(config.sinks.size());
  for (size_t i = 0; i < config.sinks.size(); ++i) {
    if (sink_pattern_ok_[i]) patterns[i].emplace(config.sinks[i].topic_pattern, std::regex::ECMAScript);
  }

  for (size_t i = 0; i < config.sinks.size(); ++i) {
    const SinkConfig& sink = config.sinks[i];
    const std::string path = index_path("sinks", i);

    if (!sink.topic.empty()) {
      for (size_t j = 0; j < i; ++j) {
        if (config.sinks[j].topic == sink.topic) {
          problem(join_path(path, "topic"), "topic " + quote_value(sink.topic) + " is already consumed by sinks[" +
                                                std::to_string(j) + "]; one sink per topic");
          break;
        }
      }
      for (size_t j = 0; j < config.sinks.size(); ++j) {
        if (patterns[j] && std::regex_match(sink.topic, *patterns[j])) {
          problem(index_path("sinks", j) + ".topic_pattern",
                  "also matches topic " + quote_value(sink.topic) + " of sinks[" + std::to_string(i) +
                      "]; a topic must be consumed by one sink");
        }
      }
    }

    if (sink_table_ok_[i]) {
      for (size_t j = 0; j < i; ++j) {
        if (sink_table_ok_[j] && config.sinks[j].table == sink.table) {
          problem(join_path(path, "table"), "table " + quote_value(display_name(sink.table)) +
                                                " is already written by sinks[" + std::to_string(j) +
                                                "]; one sink per table");
          break;
        }
      }
      if (sink.table == config.postgres.offsets_table) {
        problem(join_path(path, "table"), "is the offsets table (postgres.offsets_table); choose another table");
      }
    }
  }

  const std::string& dead_letter_topic = config.errors.dead_letter_topic;
  if (!dead_letter_topic.empty()) {
    for (size_t i = 0; i < config.sinks.size(); ++i) {
      if (config.sinks[i].topic == dead_letter_topic ||
          (patterns[i] && std::regex_match(dead_letter_topic, *patterns[i]))) {
        problem("errors.dead_letter_topic", "is consumed by sinks[" + std::to_string(i) +
                                                "]; bad records would be read back in a loop");
      }
    }
  }
}

std::string format_problems(const std::vector<ConfigProblem>& problems) {
  std::string text;
  for (const ConfigProblem& entry : problems) {
    if (!text.empty()) text += '\n';
    if (!entry.path.empty()) {
      text += entry.path;
      text += ": ";
    }
    text += entry.message;
  }
  return text;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_password_keyword(std::string_view key) {
  return equals_ignoring_case(key, "password") || equals_ignoring_case(key, "sslpassword");
}

constexpr std::string_view kRedacted = "***";

/// The URI form: postgresql://[user[:password]@][host][/dbname][?param=value&...]
std::string redact_uri(std::string_view uri, size_t scheme_end) {
  std::string out(uri.substr(0, scheme_end));
  std::string_view rest = uri.substr(scheme_end);
  const size_t query_start = rest.find('?');
  // The last '@' before the query ends the user info; taking the last one also
  // covers a password that (wrongly, unencoded) contains '@' or '/'.
  const size_t at = rest.substr(0, query_start).rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view user_info = rest.substr(0, at);
    const size_t colon = user_info.find(':');
    if (colon == std::string_view::npos) {
      out += user_info;
    } else {
      out += user_info.substr(0, colon + 1);
      out += kRedacted;
    }
    rest.remove_prefix(at);
  }
  const size_t query = rest.find('?');
  out += rest.substr(0, query);
  if (query == std::string_view::npos) return out;
  std::string_view params = rest.substr(query + 1);
  out += '?';
  while (true) {
    const size_t amp = params.find('&');
    const std::string_view param = params.substr(0, amp);
    const size_t equals = param.find('=');
    if (equals != std::string_view::npos && is_password_keyword(param.substr(0, equals))) {
      out += param.substr(0, equals + 1);
      out += kRedacted;
    } else {
      out += param;
    }
    if (amp == std::string_view::npos) break;
    out += '&';
    params.remove_prefix(amp + 1);
  }
  return out;
}

/// The keyword/value form, tokenized the way libpq does: `key = value`, where a value
/// is single-quoted (with \' and \\ escapes) or runs to the next space (with
/// backslash escapes). Whatever cannot be tokenized is kept only if it cannot hold
/// a password.
std::string redact_keyword_value(std::string_view dsn) {
  std::string out;
  out.reserve(dsn.size());
  size_t i = 0;
  const auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  const auto copy_spaces = [&] {
    while (i < dsn.size() && is_space(dsn[i])) out += dsn[i++];
  };
  while (true) {
    copy_spaces();
    if (i >= dsn.size()) break;
    const size_t key_start = i;
    while (i < dsn.size() && !is_space(dsn[i]) && dsn[i] != '=') ++i;
    const std::string_view key = dsn.substr(key_start, i - key_start);
    out += key;
    copy_spaces();
    if (i >= dsn.size() || dsn[i] != '=') {
      // Not keyword/value syntax from here on: libpq would reject it. Keep the rest
      // only when it cannot be hiding a password.
      const std::string_view rest = dsn.substr(i);
      std::string lowered(rest);
      std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                     [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
      out += lowered.find("password") == std::string::npos && !is_password_keyword(key) ? std::string(rest)
                                                                                        : std::string(kRedacted);
      break;
    }
    out += dsn[i++];  // '='
    copy_spaces();
    const size_t value_start = i;
    if (i < dsn.size() && dsn[i] == '\'') {
      ++i;
      while (i < dsn.size() && dsn[i] != '\'') i += (dsn[i] == '\\' && i + 1 < dsn.size()) ? 2 : 1;
      if (i < dsn.size()) ++i;  // closing quote; an unterminated value runs to the end
    } else {
      while (i < dsn.size() && !is_space(dsn[i])) i += (dsn[i] == '\\' && i + 1 < dsn.size()) ? 2 : 1;
    }
    i = std::min(i, dsn.size());
    if (is_password_keyword(key)) {
      out += kRedacted;
    } else {
      out += dsn.substr(value_start, i - value_start);
    }
  }
  return out;
}

}  // namespace

std::string_view column_type_sql(ColumnType type) { return column_type_info(type).sql; }

std::string_view column_type_name(ColumnType type) { return column_type_info(type).name; }

ConfigError::ConfigError(std::vector<ConfigProblem> problems)
    : std::runtime_error(format_problems(problems)), problems_(std::move(problems)) {}

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Config parse_config(std::string_view yaml_text, const EnvLookup& env) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& error) {
    // yaml-cpp's parser messages are fixed texts ("illegal map value"); they never
    // quote the document, so no secret can leak through them.
    std::string message = "YAML syntax error";
    if (!error.mark.is_null()) {
      message += " at line " + std::to_string(error.mark.line + 1) + ", column " +
                 std::to_string(error.mark.column + 1);
    }
    message += ": " + error.msg;
    throw ConfigError({{"", std::move(message)}});
  }
  Reader reader(env);
  Config config = reader.read_document(root);
  std::vector<ConfigProblem> problems = reader.take_problems();
  if (!problems.empty()) throw ConfigError(std::move(problems));
  return config;
}

Config load_config_file(const std::string& path, const EnvLookup& env) {
  // A directory opens fine and then reads as empty, which would be reported as
  // "every key is missing" instead of the real mistake.
  std::error_code status_error;
  if (std::filesystem::is_directory(path, status_error)) {
    throw ConfigError({{"", "cannot read config file " + quote_value(path) + ": it is a directory"}});
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    const int error = errno;
    throw ConfigError({{"", "cannot read config file " + quote_value(path) + ": " + std::strerror(error)}});
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    const int error = errno;
    throw ConfigError({{"", "cannot read config file " + quote_value(path) + ": " + std::strerror(error)}});
  }
  return parse_config(text.str(), env);
}

std::string redact_dsn(std::string_view dsn) {
  for (const std::string_view scheme : {std::string_view("postgresql://"), std::string_view("postgres://")}) {
    if (dsn.size() >= scheme.size() && equals_ignoring_case(dsn.substr(0, scheme.size()), scheme)) {
      return redact_uri(dsn, scheme.size());
    }
  }
  return redact_keyword_value(dsn);
}

std::string quote_identifier(std::string_view identifier) {
  std::string quoted_name;
  quoted_name.reserve(identifier.size() + 2);
  quoted_name += '"';
  for (char c : identifier) {
    if (c == '"') quoted_name += '"';
    quoted_name += c;
  }
  quoted_name += '"';
  return quoted_name;
}

std::string quote_qualified_name(const QualifiedName& name) {
  if (name.schema.empty()) return quote_identifier(name.name);
  return quote_identifier(name.schema) + "." + quote_identifier(name.name);
}

bool sink_matches_topic(const SinkConfig& sink, std::string_view topic) {
  if (!sink.topic.empty()) return topic == sink.topic;
  if (sink.topic_pattern.empty()) return false;
  // Compiling per call is fine: callers ask once per newly seen topic and cache the
  // answer. The pattern compiled when the config was validated.
  const std::regex pattern(sink.topic_pattern, std::regex::ECMAScript);
  return std::regex_match(topic.begin(), topic.end(), pattern);
}

}  // namespace kps
