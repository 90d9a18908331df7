// Configuration loading: parsing, interpolation, every validation rule with its key
// path, secret safety, and the helpers other stages use (quoting, redaction, topic
// matching). The environment is always injected; the real one is never read.

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "connector/config.h"

using namespace std::chrono_literals;
using kps::ColumnSource;
using kps::ColumnType;
using kps::Config;
using kps::ConfigError;
using kps::ConfigProblem;
using kps::EnvLookup;
using kps::QualifiedName;
using kps::WriteMode;

namespace {

EnvLookup env_from(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](const std::string& name) -> std::optional<std::string> {
    const auto found = variables.find(name);
    if (found == variables.end()) return std::nullopt;
    return found->second;
  };
}

const EnvLookup& no_env() {
  static const EnvLookup empty = env_from({});
  return empty;
}

Config parse(const std::string& yaml, const EnvLookup& env = no_env()) { return kps::parse_config(yaml, env); }

std::vector<ConfigProblem> problems_in(const std::string& yaml, const EnvLookup& env = no_env()) {
  try {
    kps::parse_config(yaml, env);
  } catch (const ConfigError& error) {
    return error.problems();
  }
  FAIL("expected a ConfigError for:\n" << yaml);
  return {};
}

std::string describe(const std::vector<ConfigProblem>& problems) {
  std::string text = "problems:";
  for (const ConfigProblem& problem : problems) text += "\n  [" + problem.path + "] " + problem.message;
  return text;
}

bool has_problem(const std::vector<ConfigProblem>& problems, const std::string& path, const std::string& fragment) {
  for (const ConfigProblem& problem : problems) {
    if (problem.path == path && problem.message.find(fragment) != std::string::npos) return true;
  }
  return false;
}

// A macro, so a failure points at the test's line and shows every problem found.
#define CHECK_PROBLEM(yaml, path, fragment)                  \
  do {                                                       \
    const auto check_problems = problems_in(yaml);           \
    INFO(describe(check_problems));                          \
    CHECK(has_problem(check_problems, path, fragment));      \
  } while (false)

constexpr const char* kColumns =
    "columns: {id: {path: /id, type: bigint}, ts: {path: /ts, type: timestamptz},"
    " body: {path: /body, type: jsonb, nullable: true}}";

/// A valid config around the given top-level lines (sections other than kafka, postgres, sinks).
std::string with_sections(const std::string& extra) {
  return "kafka: {bootstrap_servers: 'b:9092'}\n"
         "postgres: {dsn: 'host=db'}\n" +
         extra +
         "\nsinks:\n"
         "  - {topic: events, table: events, " +
         kColumns + "}\n";
}

/// A valid config whose one sink holds `sink` (YAML flow-map entries).
std::string with_sink(const std::string& sink) {
  return "kafka: {bootstrap_servers: 'b:9092'}\n"
         "postgres: {dsn: 'host=db'}\n"
         "sinks:\n"
         "  - {" +
         sink + "}\n";
}

/// A sink on topic events / table events with the standard columns plus `extra` entries.
std::string with_sink_extra(const std::string& extra) {
  return with_sink("topic: events, table: events, " + extra + (extra.empty() ? "" : ", ") + kColumns);
}

/// A sink with `columns` (flow-map body) and `extra` entries.
std::string with_columns(const std::string& columns, const std::string& extra = "") {
  return with_sink("topic: events, table: events, " + extra + (extra.empty() ? "" : ", ") + "columns: {" + columns +
                   "}");
}

constexpr const char* kFullConfig = R"(
kafka:
  bootstrap_servers: "broker-1:9092,broker-2:9092"
  group_id: orders-sink
  properties:
    security.protocol: SASL_SSL
    sasl.mechanism: SCRAM-SHA-512
    sasl.username: "${KAFKA_USER}"
    sasl.password: "${KAFKA_PASSWORD}"
    fetch.max.bytes: 1048576
postgres:
  dsn: "host=db port=5432 dbname=app user=sink"
  pool_size: 2
  offsets_table: sink.offsets
state:
  dir: /data/state
batch:
  max_rows: 5000
  max_bytes: 512KiB
  max_latency_ms: 2s
errors:
  tolerance: all
  dead_letter_topic: events.dlq
http:
  listen: "127.0.0.1:9100"
log:
  level: debug
  format: json
  progress_interval_ms: 10s
shutdown_timeout_ms: 45000
sinks:
  - topic: events
    table: public.events
    mode: upsert
    primary_key: [id, region]
    create_table: true
    upsert_when_newer: ts
    delete_on_tombstone: true
    dedup:
      fields: [/event_id, /source/id]
      ttl: 7d
    columns:
      id:        {path: /id, type: bigint}
      device_id: {path: /device/id, type: text}
      ts:        {path: /ts, type: timestamptz}
      payload:   {path: /payload, type: jsonb, nullable: true}
      region:    {path: "@header:region", type: text}
      source:    {path: "@topic", type: text}
      part:      {path: "@partition", type: integer}
      offs:      {path: "@offset", type: bigint}
      at:        {path: "@timestamp", type: timestamptz}
      k:         {path: "@key", type: json, nullable: true}
  - topic_pattern: "^audit\\..*"
    table: audit_log
    mode: insert_ignore
    primary_key: [id]
    columns:
      id: {path: /id, type: uuid}
)";

}  // namespace

TEST_CASE("a config with every key set parses to the expected structs") {
  const Config config = parse(kFullConfig, env_from({{"KAFKA_USER", "alice"}, {"KAFKA_PASSWORD", "s3cret"}}));

  CHECK(config.kafka.bootstrap_servers == "broker-1:9092,broker-2:9092");
  CHECK(config.kafka.group_id == "orders-sink");
  const std::vector<std::pair<std::string, std::string>> expected_properties{
      {"security.protocol", "SASL_SSL"},
      {"sasl.mechanism", "SCRAM-SHA-512"},
      {"sasl.username", "alice"},
      {"sasl.password", "s3cret"},
      {"fetch.max.bytes", "1048576"},
  };
  CHECK(config.kafka.properties == expected_properties);

  CHECK(config.postgres.dsn == "host=db port=5432 dbname=app user=sink");
  CHECK(config.postgres.pool_size == 2);
  CHECK(config.postgres.offsets_table == QualifiedName{"sink", "offsets"});
  CHECK(config.state.dir == "/data/state");
  CHECK(config.batch.max_rows == 5000);
  CHECK(config.batch.max_bytes == 512u * 1024);
  CHECK(config.batch.max_latency == 2000ms);
  CHECK(config.errors.tolerance == kps::ErrorTolerance::All);
  CHECK(config.errors.dead_letter_topic == "events.dlq");
  CHECK(config.http.listen == "127.0.0.1:9100");
  CHECK(config.log.level == kps::LogLevel::Debug);
  CHECK(config.log.format == kps::LogFormat::Json);
  CHECK(config.log.progress_interval == 10000ms);
  CHECK(config.shutdown_timeout == 45000ms);

  REQUIRE(config.sinks.size() == 2);
  const kps::SinkConfig& events = config.sinks[0];
  CHECK(events.topic == "events");
  CHECK(events.topic_pattern.empty());
  CHECK(events.table == QualifiedName{"public", "events"});
  CHECK(events.mode == WriteMode::Upsert);
  CHECK(events.primary_key == std::vector<std::string>{"id", "region"});
  CHECK(events.create_table);
  CHECK(events.upsert_when_newer == "ts");
  CHECK(events.delete_on_tombstone);
  REQUIRE(events.dedup.has_value());
  CHECK(events.dedup->fields == std::vector<std::string>{"/event_id", "/source/id"});
  CHECK(events.dedup->ttl == std::chrono::seconds(7 * 24 * 3600));

  REQUIRE(events.columns.size() == 10);
  const std::vector<std::string> names{"id", "device_id", "ts", "payload", "region",
                                       "source", "part", "offs", "at", "k"};
  for (size_t i = 0; i < names.size(); ++i) CHECK(events.columns[i].name == names[i]);
  using Kind = ColumnSource::Kind;
  CHECK(events.columns[0].source == ColumnSource{Kind::JsonPointer, "/id"});
  CHECK(events.columns[0].type == ColumnType::BigInt);
  CHECK_FALSE(events.columns[0].nullable);
  CHECK(events.columns[1].source == ColumnSource{Kind::JsonPointer, "/device/id"});
  CHECK(events.columns[2].type == ColumnType::TimestampTz);
  CHECK(events.columns[3].type == ColumnType::Jsonb);
  CHECK(events.columns[3].nullable);
  CHECK(events.columns[4].source == ColumnSource{Kind::Header, "region"});
  CHECK(events.columns[5].source == ColumnSource{Kind::Topic, ""});
  CHECK(events.columns[6].source == ColumnSource{Kind::Partition, ""});
  CHECK(events.columns[6].type == ColumnType::Integer);
  CHECK(events.columns[7].source == ColumnSource{Kind::Offset, ""});
  CHECK(events.columns[8].source == ColumnSource{Kind::Timestamp, ""});
  CHECK(events.columns[9].source == ColumnSource{Kind::Key, ""});
  CHECK(events.columns[9].type == ColumnType::Json);

  CHECK(events.primary_key_columns == std::vector<size_t>{0, 4});
  CHECK(events.newer_column == std::optional<size_t>(2));

  const kps::SinkConfig& audit = config.sinks[1];
  CHECK(audit.topic.empty());
  CHECK(audit.topic_pattern == "^audit\\..*");
  CHECK(audit.table == QualifiedName{"", "audit_log"});
  CHECK(audit.mode == WriteMode::InsertIgnore);
  CHECK(audit.primary_key_columns == std::vector<size_t>{0});
  CHECK_FALSE(audit.newer_column.has_value());
  CHECK_FALSE(audit.dedup.has_value());
  CHECK(audit.columns[0].type == ColumnType::Uuid);
}

