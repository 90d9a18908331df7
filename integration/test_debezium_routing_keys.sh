#!/usr/bin/env bash
# Debezium routing and keys (format debezium, columns by name, tables routed by template):
# - a keyless source table (null record key, table without a primary key) does not stop the
#   sink: with errors.tolerance all each of its changes (create, update, delete) is a dead
#   letter with the reason "a keyless table cannot ...", while another table of the same sink
#   keeps replicating; with tolerance none the daemon stops on the first one with that reason;
# - a record key that names other fields than the table's primary key stops the daemon at
#   routing, naming topic, table and both keys;
# - a record key on a table without a primary key stops it at routing with how to fix it
#   (not a 42P10 at the first write);
# - create_table from the event schema: a first record without a row (a tombstone, a
#   truncate) does not stop the daemon (the table is created from the next record with a
#   row, the offsets still stored); a field whose type maps to no column, and one whose name
#   is over PostgreSQL's 63 bytes, are left out of the created table with a warning.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka "db.inv.items:1" "db.inv.notes:1"
psql_q "CREATE SCHEMA replica"
psql_q "CREATE TABLE replica.items (id bigint PRIMARY KEY, name text)"
psql_q "CREATE TABLE replica.notes (body text)"
psql_q "CREATE TABLE replica.parts (part_id bigint PRIMARY KEY, name text)"
psql_q "CREATE TABLE replica.logs (id bigint, line text)"

sink_config() {  # sink_config PATH TOLERANCE SCHEMA_OF_THE_TOPICS
  write_config "$1" <<YAML
batch:
  max_rows: 100
  max_latency_ms: 20
errors:
  tolerance: $2
  dead_letter_topic: dbz.dlq
sinks:
  - topic_pattern: "^db\\\\.$3\\\\.(.*)\$"
    table: "replica.{1}"
    format: debezium
YAML
  [[ "$2" == all ]] || sed -i '/dead_letter_topic/d' "$1"
}
sink_config "$TEST_DIR/all.yaml" all inv
sink_config "$TEST_DIR/none.yaml" none inv
sink_config "$TEST_DIR/parts.yaml" all parts
sink_config "$TEST_DIR/logs.yaml" all logs
sink_config "$TEST_DIR/made.yaml" all made
printf '    create_table: true\n' >>"$TEST_DIR/made.yaml"
grep -qF 'topic_pattern: "^db\\.inv\\.(.*)$"' "$TEST_DIR/all.yaml" ||
  fail "the sink's topic_pattern was not written as intended: $(grep topic_pattern "$TEST_DIR/all.yaml")"
mock_control create-topic dbz.dlq:1

# notes: a keyless table, so Debezium sends a null key (an empty key here): create, update, delete.
printf '%s\n' \
  $'\t{"before":null,"after":{"body":"one"},"op":"c"}' \
  $'\t{"before":{"body":"one"},"after":{"body":"two"},"op":"u"}' \
  $'\t{"before":{"body":"two"},"after":null,"op":"d"}' | produce db.inv.notes 0
printf '%s\n' \
  $'{"id":1}\t{"before":null,"after":{"id":1,"name":"ann"},"op":"c"}' \
  $'{"id":2}\t{"before":null,"after":{"id":2,"name":"bob"},"op":"c"}' \
  $'{"id":1}\t{"before":{"id":1,"name":"ann"},"after":{"id":1,"name":"anna"},"op":"u"}' \
  $'{"id":2}\t{"before":{"id":2,"name":"bob"},"after":null,"op":"d"}' | produce db.inv.items 0

start_daemon "$TEST_DIR/all.yaml"
wait_for "the items changes" 60 sql_equals "SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM replica.items" "1:anna"
wait_for "the notes offsets" 60 sql_equals \
  "SELECT next_offset FROM kafka_pg_sink_offsets WHERE group_id = '$KPS_GROUP' AND topic = 'db.inv.notes' AND \"partition\" = 0" 3
stop_daemon TERM 20 || fail "the daemon exited with status $? after SIGTERM"
assert_eq 0 "$(psql_q "SELECT count(*) FROM replica.notes")" "no row of the keyless table is written"
assert_eq $'0\t4' "$(stored_offsets db.inv.items)" "items: offsets stored"
assert_log_matches 'routed topic db\.inv\.notes to table "replica"\."notes"' "the keyless topic is routed"
timeout 30 kcat -C -b "$KAFKA_BOOTSTRAP" -t dbz.dlq -e -q -J >"$TEST_DIR/letters.json" ||
  fail "cannot read the dead letter topic"
letters=$(python3 - "$TEST_DIR/letters.json" <<'PYTHON'
import json, sys
for line in open(sys.argv[1]):
    letter = json.loads(line)
    raw = letter.get("headers") or []
    headers = dict(zip(raw[0::2], raw[1::2]))
    message = headers.get("__connect.errors.exception.message", "")
    print(headers.get("__connect.errors.topic", "-"), headers.get("__connect.errors.offset", "-"),
          "upserted" if "a keyless table cannot be upserted" in message else
          "delete" if "a keyless table cannot take a delete" in message else message)
PYTHON
) || fail "cannot decode the dead letters"
note "dead letters:"$'\n'"$letters"
assert_eq "db.inv.notes 0 upserted
db.inv.notes 1 upserted
db.inv.notes 2 delete" "$letters" "each change of the keyless table is a dead letter with its reason"

