# shellcheck shell=bash
# Replicating an inventory database from its Debezium change stream: the scenario behind
# test_debezium_inventory.sh (schema wrapper), test_debezium_inventory_no_schema.sh (no wrapper)
# and test_fault_kill9_debezium_inventory.sh (kill -9 in the middle, then a restart). Each of them
# sets DEBEZIUM_CASE (schemas | no_schemas | kill9) and sources this file.
#
# integration/debezium_inventory.py generates the stream (snapshot reads, creates, updates with
# unchanged TOASTed columns, deletes and their tombstones, a primary-key change, a column added
# mid-stream, a truncate of orders) and the state the source database ends in. ONE sink entry
# routes the three topics by pattern and template into schema `replica`; the test waits until
# every record is applied and compares each table with the expected CSV, byte for byte.
#
# Without the schema wrapper the daemon cannot create tables or add columns: the test creates
# the tables from the generator's ddl.sql, and the field that appears mid-stream (`phone`) must be
# ignored and counted.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${DEBEZIUM_CASE:-}" in
  schemas) schemas=on seed=1 events=120 max_rows=50 ;;
  no_schemas) schemas=off seed=2 events=120 max_rows=50 ;;
  # Small batches: many transactions, so that the kill lands between and inside them.
  kill9) schemas=on seed=3 events=300 max_rows=5 ;;
  # No daemon: proves the checks below against tables loaded from the expected state.
  checker) schemas=on seed=1 events=120 max_rows=50 ;;
  *) fail "DEBEZIUM_CASE must be schemas, no_schemas, kill9 or checker, not '${DEBEZIUM_CASE:-}'" ;;
esac

STREAM=$TEST_DIR/stream
python3 "$KPS_SOURCE_DIR/integration/debezium_inventory.py" --out "$STREAM" --schemas "$schemas" \
  --seed "$seed" --events "$events" >"$TEST_DIR/stream-summary.txt" ||
  fail "the generator failed (run: python3 integration/debezium_inventory.py --self-test)"
note "generated stream (seed $seed, schemas $schemas):"$'\n'"$(cat "$TEST_DIR/stream-summary.txt")"
mapfile -t topic_specs <"$STREAM/topics.txt"
topics=()
for spec in "${topic_specs[@]}"; do topics+=("${spec%:*}"); done
tables=(customers products orders)

start_postgres
start_kafka "${topic_specs[@]}"
psql_q "CREATE SCHEMA replica"
if [[ "$schemas" == off ]]; then
  psql_q <"$STREAM/ddl.sql"
  note "pre-created replica.customers, replica.products, replica.orders (no schema wrapper: no create_table)"
fi

write_config "$TEST_DIR/sink.yaml" <<YAML
batch:
  max_rows: $max_rows
  max_latency_ms: 50
sinks:
  - topic_pattern: "^dbserver1\\\\.inventory\\\\.(.*)\$"
    table: "replica.{1}"
    format: debezium
    create_table: true
    schema_evolution: add_columns
    on_truncate: apply
YAML
grep -qF 'topic_pattern: "^dbserver1\\.inventory\\.(.*)$"' "$TEST_DIR/sink.yaml" ||
  fail "the sink's topic_pattern was not written as intended: $(grep topic_pattern "$TEST_DIR/sink.yaml")"