TEST_CASE("omitted keys take their documented defaults") {
  const Config config = parse(with_sink("topic: events, table: events, columns: {id: {path: /id, type: bigint}}"));

  CHECK(config.kafka.group_id == "kafka-pg-sink");
  CHECK(config.kafka.properties.empty());
  CHECK(config.postgres.pool_size == 4);
  CHECK(config.postgres.offsets_table == QualifiedName{"", "kafka_pg_sink_offsets"});
  CHECK(config.state.dir == "/var/lib/kafka-pg-sink");
  CHECK(config.batch.max_rows == 10000);
  CHECK(config.batch.max_bytes == 16777216);
  CHECK(config.batch.max_latency == 250ms);
  CHECK(config.errors.tolerance == kps::ErrorTolerance::None);
  CHECK(config.errors.dead_letter_topic.empty());
  CHECK(config.http.listen == "0.0.0.0:8080");
  CHECK(config.log.level == kps::LogLevel::Info);
  CHECK(config.log.format == kps::LogFormat::Text);
  CHECK(config.log.progress_interval == 5000ms);
  CHECK(config.shutdown_timeout == 30000ms);

  REQUIRE(config.sinks.size() == 1);
  const kps::SinkConfig& sink = config.sinks[0];
  CHECK(sink.mode == WriteMode::Insert);
  CHECK(sink.primary_key.empty());
  CHECK(sink.primary_key_columns.empty());
  CHECK_FALSE(sink.create_table);
  CHECK(sink.upsert_when_newer.empty());
  CHECK_FALSE(sink.newer_column.has_value());
  CHECK_FALSE(sink.delete_on_tombstone);
  CHECK_FALSE(sink.dedup.has_value());
  CHECK_FALSE(sink.columns[0].nullable);
}

TEST_CASE("a dedup section without ttl remembers identities for 24 hours") {
  const Config config = parse(with_sink_extra("dedup: {fields: [/event_id]}"));
  REQUIRE(config.sinks[0].dedup.has_value());
  CHECK(config.sinks[0].dedup->ttl == std::chrono::seconds(24 * 3600));
}

TEST_CASE("sections left empty or null keep their defaults") {
  const Config config = parse(with_sections("batch:\nlog: {}\nstate:\n"));
  CHECK(config.batch.max_rows == 10000);
  CHECK(config.log.level == kps::LogLevel::Info);
  CHECK(config.state.dir == "/var/lib/kafka-pg-sink");
}

TEST_CASE("environment references are replaced in every scalar value") {
  const EnvLookup env = env_from({{"BROKERS", "k1:9092"},
                                  {"GROUP", "from-env"},
                                  {"PG_PASSWORD", "pw"},
                                  {"EMPTY", ""},
                                  {"POOL", "7"},
                                  {"KAFKA_PASSWORD", "sasl-secret"}});
  const Config config = parse(R"(
kafka:
  bootstrap_servers: "${BROKERS}"
  group_id: "${GROUP:-ignored-default}"
  properties:
    sasl.password: "${KAFKA_PASSWORD}"
    client.id: "sink-${HOSTNAME:-local}"
postgres:
  dsn: "host=${PG_HOST:-localhost} password=${PG_PASSWORD}"
  pool_size: "${POOL:-4}"
state:
  dir: "${EMPTY:-/tmp/default-when-empty}"
http:
  listen: "127.0.0.1:${HTTP_PORT:-9000}"
sinks:
  - topic: "${TOPIC:-events}"
    table: events
    primary_key: ["${PK:-id}"]
    columns: {id: {path: /id, type: bigint}}
)",
                              env);

  CHECK(config.kafka.bootstrap_servers == "k1:9092");
  CHECK(config.kafka.group_id == "from-env");
  REQUIRE(config.kafka.properties.size() == 2);
  CHECK(config.kafka.properties[0] == std::pair<std::string, std::string>{"sasl.password", "sasl-secret"});
  CHECK(config.kafka.properties[1] == std::pair<std::string, std::string>{"client.id", "sink-local"});
  CHECK(config.postgres.dsn == "host=localhost password=pw");
  CHECK(config.postgres.pool_size == 7);
  CHECK(config.state.dir == "/tmp/default-when-empty");
  CHECK(config.http.listen == "127.0.0.1:9000");
  CHECK(config.sinks[0].topic == "events");
  CHECK(config.sinks[0].primary_key == std::vector<std::string>{"id"});
}

TEST_CASE("$${ writes a literal ${ and a lone $ is kept") {
  const Config config = parse(R"(
kafka:
  bootstrap_servers: "b:9092"
  properties:
    literal: "a$${NOT_A_VAR}b"
    dollars: "cost $5 and $"
postgres: {dsn: "host=db"}
sinks: [{topic: events, table: events, columns: {id: {path: /id, type: bigint}}}]
)");
  REQUIRE(config.kafka.properties.size() == 2);
  CHECK(config.kafka.properties[0].second == "a${NOT_A_VAR}b");
  CHECK(config.kafka.properties[1].second == "cost $5 and $");
}

TEST_CASE("a value substituted from the environment is not interpolated again") {
  const Config config = parse(with_sections("state: {dir: \"${DIR}\"}"), env_from({{"DIR", "/x/${OTHER}"}}));
  CHECK(config.state.dir == "/x/${OTHER}");
}

TEST_CASE("an unset variable without a default is a problem at its key path") {
  const auto problems = problems_in(R"(
kafka: {bootstrap_servers: "${BROKERS}"}
postgres: {dsn: "host=db"}
sinks:
  - {topic: events, table: "${TABLE}", columns: {id: {path: /id, type: bigint}}}
)");
  INFO(describe(problems));
  CHECK(has_problem(problems, "kafka.bootstrap_servers", "environment variable BROKERS is not set"));
  CHECK(has_problem(problems, "sinks[0].table", "environment variable TABLE is not set"));
  CHECK(problems.size() == 2);
}

TEST_CASE("a malformed environment reference is a problem") {
  CHECK_PROBLEM(with_sections("state: {dir: \"/x/${UNCLOSED\"}"), "state.dir", "unterminated");
  CHECK_PROBLEM(with_sections("state: {dir: \"/x/${1BAD}\"}"), "state.dir", "invalid reference");
  CHECK_PROBLEM(with_sections("state: {dir: \"/x/${}\"}"), "state.dir", "invalid reference");
  CHECK_PROBLEM(with_sections("state: {dir: \"${A:-${B}}\"}"), "state.dir", "nests a reference");
}

TEST_CASE("keys are taken literally, never interpolated") {
  const Config config = parse(R"(
kafka:
  bootstrap_servers: b:9092
  properties: {"${NAME}": value}
postgres: {dsn: "host=db"}
sinks: [{topic: events, table: events, columns: {id: {path: /id, type: bigint}}}]
)",
                              env_from({{"NAME", "replaced"}}));
  REQUIRE(config.kafka.properties.size() == 1);
  CHECK(config.kafka.properties[0].first == "${NAME}");
}

TEST_CASE("unknown keys are rejected at every level, with a suggestion for typos") {
  const auto problems = problems_in(R"(
kafka: {bootstrap_server: "b:9092"}
postgres: {dsn: "host=db"}
extra: 1
sinks:
  - topic: events
    table: events
    modes: upsert
    columns:
      id: {path: /id, type: bigint, nulable: true}
)");
  INFO(describe(problems));
  CHECK(has_problem(problems, "extra", "unknown key"));
  CHECK(has_problem(problems, "kafka.bootstrap_server", "unknown key (did you mean \"bootstrap_servers\"?)"));
  CHECK(has_problem(problems, "kafka.bootstrap_servers", "is required"));
  CHECK(has_problem(problems, "sinks[0].modes", "unknown key (did you mean \"mode\"?)"));
  CHECK(has_problem(problems, "sinks[0].columns.id.nulable", "unknown key (did you mean \"nullable\"?)"));
  CHECK(problems.size() == 5);
}

