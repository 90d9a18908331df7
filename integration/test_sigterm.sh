#!/usr/bin/env bash
# SIGTERM: the daemon stops fetching, flushes and commits the batch it holds, and exits 0 within
# shutdown_timeout_ms. The held batch is made to exist on purpose: 120 records with max_rows 50
# flush two full batches, and the last 20 records sit in a batch whose max_latency (60 s) is far
# away, so only the shutdown can write them.
source "$(dirname "$0")/lib.sh"

readonly shutdown_timeout_seconds=10  # write_config sets shutdown_timeout_ms: 10000
start_postgres
start_kafka payments:1

psql_q "CREATE TABLE public.payments (id bigint NOT NULL, amount numeric NOT NULL)"
write_config "$TEST_DIR/sink.yaml" <<'EOF'
batch:
  max_rows: 50
  max_latency_ms: 60000
sinks:
  - topic: payments
    table: public.payments
    mode: insert
    columns:
      id:     {path: /id, type: bigint}
      amount: {path: /amount, type: numeric}
EOF

for ((id = 0; id < 120; id++)); do printf '%s\t{"id":%s,"amount":%s.25}\n' "$id" "$id" "$id"; done |
  produce payments 0
start_daemon "$TEST_DIR/sink.yaml"
wait_for "the two full batches to be written" 60 sql_equals "SELECT count(*) FROM public.payments" 100
# Time for the consumer to hand the last 20 records to the open batch: they are in Kafka already.
sleep 2
assert_eq 100 "$(psql_q 'SELECT count(*) FROM public.payments')" \
  "rows before SIGTERM (the third batch must still be open: max_latency is 60 s)"

started=$SECONDS
status=0
stop_daemon TERM $((shutdown_timeout_seconds + 2)) || status=$?
assert_eq 0 "$status" "exit status after SIGTERM"
((SECONDS - started <= shutdown_timeout_seconds)) ||
  fail "the daemon took $((SECONDS - started))s to stop, more than shutdown_timeout_ms"

assert_eq $'120\t120\t7170.00' "$(psql_q 'SELECT count(*), count(DISTINCT id), sum(amount) FROM public.payments')" \
  "rows after the shutdown (rows, distinct ids, sum of amounts)"
assert_eq $'0\t120' "$(stored_offsets payments)" "next offset stored in PostgreSQL"
assert_eq $'0\t120' "$(committed_offsets payments)" "offset committed to Kafka"

# SIGTERM while the daemon still waits for PostgreSQL at start-up (nothing listens where the DSN
# points) is a clean stop as well: exit 0, quickly.
sed "s|dsn: \".*\"|dsn: \"host=127.0.0.1 port=$(free_port) dbname=postgres user=postgres connect_timeout=2\"|" \
  "$TEST_DIR/sink.yaml" >"$TEST_DIR/no-database.yaml"
start_daemon "$TEST_DIR/no-database.yaml"
wait_for "the daemon to wait for PostgreSQL" 30 grep -q "PostgreSQL unavailable" "$DAEMON_LOG"
status=0
stop_daemon TERM $((shutdown_timeout_seconds + 2)) || status=$?
assert_eq 0 "$status" "exit status after SIGTERM while waiting for PostgreSQL at start-up"

pass
