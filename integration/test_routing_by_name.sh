#!/usr/bin/env bash
# Routing and columns by name: one sink with topic_pattern "^app\.(.*)$", table "public.{1}"
# and no `columns` writes each matching topic to the table its name gives, column by column
# name, with the table's own primary key as the upsert key. The topics are created while the
# daemon runs (raw.events exists from the start); the two tables have different columns. A column the records lack is left
# NULL, a record field the table lacks is ignored and counted (and logged once), a column of
# a type the daemon cannot write is left out with a warning. A second sink routes by template
# with explicit columns and create_table: true, so its tables are created on first use. A
# topic routed to a missing table without create_table stops the daemon, naming both. A third
# sink (columns by name, a literal table) routes two topics to one table.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka "raw.events:1"
psql_q "CREATE TABLE public.users (id bigint PRIMARY KEY, name text NOT NULL, email text)"
psql_q "CREATE TABLE public.clicks (id bigint NOT NULL, page text NOT NULL)"
psql_q "CREATE TABLE public.orders (order_id bigint PRIMARY KEY, user_id bigint NOT NULL, amount numeric NOT NULL,
                                    placed_at timestamptz NOT NULL, spot point,
                                    doubled numeric GENERATED ALWAYS AS (amount * 2) STORED,
                                    seq bigint GENERATED ALWAYS AS IDENTITY)"
write_config "$TEST_DIR/sink.yaml" <<'YAML'
batch:
  max_rows: 100
  max_latency_ms: 20
sinks:
  - topic_pattern: "^app\\.(.*)$"
    table: "public.{1}"
    mode: upsert
  - topic_pattern: "^raw\\.(.*)$"
    table: "public.raw_{1}"
    create_table: true
    columns:
      id:  {path: /id, type: bigint}
      src: {path: "@topic", type: text}
  - topic_pattern: "^(eu|us)\\.clicks$"
    table: public.clicks
YAML
sed -i 's|^  group_id: .*|&\n  topic_refresh_interval_ms: 1000|' "$TEST_DIR/sink.yaml"
grep -q "topic_refresh_interval_ms: 1000" "$TEST_DIR/sink.yaml" || fail "could not set the refresh interval"
enable_http "$TEST_DIR/sink.yaml"

start_daemon "$TEST_DIR/sink.yaml"
wait_for "the first assignment" 30 owns_partitions "$DAEMON_LOG" 1

for topic in app.users:2 app.orders:2 eu.clicks:1 us.clicks:1; do mock_control create-topic "$topic"; done
# users: no email field (the column stays NULL); id 2 is written twice (the upsert keeps the later).
printf '%s\n' \
  $'u1\t{"id":1,"name":"ann"}' \
  $'u2\t{"id":2,"name":"bob"}' \
  $'u3\t{"id":3,"name":"cy"}' \
  $'u2\t{"id":2,"name":"bobby"}' | produce app.users 0
# orders: every record has a "coupon" field the table lacks (5 records), one also "note" (1);
# order 10 is written twice, in one partition (the upsert keeps the later).
printf '%s\n' \
  $'o10\t{"order_id":10,"user_id":1,"amount":12.50,"placed_at":"2026-12-01T10:00:00Z","coupon":"X"}' \
  $'o11\t{"order_id":11,"user_id":2,"amount":3,"placed_at":"2026-12-01T11:00:00Z","coupon":"Y"}' \
  $'o12\t{"order_id":12,"user_id":2,"amount":0.01,"placed_at":"2026-12-01T12:00:00Z","coupon":null}' \
  $'o10\t{"order_id":10,"user_id":1,"amount":13.00,"placed_at":"2026-12-01T10:00:00Z","coupon":"X"}' | produce app.orders 0
printf '%s\n' \
  $'o13\t{"order_id":13,"user_id":3,"amount":7,"placed_at":"2026-12-02T09:30:00Z","coupon":"Z","note":"gift"}' |
  produce app.orders 1
printf '%s\n' $'r1\t{"id":1}' $'r2\t{"id":2}' | produce raw.events 0
# Two topics, one table (columns by name, a literal table): one route, both topics' rows.
printf '%s\n' $'c1\t{"id":1,"page":"/eu"}' | produce eu.clicks 0
printf '%s\n' $'c2\t{"id":2,"page":"/us"}' $'c3\t{"id":3,"page":"/us"}' | produce us.clicks 0

wait_for "the users rows" 60 sql_equals "SELECT count(*) FROM public.users" 3
wait_for "the orders rows" 60 sql_equals "SELECT count(*) FROM public.orders" 4
wait_for "the raw_events rows" 60 sql_equals "SELECT count(*) FROM public.raw_events" 2
wait_for "the clicks rows" 60 sql_equals "SELECT count(*) FROM public.clicks" 3
wait_for "the users upsert" 30 sql_equals "SELECT name FROM public.users WHERE id = 2" bobby
wait_for "the orders upsert" 30 sql_equals "SELECT amount FROM public.orders WHERE order_id = 10" 13.00

