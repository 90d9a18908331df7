#!/usr/bin/env bash
# A topic routed (columns by name) while PostgreSQL is away: reading the table's columns
# fails like any write would, so it is an outage, not a stop. The daemon waits it out, routes
# the topic once the database is back, and applies every record once.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka "app.items:2"
psql_q "CREATE TABLE public.items (id bigint PRIMARY KEY, label text)"
write_config "$TEST_DIR/sink.yaml" <<'YAML'
batch:
  max_rows: 100
  max_latency_ms: 20
sinks:
  - topic_pattern: "^app\\.(.*)$"
    table: "public.{1}"
    mode: upsert
YAML

start_daemon "$TEST_DIR/sink.yaml"
wait_for "the first assignment" 30 owns_partitions "$DAEMON_LOG" 2
stop_postgres_immediate
note "PostgreSQL stopped before the topic's first record"
awk 'BEGIN { for (i = 1; i <= 50; i++) printf "k%d\t{\"id\":%d,\"label\":\"l%d\"}\n", i, i, i }' | produce app.items 0
awk 'BEGIN { for (i = 51; i <= 80; i++) printf "k%d\t{\"id\":%d,\"label\":\"l%d\"}\n", i, i, i }' | produce app.items 1
wait_for "the daemon to hit the outage" 30 grep -q "reconnect attempt [0-9]* failed" "$DAEMON_LOG"
process_alive "$DAEMON_PID" || fail "the daemon exited during the outage: $(tail -n 5 "$DAEMON_LOG")"
if grep -q "routed topic app.items" "$DAEMON_LOG"; then fail "app.items was routed while PostgreSQL was away"; fi
# The writers' connections were open: a failure to connect is the routing's own catalog connection.
assert_log_matches "PostgreSQL write failed: cannot connect to PostgreSQL" "routing met the outage as a transient failure"
start_postgres_again
note "PostgreSQL is up again"
wait_for "every row" 60 sql_equals "SELECT count(*) || ' ' || count(DISTINCT id) FROM public.items" "80 80"
assert_eq 1 "$(grep -c 'routed topic app.items to table "public"."items" (2 columns)' "$DAEMON_LOG")" \
  "the topic is routed once, after the outage"
stop_daemon TERM 20 || fail "the daemon exited with status $? after SIGTERM"
assert_eq "0	50
1	30" "$(stored_offsets app.items)" "stored offsets"
assert_eq "l80" "$(psql_q "SELECT label FROM public.items WHERE id = 80")" "the last row by column name"

pass
