#!/usr/bin/env bash
# topic_pattern means one thing everywhere: a regex matching whole topic names. The daemon
# lists the topics itself and subscribes to the names its sinks match; librdkafka, handed
# "^orders(\.eu)?" as before, searched it anywhere in a name, subscribed to orders-archive,
# ordersX and the dead letter topic orders-dlq, and the first record of one of them (no sink)
# stopped the daemon. Topics matching and not matching are created while the daemon runs:
# only the matching ones are consumed (by /metrics and by the table), new matching topics
# are picked up within a bounded time, and the daemon never stops.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka "orders:2" "orders-dlq:1"
psql_q "CREATE TABLE public.orders (id bigint NOT NULL, src text NOT NULL)"
write_config "$TEST_DIR/sink.yaml" <<'YAML'
batch:
  max_rows: 100
  max_latency_ms: 20
errors:
  tolerance: all
  dead_letter_topic: orders-dlq
sinks:
  - topic_pattern: "^orders(\\.eu)?"
    table: public.orders
    mode: insert
    columns:
      id:  {path: /id, type: bigint}
      src: {path: "@topic", type: text}
YAML
sed -i 's|^  group_id: .*|&\n  topic_refresh_interval_ms: 1000|' "$TEST_DIR/sink.yaml"
grep -q "topic_refresh_interval_ms: 1000" "$TEST_DIR/sink.yaml" || fail "could not set the refresh interval"
enable_http "$TEST_DIR/sink.yaml"

# ids FIRST LAST: one "KEY<TAB>{"id":I}" line per record.
ids() { awk -v first="$1" -v last="$2" 'BEGIN { for (i = first; i <= last; i++) printf "k%d\t{\"id\":%d}\n", i, i }'; }
rows_from() { psql_q "SELECT count(*) FROM public.orders WHERE src = '$1'"; }

start_daemon "$TEST_DIR/sink.yaml"
wait_for "the first assignment" 30 owns_partitions "$DAEMON_LOG" 2
assert_log_matches "consuming as group $KPS_GROUP from 1 topic\(s\): orders \(topic_pattern" \
  "the subscription at start names the one matching topic, not the dead letter topic"
ids 1 100 | produce orders -1
wait_for "the records of orders" 30 sql_equals "SELECT count(*) FROM public.orders" 100

# While the daemon runs: one more matching topic and three that only begin like one.
for topic in orders.eu:2 orders-archive:2 ordersX:1; do mock_control create-topic "$topic"; done
created_at=$SECONDS
ids 101 200 | produce orders.eu -1
ids 1001 1100 | produce orders-archive -1
ids 2001 2100 | produce ordersX -1
ids 3001 3010 | produce orders-dlq -1
wait_for "the records of orders.eu" 30 sql_equals "SELECT count(*) FROM public.orders WHERE src = 'orders.eu'" 100
note "measured: orders.eu consumed within $((SECONDS - created_at)) s of its creation"
assert_log_matches "now consuming from 2 topic\(s\): orders, orders.eu" "the new matching topic joins the subscription"

# A non-matching topic created by producing to it (the mock cluster auto-creates it), and
# the first matching topic still consumed after the subscription changed.
ids 4001 4010 | produce orders-new -1
ids 201 300 | produce orders -1
wait_for "the later records of orders" 30 sql_equals "SELECT count(*) FROM public.orders WHERE src = 'orders'" 200

# Give a wrong subscription time to show: two more refresh rounds.
sleep 2.5
process_alive "$DAEMON_PID" || fail "the daemon stopped: $(tail -n 5 "$DAEMON_LOG")"
consumed=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^kafka_pg_sink_records_consumed_total\{' | sort)
note "consumed counters:"$'\n'"$consumed"
# The counters count fetches: records fetched before a rebalance (the subscription grew) and
# not yet written are fetched again, so a counter may exceed the records produced. The topics
# they name are what matters here; the rows below prove each record is applied once.
assert_eq $'kafka_pg_sink_records_consumed_total{topic="orders"}\nkafka_pg_sink_records_consumed_total{topic="orders.eu"}' \
  "$(awk '{ print $1 }' <<<"$consumed")" "only the topics whose whole name matches are consumed"
awk '$1 ~ /"orders"/ && $2 < 200 || $1 ~ /"orders.eu"/ && $2 < 100 { bad = 1 } END { exit bad }' <<<"$consumed" ||
  fail "every record of orders and orders.eu is consumed: $consumed"
if grep -Eq "topic=(orders-archive|ordersX|orders-dlq|orders-new) |no sink is configured" "$DAEMON_LOG"; then
  fail "the daemon saw a topic the pattern does not match: $(grep -E "orders-archive|ordersX|orders-dlq|orders-new|no sink" "$DAEMON_LOG" | head -3)"
fi
assert_eq "orders	200
orders.eu	100" "$(psql_q "SELECT src, count(*) FROM public.orders GROUP BY src ORDER BY src")" "rows by source topic"
assert_eq "300 300" "$(psql_q "SELECT count(*) || ' ' || count(DISTINCT id) FROM public.orders WHERE id <= 300")" \
  "every matching record once"
stop_daemon TERM 20 || fail "the daemon exited with status $? after SIGTERM"

pass