TEST_CASE("a key written twice in one map is a problem") {
  CHECK_PROBLEM("kafka: {bootstrap_servers: a}\npostgres: {dsn: x}\nkafka: {bootstrap_servers: b}\n"
                "sinks: [{topic: t, table: t, columns: {id: {path: /id, type: bigint}}}]",
                "kafka", "duplicate key");
  CHECK_PROBLEM(with_columns("id: {path: /id, type: bigint}, id: {path: /x, type: text}"), "sinks[0].columns.id",
                "duplicate key");
}

TEST_CASE("a value of the wrong YAML kind is a problem naming what was expected") {
  CHECK_PROBLEM(with_sections("batch: [1, 2]"), "batch", "expected a map, found a list");
  CHECK_PROBLEM(with_sections("state: {dir: [a]}"), "state.dir", "expected a single value, found a list");
  CHECK_PROBLEM(with_sections("state: {dir: }"), "state.dir", "has no value");
  CHECK_PROBLEM(with_sections("log: {level: {a: b}}"), "log.level", "found a map");
  CHECK_PROBLEM("kafka: {bootstrap_servers: b}\npostgres: {dsn: x}\nsinks: {topic: t}", "sinks",
                "expected a list of sinks, found a map");
  CHECK_PROBLEM(with_sink_extra("primary_key: id"), "sinks[0].primary_key", "expected a list, found a scalar");
  CHECK_PROBLEM(with_sink("topic: t, table: t, columns: [{path: /id, type: bigint}]"), "sinks[0].columns",
                "expected a map of column name to {path, type, nullable}, found a list");
  CHECK_PROBLEM(with_columns("id: bigint"), "sinks[0].columns.id", "expected a map, found a scalar");
  CHECK_PROBLEM("- a\n- b\n", "", "expected a map, found a list");
  CHECK_PROBLEM("kafka: {bootstrap_servers: b, properties: [a]}\npostgres: {dsn: x}\n"
                "sinks: [{topic: t, table: t, columns: {id: {path: /id, type: bigint}}}]",
                "kafka.properties", "expected a map of librdkafka property names to values");
}

TEST_CASE("a YAML syntax error is reported with its line and column") {
  const auto problems = problems_in("kafka:\n  bootstrap_servers: [a, b\npostgres: {dsn: x}\n");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].path.empty());
  CHECK(problems[0].message.find("YAML syntax error at line 3") != std::string::npos);
}

TEST_CASE("an empty document reports every required key") {
  const auto problems = problems_in("");
  INFO(describe(problems));
  CHECK(has_problem(problems, "kafka.bootstrap_servers", "is required"));
  CHECK(has_problem(problems, "postgres.dsn", "is required"));
  CHECK(has_problem(problems, "sinks", "is required"));
  CHECK(problems.size() == 3);
}

TEST_CASE("every problem is reported together and what() lists them one per line") {
  try {
    parse(R"(
kafka: {bootstrap_servers: ""}
postgres: {dsn: "host=db", pool_size: 0}
batch: {max_rows: many}
sinks:
  - {topic: events, table: events, mode: upsert, columns: {id: {path: id, type: bigint}}}
)");
    FAIL("expected a ConfigError");
  } catch (const ConfigError& error) {
    INFO(describe(error.problems()));
    REQUIRE(error.problems().size() == 5);
    CHECK(has_problem(error.problems(), "kafka.bootstrap_servers", "must not be empty"));
    CHECK(has_problem(error.problems(), "postgres.pool_size", "out of range"));
    CHECK(has_problem(error.problems(), "batch.max_rows", "expected an integer"));
    CHECK(has_problem(error.problems(), "sinks[0].columns.id.path", "expected a JSON pointer"));
    CHECK(has_problem(error.problems(), "sinks[0].primary_key", "is required when mode is upsert"));
    const std::string listing = error.what();
    CHECK(listing.find("kafka.bootstrap_servers: must not be empty\npostgres.pool_size: is out of range") == 0);
    CHECK(std::count(listing.begin(), listing.end(), '\n') == 4);
  }
}

TEST_CASE("integers must be whole numbers within their range") {
  const std::string base = "kafka: {bootstrap_servers: b}\nsinks: [{topic: t, table: t, " + std::string(kColumns) +
                           "}]\npostgres: {dsn: x, pool_size: ";
  CHECK_PROBLEM(base + "0}", "postgres.pool_size", "is out of range: expected an integer from 1 to 64, found 0");
  CHECK_PROBLEM(base + "65}", "postgres.pool_size", "out of range");
  CHECK_PROBLEM(base + "four}", "postgres.pool_size", "expected an integer from 1 to 64, found \"four\"");
  CHECK_PROBLEM(base + "1.5}", "postgres.pool_size", "found \"1.5\"");
  CHECK_PROBLEM(base + "99999999999999999999}", "postgres.pool_size", "out of range");
  CHECK_PROBLEM(with_sections("batch: {max_rows: 0}"), "batch.max_rows", "out of range");
  CHECK_PROBLEM(with_sections("batch: {max_rows: -5}"), "batch.max_rows", "out of range");
  CHECK(parse(base + "64}").postgres.pool_size == 64);
}

TEST_CASE("booleans are written true or false") {
  CHECK_PROBLEM(with_sink_extra("create_table: yes"), "sinks[0].create_table", "expected true or false, found \"yes\"");
  CHECK_PROBLEM(with_columns("id: {path: /id, type: bigint, nullable: 1}"), "sinks[0].columns.id.nullable",
                "expected true or false");
  CHECK(parse(with_sink_extra("create_table: true")).sinks[0].create_table);
}

TEST_CASE("batch.max_bytes accepts a byte count or a size with a unit") {
  const std::vector<std::pair<std::string, size_t>> sizes{
      {"1", 1},
      {"4096", 4096},
      {"100B", 100},
      {"512KiB", 512u * 1024},
      {"16MiB", 16u * 1024 * 1024},
      {"16 MiB", 16u * 1024 * 1024},
      {"1GiB", 1024u * 1024 * 1024},
      {"2KB", 2000},
      {"100MB", 100u * 1000 * 1000},
      {"1GB", 1000000000u},
  };
  for (const auto& [text, bytes] : sizes) {
    CAPTURE(text);
    CHECK(parse(with_sections("batch: {max_bytes: \"" + text + "\"}")).batch.max_bytes == bytes);
  }
  for (const std::string bad : {"0", "16mb", "1.5MiB", "MiB", "-1", "16 MiB extra", "99999999999GiB"}) {
    CAPTURE(bad);
    const auto problems = problems_in(with_sections("batch: {max_bytes: \"" + bad + "\"}"));
    INFO(describe(problems));
    CHECK(problems.size() == 1);
    CHECK(problems[0].path == "batch.max_bytes");
  }
  CHECK_PROBLEM(with_sections("batch: {max_bytes: 16mb}"), "batch.max_bytes",
                "expected a number of bytes or a size like 512KiB");
}

TEST_CASE("batch.max_bytes is capped at 1GiB and errors.max_record_bytes at 256MiB, each with a clear problem") {
  CHECK(parse(with_sections("batch: {max_bytes: 1GiB}")).batch.max_bytes == kps::kMaxBatchBytesLimit);
  CHECK(parse(with_sections("errors: {max_record_bytes: 256MiB}")).errors.max_record_bytes == kps::kMaxRecordBytesLimit);
  for (const std::string over : {"1073741825", "3GB", "2GiB"}) {
    CAPTURE(over);
    CHECK_PROBLEM(with_sections("batch: {max_bytes: \"" + over + "\"}"), "batch.max_bytes", "at most 1GiB (1073741824)");
  }
  for (const std::string over : {"268435457", "1GiB"}) {
    CAPTURE(over);
    CHECK_PROBLEM(with_sections("errors: {max_record_bytes: \"" + over + "\"}"), "errors.max_record_bytes",
                  "at most 256MiB (268435456)");
  }
}

