#!/usr/bin/env bash
# errors.tolerance none, and PostgreSQL refuses a row (a check violation) in the middle of a
# batch: the daemon exits 1 naming topic, partition, offset and SQLSTATE; every record before it
# in its partition is applied and committed (in PostgreSQL and in Kafka), nothing from it on;
# the other partition, which shares the batch, is complete. A restart stops at the same record.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka payments:2

psql_q "CREATE TABLE public.payments (id bigint PRIMARY KEY, amount integer NOT NULL CHECK (amount > 0))"
write_config "$TEST_DIR/sink.yaml" <<'EOF_CONFIG'
batch:
  max_rows: 1000
  max_latency_ms: 1000
errors:
  tolerance: none
sinks:
  - topic: payments
    table: public.payments
    mode: insert
    columns:
      id:     {path: /id, type: bigint}
      amount: {path: /amount, type: integer}
EOF_CONFIG

# Partition 0: offsets 0..9, offset 6 refused. Partition 1: offsets 0..9, all good.
for ((n = 0; n < 10; n++)); do
  printf '%s\t{"id":%s,"amount":%s}\n' "$n" "$n" "$((n == 6 ? -1 : 5))"
done | produce payments 0
for ((n = 0; n < 10; n++)); do printf '%s\t{"id":%s,"amount":5}\n' "$n" "$((100 + n))"; done | produce payments 1

expect_stop_at_offset_6() {
  local run=$1 status=0
  run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || status=$?
  assert_eq 1 "$status" "$run: exit status on a refused row"
  local line
  line=$(grep -E 'topic=payments partition=0 offset=6[^0-9]' "$DAEMON_LOG") || fail "$run: no log line names the refused record"
  grep -q 'SQLSTATE 23514' <<<"$line" || fail "$run: the line gives no SQLSTATE: $line"
  grep -q 'check constraint' <<<"$line" || fail "$run: the line gives no reason: $line"
  assert_eq "$(seq 0 5; seq 100 109)" "$(psql_q 'SELECT id FROM public.payments ORDER BY id')" "$run: ids in the table"
  assert_eq $'0\t6\n1\t10' "$(stored_offsets payments)" "$run: next offsets stored in PostgreSQL"
  assert_eq $'0\t6\n1\t10' "$(committed_offsets payments)" "$run: offsets committed to Kafka"
}
expect_stop_at_offset_6 "first run"
expect_stop_at_offset_6 "restart"
pass