# produce_part HALF: produces records of every partition file: `all`, or its `first` or `second`
# half (the kill -9 case produces the second half after the kill). kcat keeps each file's order,
# an empty key is a null key (the truncate) and an empty value a tombstone.
produce_part() {
  local file base topic partition lines from to
  for file in "$STREAM"/records/*.tsv; do
    base=$(basename "$file" .tsv)
    topic=${base%.*} partition=${base##*.}
    lines=$(wc -l <"$file")
    case "$1" in
      all) from=1 to=$lines ;;
      first) from=1 to=$((lines / 2)) ;;
      second) from=$((lines / 2 + 1)) to=$lines ;;
    esac
    ((from <= to)) || continue
    sed -n "${from},${to}p" "$file" | produce "$topic" "$partition"
  done
}

# records_in_stream TOPIC: how many records the generator wrote for TOPIC.
records_in_stream() {
  cat "$STREAM"/records/"$1".*.tsv | wc -l
}

# daemon_exit_report LOG: the daemon's last lines, and what a refused config means here.
daemon_exit_report() {
  tail -n 15 "$1"
  if grep -Eq "sinks\[0\]\.(format|schema_evolution|on_truncate): unknown key" "$1"; then
    echo "(this daemon does not know the change-data-capture keys of the contract yet: format," \
      "table templates, schema_evolution, on_truncate)"
  fi
}

# applied_everywhere: for wait_for: the offsets stored in PostgreSQL reached the end of every
# non-empty partition of every topic. Fails the test at once if the daemon died.
applied_everywhere() {
  if [[ -n "$DAEMON_PID" ]] && ! process_alive "$DAEMON_PID"; then
    fail "the daemon exited before applying the stream; its last lines:"$'\n'"$(daemon_exit_report "$DAEMON_LOG")"
  fi
  local topic
  for topic in "${topics[@]}"; do
    [[ "$(stored_offsets "$topic" 2>/dev/null)" == "$(log_end_offsets "$topic" | awk '$2 > 0')" ]] || return 1
  done
}

# compare_tables: each replica table equals the generator's expected CSV (its columns, ordered by
# its primary key, printed by COPY ... CSV in UTC), and has the expected columns and types.
compare_tables() {
  local table columns pk actual_types
  for table in "${tables[@]}"; do
    [[ "$(psql_q "SELECT to_regclass('replica.$table') IS NOT NULL")" == t ]] ||
      fail "table replica.$table does not exist: the topic dbserver1.inventory.$table was not routed to it$(
        [[ "$schemas" == on ]] && echo " or create_table did not create it")"
    columns=$(<"$STREAM/expected/$table.columns")
    pk=$(<"$STREAM/expected/$table.pk")
    actual_types=$(psql_q "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute
                           WHERE attrelid = 'replica.$table'::regclass AND attnum > 0 AND NOT attisdropped
                           ORDER BY attname")
    assert_eq "$(LC_ALL=C sort "$STREAM/expected/$table.types")" "$actual_types" \
      "the columns of replica.$table and their types (name, format_type)"
    assert_eq "$pk" "$(psql_q "SELECT string_agg(a.attname, ',') FROM pg_index i
                               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                               WHERE i.indrelid = 'replica.$table'::regclass AND i.indisprimary")" \
      "the primary key of replica.$table"
    PGTZ=UTC timeout 60 "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -d "$PG_DSN" \
      -c "COPY (SELECT $columns FROM replica.$table ORDER BY $pk) TO STDOUT CSV" >"$TEST_DIR/actual-$table.csv" ||
      fail "could not read replica.$table"
    if ! diff -u "$STREAM/expected/$table.csv" "$TEST_DIR/actual-$table.csv" >"$TEST_DIR/diff-$table.txt"; then
      fail "replica.$table differs from the state the source database ended in" \
        "($(grep -c '^-[^-]' "$TEST_DIR/diff-$table.txt" || true) expected line(s) missing or different," \
        "$(grep -c '^+[^+]' "$TEST_DIR/diff-$table.txt" || true) unexpected):"$'\n'"$(cut -c1-300 "$TEST_DIR/diff-$table.txt" | head -n 40)"
    fi
    note "replica.$table equals the expected state ($(psql_q "SELECT count(*) FROM replica.$table") rows)"
  done
}

# check_metrics: the counters of the expected metrics file are those /metrics shows.
check_metrics() {
  curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" >"$TEST_DIR/metrics.txt" || fail "could not read /metrics"
  compare_metrics "$TEST_DIR/metrics.txt"
}

# compare_metrics FILE: the counters of the expected metrics file are those of FILE (Prometheus
# text), label order ignored; a counter that is absent counts as 0.
compare_metrics() {
  local report
  report=$(python3 - "$STREAM/expected/metrics.txt" "$1" <<'PY'
import re, sys
def parse(path):
    values = {}
    for line in open(path):
        match = re.match(r'^([a-z_]+)(?:\{(.*)\})? ([0-9.e+-]+)$', line.strip())
        if match:
            # A table label may hold the quoted name ("replica"."customers", escaped): compare
            # names without their identifier quotes.
            labels = tuple(sorted((name, value.replace('\\"', "").replace('"', ""))
                                  for name, value in re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', match.group(2) or "")))
            values[(match.group(1), labels)] = float(match.group(3))
    return values
expected, actual = parse(sys.argv[1]), parse(sys.argv[2])
for key, value in sorted(expected.items()):
    got = actual.get(key, 0.0)
    if got != value:
        labels = ",".join('%s="%s"' % pair for pair in key[1])
        print("%s{%s}: expected %g, got %s" % (key[0], labels, value, "absent" if key not in actual else "%g" % got))
PY
)
  [[ -z "$report" ]] || fail "counters differ from what the stream implies:"$'\n'"$report"
  note "metrics: $(wc -l <"$STREAM/expected/metrics.txt") counters as expected"
}

# check_decision_logs: one "routed topic" line per table, and, with schemas, "created table" per
# table and "altered table" for customers (phone); without schemas neither of the latter, but
# the ignored field named. Table names may be printed quoted ("replica"."customers").
check_decision_logs() {
  local table name logs=("$TEST_DIR"/daemon-*.log)
  for table in "${tables[@]}"; do
    name="\"?replica\"?\\.\"?$table\"?"
    grep -Eq "routed topic dbserver1\.inventory\.$table to table $name" "${logs[@]}" ||
      fail "no log line 'routed topic dbserver1.inventory.$table to table replica.$table'"
    if [[ "$schemas" == on ]]; then
      grep -Eq "created table $name" "${logs[@]}" || fail "no log line 'created table replica.$table'"
    fi
  done
  if [[ "$schemas" == on ]]; then
    grep -Eq "altered table \"?replica\"?\\.\"?customers\"?.*phone" "${logs[@]}" ||
      fail "no log line 'altered table replica.customers ... phone' (phone appeared mid-stream)"
  else
    if grep -Eq "created table|altered table" "${logs[@]}"; then
      fail "without schemas nothing may be created or altered: $(grep -Eh "created table|altered table" "${logs[@]}" | head -3)"
    fi
    grep -Eq "ignores field \"?phone" "${logs[@]}" || fail "no log line saying that replica.customers ignores field phone"
  fi
}

if [[ "$DEBEZIUM_CASE" == checker ]]; then
  # The expected state loaded as a replica would hold it: PostgreSQL reads each CSV and prints it
  # back byte for byte (so the generator writes timestamps, doubles, numerics, NULLs, quotes and
  # line breaks as COPY does), and the checks pass ...
  psql_q <"$STREAM/ddl.sql"
  psql_q "ALTER TABLE replica.customers ADD COLUMN phone text"
  for table in "${tables[@]}"; do
    PGTZ=UTC "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$PG_DSN" \
      -c "COPY replica.$table ($(<"$STREAM/expected/$table.columns")) FROM STDIN CSV" <"$STREAM/expected/$table.csv" ||
      fail "PostgreSQL cannot read expected/$table.csv"
  done
  compare_tables
  # Labels in another order, table names quoted as identifiers (as the daemon's other table
  # labels are), and the log lines of the decisions as the daemon words them.
  awk '{ n = split($1, parts, /[{}]/); split(parts[2], labels, ","); print parts[1] "{" labels[2] "," labels[1] "} " $2 }' \
    "$STREAM/expected/metrics.txt" | sed -E 's/"replica\.([a-z]+)"/"\\"replica\\".\\"\1\\""/' \
    >"$TEST_DIR/metrics-reordered.txt"
  compare_metrics "$TEST_DIR/metrics-reordered.txt"
  for table in "${tables[@]}"; do
    echo "routed topic dbserver1.inventory.$table to table \"replica\".\"$table\" (6 columns)"
    echo "created table \"replica\".\"$table\""
  done >"$TEST_DIR/daemon-1.log"
  echo 'altered table "replica"."customers": added column "phone" text' >>"$TEST_DIR/daemon-1.log"
  check_decision_logs
  # ... and each of them fails on a replica that differs in one value, a type or a counter.
  expect_check_fails() {
    local what=$1
    shift
    if ("$@") >"$TEST_DIR/control.log" 2>&1; then fail "the checker accepted $what"; fi
    grep -q "FAIL" "$TEST_DIR/control.log" || fail "the checker refused $what without saying why"
    note "the checker refuses $what: $(grep -m1 FAIL "$TEST_DIR/control.log" | cut -c1-160)"
  }
  psql_q "UPDATE replica.customers SET notes = '__debezium_unavailable_value'
          WHERE id = (SELECT min(id) FROM replica.customers WHERE notes IS NOT NULL)"
  expect_check_fails "a TOAST placeholder written over a value" compare_tables
  psql_q "DELETE FROM replica.customers; ALTER TABLE replica.customers DROP COLUMN phone;
          ALTER TABLE replica.customers ADD COLUMN phone varchar(20)"
  PGTZ=UTC "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$PG_DSN" \
    -c "COPY replica.customers ($(<"$STREAM/expected/customers.columns")) FROM STDIN CSV" <"$STREAM/expected/customers.csv"
  expect_check_fails "a column of another type" compare_tables
  sed '1s/ [0-9]*$/ 999/' "$STREAM/expected/metrics.txt" >"$TEST_DIR/metrics-wrong.txt"
  expect_check_fails "a wrong counter" compare_metrics "$TEST_DIR/metrics-wrong.txt"
  sed -i '/altered table/d' "$TEST_DIR/daemon-1.log"
  expect_check_fails "a log without the ALTER" check_decision_logs
  # The records reach Kafka as generated: byte for byte, null keys (the truncate) and null values
  # (tombstones) as nulls, not empty strings.
  produce_part all
  for file in "$STREAM"/records/*.tsv; do
    base=$(basename "$file" .tsv)
    timeout 30 kcat -C -b "$KAFKA_BOOTSTRAP" -t "${base%.*}" -p "${base##*.}" -e -f '%k\t%s\n' \
      >"$TEST_DIR/read-back.tsv" 2>/dev/null || fail "could not read back $base"
    cmp -s "$file" "$TEST_DIR/read-back.tsv" || fail "the records of $base read back differ from the generated ones"
    assert_eq "$(grep -c $'^\t' "$file") $(grep -c $'\t$' "$file")" \
      "$(timeout 30 kcat -C -b "$KAFKA_BOOTSTRAP" -t "${base%.*}" -p "${base##*.}" -e -Z -f '%K %S\n' 2>/dev/null |
         awk '$1 == -1 { keys++ } $2 == -1 { values++ } END { print keys + 0, values + 0 }')" \
      "null keys and null values of $base (generated, in Kafka)"
  done
  note "every record reads back from Kafka as generated"
  pass
  exit 0
elif [[ "$DEBEZIUM_CASE" != kill9 ]]; then
  produce_part all
  for topic in "${topics[@]}"; do assert_log_holds "$topic" "$(records_in_stream "$topic")"; done
  enable_http "$TEST_DIR/sink.yaml"
  start_daemon "$TEST_DIR/sink.yaml"
  wait_for "every record of the three topics to be applied" 90 applied_everywhere
  note "caught up: $(for topic in "${topics[@]}"; do printf '%s=[%s] ' "$topic" "$(stored_offsets "$topic" | tr '\t\n' ': ')"; done)"
  check_metrics
  stop_daemon TERM 20 || fail "the daemon exited with status $? after SIGTERM"
else
  produce_part first
  start_daemon "$TEST_DIR/sink.yaml"
  stored_total() {
    psql_q "SELECT coalesce(sum(next_offset), 0) FROM kafka_pg_sink_offsets WHERE group_id = '$KPS_GROUP'" 2>/dev/null ||
      echo 0
  }
  some_applied() {
    process_alive "$DAEMON_PID" ||
      fail "the daemon exited before the kill; its last lines:"$'\n'"$(daemon_exit_report "$DAEMON_LOG")"
    (($(stored_total) > 0))
  }
  wait_for "the first transaction of the stream" 60 some_applied
  stop_daemon KILL 10 || true
  produced_first=0
  for topic in "${topics[@]}"; do produced_first=$((produced_first + $(log_end_offsets "$topic" | awk '{ s += $2 } END { print s + 0 }'))); done
  note "measured: kill -9 with $(stored_total) of the $produced_first records produced so far applied"
  # A COMMIT sent just before the kill may still complete: read what is stored once every
  # session of the killed daemon is gone.
  wait_for "the killed daemon's sessions to end" 30 sql_equals \
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kafka-pg-sink'" 0
  # What the killed daemon left stored: the restart must resume each partition exactly there.
  at_kill=$(psql_q "SELECT topic, \"partition\", next_offset FROM kafka_pg_sink_offsets
                    WHERE group_id = '$KPS_GROUP' ORDER BY 1, 2")
  produce_part second
  for topic in "${topics[@]}"; do assert_log_holds "$topic" "$(records_in_stream "$topic")"; done
  status=0
  run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || status=$?
  ((status == 0)) ||
    fail "the run after the kill (--until-caught-up) exited with status $status:"$'\n'"$(daemon_exit_report "$DAEMON_LOG")"
  wait_for "every record of the three topics to be applied" 10 applied_everywhere
  while IFS=$'\t' read -r topic partition offset; do
    assert_log_matches "assigned topic=$topic partition=$partition resuming at offset=$offset \(stored in PostgreSQL\)" \
      "the restart resumes $topic/$partition at the offset stored before the kill ($offset)"
  done <<<"$at_kill"
fi
for topic in "${topics[@]}"; do wait_committed_matches_stored "$topic" 15; done

compare_tables
check_decision_logs
if [[ "$schemas" == off ]]; then
  assert_eq 0 "$(psql_q "SELECT count(*) FROM pg_attribute WHERE attrelid = 'replica.customers'::regclass
                         AND attname = 'phone'")" "replica.customers has no phone column without schemas"
fi
pass