TEST_CASE("durations accept milliseconds or a number with a unit") {
  const std::vector<std::pair<std::string, std::chrono::milliseconds>> durations{
      {"0", 0ms},       {"250", 250ms},     {"250ms", 250ms},    {"2s", 2000ms},
      {"1m", 60000ms},  {"1h", 3600000ms},  {"1d", 86400000ms},
  };
  for (const auto& [text, expected] : durations) {
    CAPTURE(text);
    CHECK(parse(with_sections("batch: {max_latency_ms: \"" + text + "\"}")).batch.max_latency == expected);
  }
  CHECK(parse(with_sections("shutdown_timeout_ms: 5s")).shutdown_timeout == 5000ms);
  CHECK(parse(with_sections("log: {progress_interval_ms: 0}")).log.progress_interval == 0ms);

  CHECK_PROBLEM(with_sections("batch: {max_latency_ms: 5min}"), "batch.max_latency_ms",
                "expected an integer number of milliseconds or a duration like 250ms, 30s, 5m, 24h or 7d, found "
                "\"5min\"");
  CHECK_PROBLEM(with_sections("batch: {max_latency_ms: -1}"), "batch.max_latency_ms", "expected an integer");
  CHECK_PROBLEM(with_sections("batch: {max_latency_ms: 1.5s}"), "batch.max_latency_ms", "found \"1.5s\"");
  CHECK_PROBLEM(with_sections("shutdown_timeout_ms: 0"), "shutdown_timeout_ms", "must be greater than zero");
  CHECK_PROBLEM(with_sections("shutdown_timeout_ms: 999999999999999d"), "shutdown_timeout_ms", "expected");
}

TEST_CASE("retry backoff and give-up times have defaults and must be ordered") {
  const Config defaults = parse(with_sections(""));
  CHECK(defaults.retry.initial_backoff == 100ms);
  CHECK(defaults.retry.max_backoff == 30000ms);
  CHECK(defaults.retry.give_up_after == 600000ms);
  const Config set = parse(with_sections("retry: {initial_backoff_ms: 50, max_backoff_ms: 2s, give_up_after_ms: 0}"));
  CHECK(set.retry.initial_backoff == 50ms);
  CHECK(set.retry.max_backoff == 2000ms);
  CHECK(set.retry.give_up_after == 0ms);
  CHECK_PROBLEM(with_sections("retry: {initial_backoff_ms: 5s, max_backoff_ms: 1s}"), "retry.max_backoff_ms",
                "must not be smaller");
  CHECK_PROBLEM(with_sections("retry: {initial_backoff_ms: 0}"), "retry.initial_backoff_ms", "greater than zero");
  CHECK_PROBLEM(with_sections("retry: {backoff: 1}"), "retry.backoff", "unknown key");
}

TEST_CASE("postgres statement and lock timeouts and the stuck-write threshold have defaults, 0 turns a timeout off") {
  const Config defaults = parse(with_sections(""));
  CHECK(defaults.postgres.statement_timeout == 300000ms);
  CHECK(defaults.postgres.lock_timeout == 30000ms);
  CHECK(defaults.postgres.write_stuck_after == 30000ms);
  const Config set = parse(
      "kafka: {bootstrap_servers: 'b:9092'}\n"
      "postgres: {dsn: 'host=db', statement_timeout_ms: 2m, lock_timeout_ms: 0, write_stuck_after_ms: 1500}\n"
      "sinks:\n  - {topic: events, table: events, " + std::string(kColumns) + "}\n");
  CHECK(set.postgres.statement_timeout == 120000ms);
  CHECK(set.postgres.lock_timeout == 0ms);
  CHECK(set.postgres.write_stuck_after == 1500ms);
  const auto with_postgres = [](const std::string& keys) {
    return "kafka: {bootstrap_servers: 'b:9092'}\npostgres: {dsn: 'host=db', " + keys +
           "}\nsinks:\n  - {topic: events, table: events, " + std::string(kColumns) + "}\n";
  };
  CHECK_PROBLEM(with_postgres("write_stuck_after_ms: 0"), "postgres.write_stuck_after_ms", "greater than zero");
  CHECK_PROBLEM(with_postgres("lock_timeout_ms: -5"), "postgres.lock_timeout_ms", "expected");
  CHECK_PROBLEM(with_postgres("statement_timeout_ms: 30d"), "postgres.statement_timeout_ms", "at most 2147483647");
  CHECK_PROBLEM(with_postgres("statement_timeout_ms: soon"), "postgres.statement_timeout_ms", "duration");
}

TEST_CASE("dedup ttl takes a duration with a unit, greater than zero, in whole seconds") {
  const std::vector<std::pair<std::string, std::chrono::seconds>> ttls{
      {"24h", 24h}, {"30m", 30min}, {"7d", 7 * 24h}, {"3600s", 3600s}, {"2000ms", 2s},
  };
  for (const auto& [text, expected] : ttls) {
    CAPTURE(text);
    const Config config = parse(with_sink_extra("dedup: {fields: [/id], ttl: " + text + "}"));
    CHECK(config.sinks[0].dedup->ttl == expected);
  }
  CHECK_PROBLEM(with_sink_extra("dedup: {fields: [/id], ttl: 3600}"), "sinks[0].dedup.ttl",
                "expected a duration like 250ms, 30s, 5m, 24h or 7d");
  CHECK_PROBLEM(with_sink_extra("dedup: {fields: [/id], ttl: 0s}"), "sinks[0].dedup.ttl",
                "must be greater than zero");
  CHECK_PROBLEM(with_sink_extra("dedup: {fields: [/id], ttl: 1500ms}"), "sinks[0].dedup.ttl",
                "whole number of seconds");
}

TEST_CASE("dedup fields are a non-empty list of JSON pointers") {
  CHECK_PROBLEM(with_sink_extra("dedup: {ttl: 1h}"), "sinks[0].dedup.fields", "is required");
  CHECK_PROBLEM(with_sink_extra("dedup: {fields: []}"), "sinks[0].dedup.fields", "at least one JSON pointer");
  CHECK_PROBLEM(with_sink_extra("dedup: {fields: [/ok, event_id]}"), "sinks[0].dedup.fields[1]",
                "must start with \"/\"");
  CHECK_PROBLEM(with_sink_extra("dedup: {fields: [/a~2b]}"), "sinks[0].dedup.fields[0]", "invalid escape");
  CHECK_PROBLEM(with_sink_extra("dedup: {fields: [/id], extra: 1}"), "sinks[0].dedup.extra", "unknown key");
}

TEST_CASE("errors.dead_letter_topic is required when tolerance is all") {
  CHECK_PROBLEM(with_sections("errors: {tolerance: all}"), "errors.dead_letter_topic",
                "is required when errors.tolerance is all");
  CHECK_PROBLEM(with_sections("errors: {tolerance: all, dead_letter_topic: \"\"}"), "errors.dead_letter_topic",
                "is required");
  CHECK_PROBLEM(with_sections("errors: {tolerance: some}"), "errors.tolerance",
                "expected none or all, found \"some\"");
  CHECK_PROBLEM(with_sections("errors: {dead_letter_topic: \"bad topic\"}"), "errors.dead_letter_topic",
                "is not a valid Kafka topic name");
  // With tolerance none the topic is simply unused.
  CHECK(parse(with_sections("errors: {dead_letter_topic: dlq}")).errors.dead_letter_topic == "dlq");
}

TEST_CASE("errors.max_record_bytes and the circuit breaker have defaults and are checked") {
  const Config defaults = parse(with_sections(""));
  CHECK(defaults.errors.max_record_bytes == 8 * 1024 * 1024);
  CHECK(defaults.errors.circuit_breaker.window_records == 1000);
  CHECK(defaults.errors.circuit_breaker.max_bad_share == 0.5);
  const Config set = parse(with_sections(
      "errors: {max_record_bytes: 1MiB, circuit_breaker: {window_records: 200, max_bad_share: 0.25}}"));
  CHECK(set.errors.max_record_bytes == 1024 * 1024);
  CHECK(set.errors.circuit_breaker.window_records == 200);
  CHECK(set.errors.circuit_breaker.max_bad_share == 0.25);
  CHECK(parse(with_sections("errors: {circuit_breaker: {max_bad_share: 1}}")).errors.circuit_breaker.max_bad_share == 1.0);
  CHECK_PROBLEM(with_sections("errors: {max_record_bytes: lots}"), "errors.max_record_bytes", "expected a number of bytes");
  CHECK_PROBLEM(with_sections("errors: {circuit_breaker: {max_bad_share: 0}}"), "errors.circuit_breaker.max_bad_share",
                "greater than 0 and at most 1");
  CHECK_PROBLEM(with_sections("errors: {circuit_breaker: {max_bad_share: 1.5}}"), "errors.circuit_breaker.max_bad_share",
                "greater than 0 and at most 1");
  CHECK_PROBLEM(with_sections("errors: {circuit_breaker: {window_records: 0}}"),
                "errors.circuit_breaker.window_records", "out of range");
  CHECK_PROBLEM(with_sections("errors: {circuit_breaker: {window: 10}}"), "errors.circuit_breaker.window", "unknown key");
}