assert_eq "1	ann	NULL
2	bobby	NULL
3	cy	NULL" "$(psql_q "SELECT id, name, email FROM public.users ORDER BY id")" "users rows by column name"
assert_eq "10	1	13.00	2026-12-01 10:00:00+00	NULL	26.00	t
11	2	3	2026-12-01 11:00:00+00	NULL	6	t
12	2	0.01	2026-12-01 12:00:00+00	NULL	0.02	t
13	3	7	2026-12-02 09:30:00+00	NULL	14	t" \
  "$(psql_q "SELECT order_id, user_id, amount, placed_at, spot, doubled, seq IS NOT NULL FROM public.orders
             ORDER BY order_id")" \
  "orders rows by column name (the point column and the generated ones left out, PostgreSQL fills those)"
assert_eq "1	raw.events
2	raw.events" "$(psql_q "SELECT id, src FROM public.raw_events ORDER BY id")" "rows of the created table"

assert_log_matches 'routed topic app\.users to table "public"\."users" \(3 columns\)' "app.users is routed to its table"
assert_log_matches 'routed topic app\.orders to table "public"\."orders" \(4 columns\)' \
  "app.orders is routed to its table, without the point column"
assert_log_matches 'routed topic raw\.events to table "public"\."raw_events" \(2 columns\)' "raw.events is routed"
assert_log_matches 'created table "public"\."raw_events"' "the create_table route creates its table"
assert_eq "1	/eu
2	/us
3	/us" "$(psql_q "SELECT id, page FROM public.clicks ORDER BY id")" "rows of two topics routed to one table"
assert_log_matches 'routed topic eu\.clicks to table "public"\."clicks" \(2 columns\)' "eu.clicks is routed to clicks"
assert_log_matches 'routed topic us\.clicks to table "public"\."clicks" \(2 columns\)' "us.clicks is routed to clicks"
assert_log_matches 'column "spot" \(point\) has a type kafka-pg-sink cannot write' "the point column is named in a warning"
assert_log_matches 'table "public"\."orders" column "doubled" is generated, so PostgreSQL writes it; topic app\.orders leaves it out' \
  "the generated column is named in a warning"
assert_log_matches 'table "public"\."orders" column "seq" is generated' "the GENERATED ALWAYS identity column is named in a warning"
assert_log_matches 'table "public"\."orders" ignores field coupon: no such column' "the ignored field is logged"
assert_eq 1 "$(grep -c 'ignores field coupon' "$DAEMON_LOG")" "the ignored field is logged once"
assert_eq 1 "$(grep -c 'ignores field note' "$DAEMON_LOG")" "another ignored field gets its own line"

metrics=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics")
ignored=$(grep -E '^kafka_pg_sink_ignored_fields_total\{' <<<"$metrics" | sort)
note "ignored-field counters:"$'\n'"$ignored"
assert_eq 'kafka_pg_sink_ignored_fields_total{table="\"public\".\"orders\""} 6' "$ignored" \
  "6 ignored fields counted (5 coupon, 1 note), none for users or raw_events"
stop_daemon TERM 20 || fail "the daemon exited with status $? after SIGTERM"
assert_eq "0	4
1	1" "$(stored_offsets app.orders)" "stored offsets of app.orders"
assert_eq "0	4" "$(stored_offsets app.users)" "stored offsets of app.users"

# A topic whose table does not exist (and no create_table): a configuration problem, so the
# daemon stops (exit 1) naming topic and table, and writes nothing of it.
mock_control create-topic app.ghosts:1
printf '%s\n' $'g1\t{"id":1}' | produce app.ghosts 0
start_daemon "$TEST_DIR/sink.yaml"
status=0
wait_daemon_exit 60 || status=$?
assert_eq 1 "$status" "exit status for a topic routed to a missing table"
assert_log_matches 'topic app\.ghosts routes to table "public"\."ghosts", which does not exist: create it, or set create_table: true on sinks\[0\]' \
  "the error names topic and table"
assert_eq "" "$(stored_offsets app.ghosts)" "no offset stored for the unroutable topic"

# A table name over PostgreSQL's 63 bytes would be created (or looked up) truncated: the
# daemon stops at routing (TableTemplate::resolve refuses it), instead of writing to a table
# of another name.
psql_q "CREATE TABLE public.ghosts (id bigint PRIMARY KEY)"
long_name=$(printf 'x%.0s' {1..64})
mock_control create-topic "app.$long_name:1"
printf '%s\n' $'l1\t{"id":1}' | produce "app.$long_name" 0
start_daemon "$TEST_DIR/sink.yaml"
status=0
wait_daemon_exit 60 || status=$?
assert_eq 1 "$status" "exit status for a table name over 63 bytes"
assert_log_matches "topic app\.$long_name cannot be routed: sinks\[0\]\.table table \"public\.\{1\}\" resolves to 64 bytes; PostgreSQL identifiers are at most 63 bytes" \
  "the error names the long table name"

pass