# Tolerance none: the next change of the keyless table stops the daemon, with that reason.
printf '%s\n' $'\t{"before":null,"after":{"body":"three"},"op":"c"}' | produce db.inv.notes 0
printf '%s\n' $'{"id":3}\t{"before":null,"after":{"id":3,"name":"cy"},"op":"c"}' | produce db.inv.items 0
status=0
run_daemon "$TEST_DIR/none.yaml" --until-caught-up || status=$?
assert_eq 1 "$status" "exit status on a keyless table's change with tolerance none"
assert_log_matches 'a keyless table cannot be upserted' "the stop names the reason"
assert_eq $'0\t3' "$(stored_offsets db.inv.notes)" "notes: no offset stored past the refused change"

# A record key that is not the table's primary key: stop at routing, naming both keys.
mock_control create-topic db.parts.parts:1
printf '%s\n' $'{"id":1}\t{"before":null,"after":{"part_id":1,"name":"bolt"},"op":"c"}' | produce db.parts.parts 0
status=0
run_daemon "$TEST_DIR/parts.yaml" --until-caught-up || status=$?
assert_eq 1 "$status" "exit status for a record key that is not the primary key"
assert_log_matches 'topic db\.parts\.parts routes to table "replica"\."parts", whose primary key \(part_id\) is not the record key \(fields id\)' \
  "the error names topic, table and both keys"
assert_eq 0 "$(psql_q "SELECT count(*) FROM replica.parts")" "nothing written to parts"

# A record key on a table without a primary key: stop at routing, saying how to fix it.
mock_control create-topic db.logs.logs:1
printf '%s\n' $'{"id":1}\t{"before":null,"after":{"id":1,"line":"x"},"op":"c"}' | produce db.logs.logs 0
status=0
run_daemon "$TEST_DIR/logs.yaml" --until-caught-up || status=$?
assert_eq 1 "$status" "exit status for a record key on a table without a primary key"
assert_log_matches 'table "replica"\."logs" has no primary key; format debezium upserts by the record key \(fields id\) of topic db\.logs\.logs: add PRIMARY KEY \(id\) or use create_table' \
  "the error says how to fix it"
assert_eq 0 "$(psql_q "SELECT count(*) FROM replica.logs")" "nothing written to logs"

# create_table from the schema, first records without a row.
long_field=$(printf 'f%.0s' {1..64})
schema='{"type":"struct","fields":[{"type":"struct","optional":true,"field":"before","fields":[]},
{"type":"struct","optional":true,"field":"after","fields":[{"type":"int64","optional":false,"field":"id"},
{"type":"string","optional":true,"field":"name"},{"type":"geometry","optional":true,"field":"geo"},
{"type":"string","optional":true,"field":"'"$long_field"'"}]},{"type":"string","optional":false,"field":"op"}]}'
schema=$(tr -d '\n' <<<"$schema")
mock_control create-topic db.made.widgets:1
{
  printf '%s\t\n' '{"id":1}'
  printf '\t{"schema":%s,"payload":{"before":null,"after":null,"op":"t"}}\n' "$schema"
  printf '{"id":1}\t{"schema":%s,"payload":{"before":null,"after":{"id":1,"name":"a","geo":"x","%s":"y"},"op":"c"}}\n' \
    "$schema" "$long_field"
  printf '{"id":1}\t{"schema":%s,"payload":{"before":null,"after":{"id":1,"name":"b","geo":"x","%s":"y"},"op":"u"}}\n' \
    "$schema" "$long_field"
} | produce db.made.widgets 0
start_daemon "$TEST_DIR/made.yaml"
wait_for "the widgets row" 60 sql_equals "SELECT string_agg(id || ':' || name, ',') FROM replica.widgets" "1:b"
wait_for "the widgets offsets" 60 sql_equals \
  "SELECT next_offset FROM kafka_pg_sink_offsets WHERE group_id = '$KPS_GROUP' AND topic = 'db.made.widgets' AND \"partition\" = 0" 4
stop_daemon TERM 20 || fail "the daemon exited with status $? after SIGTERM"
assert_eq "id bigint
name text" "$(psql_q "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
                      WHERE attrelid = 'replica.widgets'::regclass AND attnum > 0 ORDER BY attnum" | tr '\t' ' ')" \
  "the created table has the fields that map to a column"
assert_log_matches 'topic db\.made\.widgets offset 0 carries no row to create table "replica"\."widgets" from' \
  "the tombstone defers routing"
assert_log_matches 'created without a field of topic db\.made\.widgets: field "geo" has schema type "geometry", which maps to no column type' \
  "the unmappable field is named in a warning"
assert_log_matches "created without field \"$long_field\" of topic db\\.made\\.widgets: its name is longer than 63 bytes" \
  "the long field name is named in a warning"
assert_eq "" "$(grep -E ' (ERROR|error) ' "$DAEMON_LOG" || true)" "no error while routing the widgets"

pass