TEST_CASE("http.listen takes host:port, or an empty string to disable the server") {
  CHECK(parse(with_sections("http: {listen: \"\"}")).http.listen.empty());
  CHECK(parse(with_sections("http: {listen: \"[::1]:9100\"}")).http.listen == "[::1]:9100");
  CHECK(parse(with_sections("http: {listen: \"localhost:1\"}")).http.listen == "localhost:1");
  CHECK_PROBLEM(with_sections("http: {listen: \"8080\"}"), "http.listen", "expected host:port");
  CHECK_PROBLEM(with_sections("http: {listen: \":8080\"}"), "http.listen", "expected host:port");
  CHECK_PROBLEM(with_sections("http: {listen: \"::1:8080\"}"), "http.listen", "IPv6 address in brackets");
  CHECK_PROBLEM(with_sections("http: {listen: \"host:0\"}"), "http.listen", "invalid port");
  CHECK_PROBLEM(with_sections("http: {listen: \"host:65536\"}"), "http.listen", "invalid port");
  CHECK_PROBLEM(with_sections("http: {listen: \"host:http\"}"), "http.listen", "invalid port");
}

TEST_CASE("log level and format are checked against their allowed values") {
  CHECK(parse(with_sections("log: {level: warn}")).log.level == kps::LogLevel::Warn);
  CHECK(parse(with_sections("log: {level: error}")).log.level == kps::LogLevel::Error);
  CHECK_PROBLEM(with_sections("log: {level: verbose}"), "log.level",
                "expected debug, info, warn or error, found \"verbose\"");
  CHECK_PROBLEM(with_sections("log: {level: warning}"), "log.level", "(did you mean \"warn\"?)");
  CHECK_PROBLEM(with_sections("log: {format: xml}"), "log.format", "expected text or json");
}

TEST_CASE("kafka properties that the daemon manages cannot be set") {
  const std::string head = "postgres: {dsn: x}\nsinks: [{topic: t, table: t, " + std::string(kColumns) + "}]\n";
  CHECK_PROBLEM(head + "kafka: {bootstrap_servers: b, properties: {group.id: g}}", "kafka.properties.group.id",
                "set kafka.group_id instead");
  CHECK_PROBLEM(head + "kafka: {bootstrap_servers: b, properties: {bootstrap.servers: g}}",
                "kafka.properties.bootstrap.servers", "set kafka.bootstrap_servers instead");
  CHECK_PROBLEM(head + "kafka: {bootstrap_servers: b, properties: {enable.auto.commit: true}}",
                "kafka.properties.enable.auto.commit", "commits offsets itself");
  CHECK_PROBLEM(head + "kafka: {bootstrap_servers: b, properties: {enable.auto.offset.store: true}}",
                "kafka.properties.enable.auto.offset.store", "stores offsets itself");
  CHECK_PROBLEM(head + "kafka: {bootstrap_servers: b, properties: {enable.partition.eof: true}}",
                "kafka.properties.enable.partition.eof", "kafka-pg-sink sets it itself");
  CHECK_PROBLEM(head + "kafka: {bootstrap_servers: b, properties: {ssl.ca.location: [a]}}",
                "kafka.properties.ssl.ca.location", "expected a single value");
}

TEST_CASE("postgres.offsets_table may be schema-qualified and must be a valid name") {
  const std::string head = "kafka: {bootstrap_servers: b}\nsinks: [{topic: t, table: t, " + std::string(kColumns) +
                           "}]\npostgres: {dsn: x, offsets_table: ";
  CHECK(parse(head + "ops.offsets}").postgres.offsets_table == QualifiedName{"ops", "offsets"});
  CHECK_PROBLEM(head + "a.b.c}", "postgres.offsets_table", "expected name or schema.name with one dot");
  CHECK_PROBLEM(head + "\"\"}", "postgres.offsets_table", "must not be empty");
}

TEST_CASE("a sink needs exactly one of topic and topic_pattern") {
  CHECK_PROBLEM(with_sink(std::string("table: t, ") + kColumns), "sinks[0]", "needs a topic or a topic_pattern");
  CHECK_PROBLEM(with_sink(std::string("topic: a, topic_pattern: b, table: t, ") + kColumns), "sinks[0]",
                "sets both topic and topic_pattern");
  CHECK_PROBLEM(with_sink(std::string("topic: \"a b\", table: t, ") + kColumns), "sinks[0].topic",
                "is not a valid Kafka topic name: \"a b\" contains \" \"");
  CHECK_PROBLEM(with_sink(std::string("topic: \"\", table: t, ") + kColumns), "sinks[0].topic", "must not be empty");
}

TEST_CASE("topic_pattern must be a valid ECMAScript regular expression") {
  CHECK_PROBLEM(with_sink(std::string("topic_pattern: \"events(\", table: t, ") + kColumns), "sinks[0].topic_pattern",
                "is not a valid ECMAScript regular expression");
  CHECK_PROBLEM(with_sink(std::string("topic_pattern: \"\", table: t, ") + kColumns), "sinks[0].topic_pattern",
                "must not be empty");
}

TEST_CASE("a table is name or schema.name, each part a valid identifier") {
  const auto table = [](const std::string& name) {
    return with_sink("topic: events, table: " + name + ", " + kColumns);
  };
  CHECK(parse(table("events")).sinks[0].table == QualifiedName{"", "events"});
  CHECK(parse(table("'My Schema.Odd \"Name\"'")).sinks[0].table == QualifiedName{"My Schema", "Odd \"Name\""});
  CHECK(parse(table(std::string(63, 'x'))).sinks[0].table.name.size() == 63);
  CHECK_PROBLEM(table("a.b.c"), "sinks[0].table", "with one dot");
  CHECK_PROBLEM(table(".events"), "sinks[0].table", "has a schema that must not be empty");
  CHECK_PROBLEM(table("public."), "sinks[0].table", "has a table name that must not be empty");
  CHECK_PROBLEM(table(std::string(64, 'x')), "sinks[0].table",
                "is 64 bytes long; PostgreSQL identifiers are at most 63");
  CHECK_PROBLEM(table("\"bad\\tname\""), "sinks[0].table", "must not contain control characters");
  CHECK_PROBLEM(with_sink(std::string("topic: events, ") + kColumns), "sinks[0].table", "is required");
}

TEST_CASE("mode is insert, upsert or insert_ignore") {
  CHECK_PROBLEM(with_sink_extra("mode: merge"), "sinks[0].mode",
                "expected insert, upsert or insert_ignore, found \"merge\"");
  CHECK_PROBLEM(with_sink_extra("mode: upsret"), "sinks[0].mode", "(did you mean \"upsert\"?)");
}

TEST_CASE("upsert and insert_ignore need a primary key") {
  CHECK_PROBLEM(with_sink_extra("mode: upsert"), "sinks[0].primary_key", "is required when mode is upsert");
  CHECK_PROBLEM(with_sink_extra("mode: insert_ignore, primary_key: []"), "sinks[0].primary_key",
                "is required when mode is insert_ignore");
  // Insert mode may still name a key (for create_table); it is not required.
  const Config config = parse(with_sink_extra("primary_key: [id]"));
  CHECK(config.sinks[0].primary_key_columns == std::vector<size_t>{0});
}

TEST_CASE("primary key columns must exist, be listed once and not be nullable") {
  CHECK_PROBLEM(with_sink_extra("mode: upsert, primary_key: [idd]"), "sinks[0].primary_key[0]",
                "\"idd\" is not one of this sink's columns (did you mean \"id\"?)");
  CHECK_PROBLEM(with_sink_extra("mode: upsert, primary_key: [id, ts, id]"), "sinks[0].primary_key[2]",
                "lists column \"id\" twice");
  CHECK_PROBLEM(with_sink_extra("mode: upsert, primary_key: [id, body]"), "sinks[0].primary_key[1]",
                "column \"body\" is nullable; a primary key column must not be");
  CHECK_PROBLEM(with_columns("doc: {path: /doc, type: json}", "mode: upsert, primary_key: [doc]"),
                "sinks[0].primary_key[0]", "has type json");
  CHECK_PROBLEM(with_sink_extra("mode: upsert, primary_key: [\"\"]"), "sinks[0].primary_key[0]", "must not be empty");
}

TEST_CASE("upsert_when_newer names an ordered, non-nullable, non-key column of an upsert sink") {
  const Config config = parse(with_sink_extra("mode: upsert, primary_key: [id], upsert_when_newer: ts"));
  CHECK(config.sinks[0].newer_column == std::optional<size_t>(1));

  CHECK_PROBLEM(with_sink_extra("mode: insert_ignore, primary_key: [id], upsert_when_newer: ts"),
                "sinks[0].upsert_when_newer", "is only allowed with mode upsert (mode is insert_ignore)");
  CHECK_PROBLEM(with_sink_extra("upsert_when_newer: ts"), "sinks[0].upsert_when_newer",
                "is only allowed with mode upsert (mode is insert)");
  CHECK_PROBLEM(with_sink_extra("mode: upsert, primary_key: [id], upsert_when_newer: tss"),
                "sinks[0].upsert_when_newer", "\"tss\" is not one of this sink's columns (did you mean \"ts\"?)");
  CHECK_PROBLEM(with_sink_extra("mode: upsert, primary_key: [id], upsert_when_newer: id"),
                "sinks[0].upsert_when_newer", "is part of the primary key");
  CHECK_PROBLEM(with_columns("id: {path: /id, type: bigint}, v: {path: /v, type: integer, nullable: true}",
                             "mode: upsert, primary_key: [id], upsert_when_newer: v"),
                "sinks[0].upsert_when_newer", "column \"v\" is nullable");
  CHECK_PROBLEM(with_sink_extra("mode: upsert, primary_key: [id], upsert_when_newer: body"),
                "sinks[0].upsert_when_newer", "has type jsonb, which cannot be compared");
  for (const std::string type : {"smallint", "integer", "bigint", "real", "double", "numeric", "date", "timestamp",
                                 "timestamptz"}) {
    CAPTURE(type);
    CHECK_NOTHROW(parse(with_columns("id: {path: /id, type: bigint}, v: {path: /v, type: " + type + "}",
                                     "mode: upsert, primary_key: [id], upsert_when_newer: v")));
  }
  for (const std::string type : {"boolean", "text", "uuid", "json", "bytea"}) {
    CAPTURE(type);
    CHECK_PROBLEM(with_columns("id: {path: /id, type: bigint}, v: {path: /v, type: " + type + "}",
                               "mode: upsert, primary_key: [id], upsert_when_newer: v"),
                  "sinks[0].upsert_when_newer", "which cannot be compared");
  }
}

TEST_CASE("delete_on_tombstone is refused in insert mode, which is append-only") {
  CHECK_PROBLEM(with_sink_extra("delete_on_tombstone: true"), "sinks[0].delete_on_tombstone",
                "cannot be used with mode insert, which is append-only");
  CHECK(parse(with_sink_extra("mode: insert_ignore, primary_key: [id], delete_on_tombstone: true"))
            .sinks[0]
            .delete_on_tombstone);
  CHECK_PROBLEM(with_sink_extra("mode: upsert, delete_on_tombstone: true"), "sinks[0].primary_key",
                "is required when mode is upsert");
}

TEST_CASE("columns, when written, are a non-empty map of valid column names") {
  CHECK_PROBLEM(with_columns(""), "sinks[0].columns", "must map at least one column");
  CHECK_PROBLEM(with_columns(std::string(64, 'c') + ": {path: /c, type: text}"),
                "sinks[0].columns." + std::string(64, 'c'), "is not a valid column name: it is 64 bytes long");
  CHECK_PROBLEM(with_columns("id: {path: /id}"), "sinks[0].columns.id.type", "is required");
  CHECK_PROBLEM(with_columns("id: {type: text}"), "sinks[0].columns.id.path", "is required");
  CHECK_PROBLEM(with_columns("ts: {path: /ts, type: timestamp_tz}"), "sinks[0].columns.ts.type",
                "found \"timestamp_tz\" (did you mean \"timestamptz\"?)");
  // Names are quoted in SQL, so spaces, capitals and quotes are kept as written.
  const Config config = parse(with_columns("\"Odd \\\"Name\\\"\": {path: /x, type: text}"));
  CHECK(config.sinks[0].columns[0].name == "Odd \"Name\"");
}

TEST_CASE("a column path is a JSON pointer or a metadata name") {
  const auto path = [](const std::string& text) {
    return with_columns("c: {path: \"" + text + "\", type: text}");
  };
  CHECK(parse(path("/a~1b/~0c/0")).sinks[0].columns[0].source ==
        ColumnSource{ColumnSource::Kind::JsonPointer, "/a~1b/~0c/0"});
  CHECK(parse(path("/")).sinks[0].columns[0].source == ColumnSource{ColumnSource::Kind::JsonPointer, "/"});
  CHECK(parse(path("@header:trace-id")).sinks[0].columns[0].source ==
        ColumnSource{ColumnSource::Kind::Header, "trace-id"});
  CHECK_PROBLEM(path("id"), "sinks[0].columns.c.path", "expected a JSON pointer starting with \"/\"");
  CHECK_PROBLEM(path(""), "sinks[0].columns.c.path", "expected a JSON pointer");
  CHECK_PROBLEM(path("/a~"), "sinks[0].columns.c.path", "invalid escape");
  CHECK_PROBLEM(path("/a~2"), "sinks[0].columns.c.path", "invalid escape");
  CHECK_PROBLEM(path("@value"), "sinks[0].columns.c.path", "one of @key, @topic, @partition");
  CHECK_PROBLEM(path("@header:"), "sinks[0].columns.c.path", "names no header");
}

TEST_CASE("a metadata column needs a type that can hold it") {
  const auto column = [](const std::string& source, const std::string& type) {
    return with_columns("c: {path: \"" + source + "\", type: " + type + "}");
  };
  const std::vector<std::pair<std::string, std::vector<std::string>>> allowed{
      {"@topic", {"text"}},
      {"@partition", {"smallint", "integer", "bigint", "numeric", "text"}},
      {"@offset", {"bigint", "numeric", "text"}},
      {"@timestamp", {"timestamptz", "timestamp", "bigint"}},
  };
  const std::vector<std::string> all_types{"smallint", "integer", "bigint", "real", "double",
                                           "numeric", "boolean", "text", "uuid", "date",
                                           "timestamp", "timestamptz", "json", "jsonb", "bytea"};
  for (const auto& [source, types] : allowed) {
    for (const std::string& type : all_types) {
      CAPTURE(source, type);
      if (std::find(types.begin(), types.end(), type) != types.end()) {
        CHECK_NOTHROW(parse(column(source, type)));
      } else {
        CHECK_PROBLEM(column(source, type), "sinks[0].columns.c.type", "cannot hold " + source + " as " + type);
      }
    }
  }
  for (const std::string& type : all_types) {
    CAPTURE(type);
    CHECK_NOTHROW(parse(column("@key", type)));
    CHECK_NOTHROW(parse(column("@header:h", type)));
  }
}

TEST_CASE("sinks may not share a topic or a table") {
  const auto problems = problems_in(R"(
kafka: {bootstrap_servers: b}
postgres: {dsn: x}
errors: {tolerance: all, dead_letter_topic: events.dlq}
sinks:
  - {topic: events, table: events, columns: {id: {path: /id, type: bigint}}}
  - {topic: events, table: other, columns: {id: {path: /id, type: bigint}}}
  - {topic: orders, table: events, columns: {id: {path: /id, type: bigint}}}
  - {topic_pattern: "^ev.*", table: pattern_table, columns: {id: {path: /id, type: bigint}}}
  - {topic: audit, table: kafka_pg_sink_offsets, columns: {id: {path: /id, type: bigint}}}
)");
  INFO(describe(problems));
  CHECK(has_problem(problems, "sinks[1].topic",
                    "topic \"events\" is already consumed by sinks[0]; one sink per topic"));
  CHECK(has_problem(problems, "sinks[2].table", "table \"events\" is already written by sinks[0]; one sink per table"));
  CHECK(has_problem(problems, "sinks[3].topic_pattern", "also matches topic \"events\" of sinks[0]"));
  CHECK(has_problem(problems, "sinks[4].table", "is the offsets table"));
  CHECK(has_problem(problems, "errors.dead_letter_topic", "is consumed by sinks[3]"));
  CHECK(problems.size() == 6);  // the pattern also matches sinks[1]'s topic
}

TEST_CASE("column types have a config spelling and a SQL spelling") {
  const std::vector<std::tuple<ColumnType, std::string, std::string>> types{
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
  };
  for (const auto& [type, name, sql] : types) {
    CAPTURE(name);
    CHECK(kps::column_type_name(type) == name);
    CHECK(kps::column_type_sql(type) == sql);
    CHECK(parse(with_columns("c: {path: /c, type: " + name + "}")).sinks[0].columns[0].type == type);
  }
}

TEST_CASE("redact_dsn hides passwords in keyword/value DSNs") {
  CHECK(kps::redact_dsn("host=db password=secret user=sink") == "host=db password=*** user=sink");
  CHECK(kps::redact_dsn("password=secret") == "password=***");
  CHECK(kps::redact_dsn("host=db password = 'se cr\\'et' dbname=app") == "host=db password = *** dbname=app");
  CHECK(kps::redact_dsn("host=db password=a\\ b port=5432") == "host=db password=*** port=5432");
  CHECK(kps::redact_dsn("host=db sslpassword=keypass") == "host=db sslpassword=***");
  CHECK(kps::redact_dsn("host=db PASSWORD=secret") == "host=db PASSWORD=***");
  CHECK(kps::redact_dsn("host=db application_name='my app' user=x") == "host=db application_name='my app' user=x");
  CHECK(kps::redact_dsn("host=db password='unterminated secret") == "host=db password=***");
  CHECK(kps::redact_dsn("host=db password") == "host=db password***");
  CHECK(kps::redact_dsn("host=db garbage password secret") == "host=db garbage ***");
  CHECK(kps::redact_dsn("") == "");
}

TEST_CASE("redact_dsn hides passwords in URIs") {
  CHECK(kps::redact_dsn("postgresql://user:secret@host/db") == "postgresql://user:***@host/db");
  CHECK(kps::redact_dsn("postgres://user:secret@host:5432/db?sslmode=require") ==
        "postgres://user:***@host:5432/db?sslmode=require");
  CHECK(kps::redact_dsn("postgresql://user@host/db") == "postgresql://user@host/db");
  CHECK(kps::redact_dsn("postgresql://host:5432/db") == "postgresql://host:5432/db");
  CHECK(kps::redact_dsn("postgresql://host/db?user=u&password=secret&sslmode=require") ==
        "postgresql://host/db?user=u&password=***&sslmode=require");
  CHECK(kps::redact_dsn("postgresql://user:p@ss/w@host/db") == "postgresql://user:***@host/db");
  CHECK(kps::redact_dsn("PostgreSQL://user:secret@host") == "PostgreSQL://user:***@host");
}

TEST_CASE("a problem message never contains a secret from the DSN or kafka properties") {
  const std::string sentinel = "SENTINEL-PASSWORD-8f3a";
  const EnvLookup env = env_from({{"PG_PASSWORD", sentinel}, {"KAFKA_PASSWORD", sentinel}});
  const std::vector<std::string> documents{
      // A malformed reference in a secret value, next to the secret itself.
      "kafka:\n  bootstrap_servers: b\n  properties:\n    sasl.password: \"" + sentinel + "${oops\"\n"
      "postgres: {dsn: \"host=db password=" + sentinel + " ${bad name}\"}\n"
      "sinks: [{topic: t, table: t, columns: {id: {path: /id, type: bigint}}}]\n",
      // Secrets from the environment, with problems elsewhere.
      "kafka:\n  bootstrap_servers: b\n  properties:\n    sasl.password: \"${KAFKA_PASSWORD}\"\n"
      "    group.id: \"" + sentinel + "\"\n"
      "postgres: {dsn: \"password=${PG_PASSWORD} ${MISSING}\", pool_size: 0}\n"
      "sinks: [{topic: t, table: t, columns: {id: {path: id, type: bigint}}}]\n",
      "kafka:\n  bootstrap_servers: b\n  properties:\n    sasl.password: \"" + sentinel + "${\"\n"
      "postgres: {dsn: \"" + sentinel + "${\"}\n"
      "sinks: [{topic: t, table: t, columns: {id: {path: /id, type: bigint}}}]\n",
  };
  for (const std::string& document : documents) {
    try {
      kps::parse_config(document, env);
      FAIL("expected a ConfigError");
    } catch (const ConfigError& error) {
      INFO(describe(error.problems()));
      CHECK(error.problems().size() >= 2);
      CHECK(std::string(error.what()).find(sentinel) == std::string::npos);
      for (const ConfigProblem& problem : error.problems()) {
        CHECK(problem.message.find(sentinel) == std::string::npos);
        CHECK(problem.message.find("SENTINEL") == std::string::npos);
      }
    }
  }
}

TEST_CASE("quote_identifier wraps in double quotes and doubles embedded ones") {
  CHECK(kps::quote_identifier("events") == "\"events\"");
  CHECK(kps::quote_identifier("Odd \"Name\"") == "\"Odd \"\"Name\"\"\"");
  CHECK(kps::quote_identifier("") == "\"\"");
  CHECK(kps::quote_qualified_name(QualifiedName{"", "events"}) == "\"events\"");
  CHECK(kps::quote_qualified_name(QualifiedName{"my\"schema", "t"}) == "\"my\"\"schema\".\"t\"");
}

TEST_CASE("sink_matches_topic matches an exact topic or the whole name against the pattern") {
  kps::SinkConfig exact;
  exact.topic = "events";
  CHECK(kps::sink_matches_topic(exact, "events"));
  CHECK_FALSE(kps::sink_matches_topic(exact, "events2"));

  kps::SinkConfig pattern;
  pattern.topic_pattern = "events\\..*";
  CHECK(kps::sink_matches_topic(pattern, "events.eu"));
  CHECK_FALSE(kps::sink_matches_topic(pattern, "events"));
  CHECK_FALSE(kps::sink_matches_topic(pattern, "old.events.eu"));  // a full match, not a search
}

TEST_CASE("load_config_file names a file it cannot read") {
  try {
    kps::load_config_file("/nonexistent/kafka-pg-sink.yaml", no_env());
    FAIL("expected a ConfigError");
  } catch (const ConfigError& error) {
    REQUIRE(error.problems().size() == 1);
    CHECK(error.problems()[0].path.empty());
    CHECK(error.problems()[0].message ==
          "cannot read config file \"/nonexistent/kafka-pg-sink.yaml\": No such file or directory");
  }
}

TEST_CASE("process_environment reads the real environment") {
  ::setenv("KPS_CONFIG_TEST_VARIABLE", "value", 1);
  ::unsetenv("KPS_CONFIG_TEST_UNSET");
  const EnvLookup env = kps::process_environment();
  CHECK(env("KPS_CONFIG_TEST_VARIABLE") == std::optional<std::string>("value"));
  CHECK_FALSE(env("KPS_CONFIG_TEST_UNSET").has_value());
}

TEST_CASE("the example and quickstart configs in the repository are valid") {
  const std::string source_dir = KPS_SOURCE_DIR;

  const Config example = kps::load_config_file(source_dir + "/config/example.yaml",
                                               env_from({{"KAFKA_USER", "u"}, {"KAFKA_PASSWORD", "p"}}));
  CHECK(example.kafka.bootstrap_servers == "broker-1:9092,broker-2:9092");
  CHECK(example.kafka.properties.size() == 4);
  CHECK(example.batch.max_bytes == 16777216);
  REQUIRE(example.sinks.size() == 1);
  CHECK(example.sinks[0].table == QualifiedName{"public", "events"});
  CHECK(example.sinks[0].newer_column == std::optional<size_t>(2));
  CHECK(example.sinks[0].columns.size() == 5);

  const Config quickstart = kps::load_config_file(
      source_dir + "/config/quickstart.yaml",
      env_from({{"KAFKA_BOOTSTRAP", "127.0.0.1:9092"},
                {"PG_DSN", "host=/tmp dbname=postgres"},
                {"HTTP_PORT", "18080"}}));
  CHECK(quickstart.kafka.bootstrap_servers == "127.0.0.1:9092");
  CHECK(quickstart.kafka.group_id == "kafka-pg-sink-quickstart");
  CHECK(quickstart.postgres.dsn == "host=/tmp dbname=postgres");
  CHECK(quickstart.state.dir == "/tmp/kafka-pg-sink-quickstart");
  CHECK(quickstart.http.listen == "127.0.0.1:18080");
  REQUIRE(quickstart.sinks.size() == 1);
  const kps::SinkConfig& sink = quickstart.sinks[0];
  CHECK(sink.topic == "events");
  CHECK(sink.mode == WriteMode::Upsert);
  CHECK(sink.create_table);
  CHECK(sink.primary_key_columns == std::vector<size_t>{0});
  REQUIRE(sink.columns.size() == 6);
  CHECK(sink.columns[3].name == "temperature");
  CHECK(sink.columns[3].type == ColumnType::Double);
  CHECK(sink.columns[3].nullable);
  CHECK(sink.columns[5].source == ColumnSource{ColumnSource::Kind::Topic, ""});

  // Without the required variables the quickstart says which ones are missing.
  try {
    kps::load_config_file(source_dir + "/config/quickstart.yaml", no_env());
    FAIL("expected a ConfigError");
  } catch (const ConfigError& error) {
    INFO(describe(error.problems()));
    CHECK(has_problem(error.problems(), "kafka.bootstrap_servers", "KAFKA_BOOTSTRAP is not set"));
    CHECK(has_problem(error.problems(), "postgres.dsn", "PG_DSN is not set"));
    CHECK(error.problems().size() == 2);
  }
}

// ---------------------------------------------------------------------------------
// Change data capture, routing and columns by name (contract: "Change data capture").

using kps::SinkConfig;

TEST_CASE("the change data capture keys default to json, no evolution, ignored truncates and milliseconds") {
  const SinkConfig sink = parse(with_sink_extra("")).sinks[0];
  CHECK(sink.format == kps::RecordFormat::Json);
  CHECK(sink.schema_evolution == kps::SchemaEvolution::None);
  CHECK(sink.on_truncate == kps::TruncateAction::Ignore);
  CHECK(sink.timestamp_unit == kps::TimestampUnit::Millis);
  CHECK_FALSE(sink.columns_by_name);
  CHECK(sink.table_template.empty());
}

TEST_CASE("format, schema_evolution, on_truncate and timestamp_unit are read by their contract spellings") {
  const SinkConfig sink = parse(with_sink("topic_pattern: '^db\\.(.*)$', table: 'replica.{1}', format: debezium, "
                                          "schema_evolution: add_columns, on_truncate: apply, timestamp_unit: ns"))
                              .sinks[0];
  CHECK(sink.format == kps::RecordFormat::Debezium);
  CHECK(sink.schema_evolution == kps::SchemaEvolution::AddColumns);
  CHECK(sink.on_truncate == kps::TruncateAction::Apply);
  CHECK(sink.timestamp_unit == kps::TimestampUnit::Nanos);
  CHECK(parse(with_sink_extra("timestamp_unit: us")).sinks[0].timestamp_unit == kps::TimestampUnit::Micros);
  CHECK(parse(with_sink_extra("timestamp_unit: ms")).sinks[0].timestamp_unit == kps::TimestampUnit::Millis);
  CHECK(parse(with_sink_extra("format: json")).sinks[0].format == kps::RecordFormat::Json);
}

TEST_CASE("an unknown value of a change data capture key is a problem at its key listing the allowed values") {
  CHECK_PROBLEM(with_sink_extra("format: avro"), "sinks[0].format", "expected json or debezium, found \"avro\"");
  CHECK_PROBLEM(with_sink_extra("schema_evolution: drop_columns"), "sinks[0].schema_evolution",
                "found \"drop_columns\"");
  CHECK_PROBLEM(with_sink_extra("on_truncate: yes"), "sinks[0].on_truncate", "found \"yes\"");
  CHECK_PROBLEM(with_sink_extra("timestamp_unit: s"), "sinks[0].timestamp_unit", "found \"s\"");
}

TEST_CASE("a debezium sink defaults to mode upsert, microseconds and the record key as primary key") {
  const SinkConfig sink = parse(with_sink("topic: inventory.customers, table: customers, format: debezium")).sinks[0];
  CHECK(sink.mode == kps::WriteMode::Upsert);
  CHECK(sink.timestamp_unit == kps::TimestampUnit::Micros);
  CHECK(sink.primary_key.empty());
  CHECK(sink.columns_by_name);
  CHECK(parse(with_sink("topic: t, table: t, format: debezium, mode: upsert")).sinks[0].mode == kps::WriteMode::Upsert);
}

TEST_CASE("a debezium sink refuses mode insert and insert_ignore") {
  CHECK_PROBLEM(with_sink("topic: t, table: t, format: debezium, mode: insert"), "sinks[0].mode",
                "must be upsert with format debezium (found insert)");
  CHECK_PROBLEM(with_sink("topic: t, table: t, format: debezium, mode: insert_ignore, primary_key: [id]"),
                "sinks[0].mode", "must be upsert with format debezium (found insert_ignore)");
}

TEST_CASE("a debezium sink refuses upsert_when_newer: change events are applied in their order") {
  CHECK_PROBLEM(with_sink("topic: t, table: t, format: debezium, upsert_when_newer: ts"), "sinks[0].upsert_when_newer",
                "is not supported with format: debezium");
}

TEST_CASE("a debezium sink refuses dedup: it would otherwise be silently ignored") {
  CHECK_PROBLEM(with_sink("topic: t, table: t, format: debezium, dedup: {fields: [/id]}"), "sinks[0].dedup",
                "is not supported with format: debezium");
}

TEST_CASE("a sink whose table is a template refuses dedup: identities would be shared across its tables") {
  CHECK_PROBLEM(with_sink("topic_pattern: '^app\\.(.*)$', table: '{1}', dedup: {fields: [/id]}"), "sinks[0].dedup",
                "is not supported with a table template (\"{1}\")");
  CHECK_PROBLEM(with_sink("topic: events, table: 'raw_{topic}', dedup: {fields: [/id]}, " + std::string(kColumns)),
                "sinks[0].dedup", "is not supported with a table template");
  // One table, even by pattern, keeps dedup.
  CHECK(parse(with_sink("topic_pattern: '^app\\.(.*)$', table: app, dedup: {fields: [/id]}")).sinks[0].dedup);
}

TEST_CASE("columns may be omitted: the sink's columns are then the table's, by name") {
  const SinkConfig sink = parse(with_sink("topic: events, table: events")).sinks[0];
  CHECK(sink.columns_by_name);
  CHECK(sink.columns.empty());
  CHECK(sink.mode == kps::WriteMode::Insert);
}

TEST_CASE("an upsert sink with columns by name may omit primary_key: the table's own key is used") {
  const SinkConfig sink = parse(with_sink("topic: events, table: events, mode: upsert")).sinks[0];
  CHECK(sink.primary_key.empty());
  const SinkConfig named = parse(with_sink("topic: events, table: events, mode: upsert, primary_key: [id]")).sinks[0];
  CHECK(named.primary_key == std::vector<std::string>{"id"});
  // With explicit columns the key is still required.
  CHECK_PROBLEM(with_sink_extra("mode: upsert"), "sinks[0].primary_key", "is required when mode is upsert");
}

TEST_CASE("create_table without columns is allowed only for debezium") {
  CHECK_PROBLEM(with_sink("topic: events, table: events, create_table: true"), "sinks[0].create_table",
                "needs columns with format json");
  CHECK(parse(with_sink("topic: t, table: t, format: debezium, create_table: true")).sinks[0].create_table);
  CHECK(parse(with_sink_extra("create_table: true")).sinks[0].create_table);
}

TEST_CASE("a table with placeholders is kept as a template and no table is set") {
  const SinkConfig sink = parse(with_sink("topic_pattern: '^app\\.(.*)$', table: 'public.{1}'")).sinks[0];
  CHECK(sink.table_template == "public.{1}");
  CHECK(sink.table == kps::QualifiedName{});
  CHECK(parse(with_sink("topic: events, table: 'raw_{topic}', " + std::string(kColumns))).sinks[0].table_template ==
        "raw_{topic}");
}

TEST_CASE("two sinks with templates are not reported as writing one table") {
  const Config config = parse(
      "kafka: {bootstrap_servers: 'b:9092'}\npostgres: {dsn: 'host=db'}\nsinks:\n"
      "  - {topic_pattern: '^a\\.(.*)$', table: 'a_{1}'}\n"
      "  - {topic_pattern: '^b\\.(.*)$', table: 'b_{1}'}\n");
  CHECK(config.sinks.size() == 2);
}

TEST_CASE("a table of literal braces only names one table") {
  const SinkConfig sink = parse(with_sink("topic: events, table: 'x.{{weird}}', " + std::string(kColumns))).sinks[0];
  CHECK(sink.table_template.empty());
  CHECK(sink.table == kps::QualifiedName{"x", "{weird}"});
}

TEST_CASE("each table template error is a problem at sinks[i].table") {
  CHECK_PROBLEM(with_sink("topic_pattern: '^app\\.(.*)$', table: 'public.{2}'"), "sinks[0].table",
                "uses {2} but topic_pattern has 1 capture group");
  CHECK_PROBLEM(with_sink("topic: events, table: 'public.{1}'"), "sinks[0].table",
                "uses {1}, a capture group, but the sink names a topic, not a topic_pattern");
  CHECK_PROBLEM(with_sink("topic_pattern: '^app\\.(.*)$', table: 'public.{name}'"), "sinks[0].table",
                "unknown placeholder {name}");
  CHECK_PROBLEM(with_sink("topic_pattern: '^app\\.(.*)$', table: 'public.{1'"), "sinks[0].table",
                "unbalanced '{'");
  CHECK_PROBLEM(with_sink("topic_pattern: '^app\\.(.*)$', table: 'public.1}'"), "sinks[0].table",
                "unbalanced '}'");
  CHECK_PROBLEM(with_sink("topic_pattern: '^app\\.(.*)$', table: 'a.b.{1}'"), "sinks[0].table", "with one dot");
}
