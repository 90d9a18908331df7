#!/usr/bin/env bash
# errors.tolerance none: a record whose value does not fit its column stops the daemon with exit
# status 1 and a log line naming topic, partition, offset, column and reason. Everything before
# it is applied and committed (even the records sharing its batch) and nothing after it; a
# restart stops at the same record.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka ledger-events:1

psql_q "CREATE TABLE public.ledger (id bigint NOT NULL, val text NOT NULL)"
write_config "$TEST_DIR/sink.yaml" <<'EOF'
batch:
  max_rows: 3
errors:
  tolerance: none
sinks:
  - topic: ledger-events
    table: public.ledger
    mode: insert
    columns:
      id:  {path: /id, type: bigint}
      val: {path: /val, type: text}
EOF

# Offsets 0..9 are good, 10 holds a string where the bigint `id` goes, 11..14 are good again.
for ((n = 0; n < 15; n++)); do
  if ((n == 10)); then
    printf '%s\t{"id":"abc","val":"bad"}\n' "$n"
  else
    printf '%s\t{"id":%s,"val":"good"}\n' "$n" "$n"
  fi
done | produce ledger-events 0

# The run must stop on the record, not wait for more: --until-caught-up bounds it if it does not.
expect_stop_at_offset_10() {
  local run=$1 status=0
  run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || status=$?
  assert_eq 1 "$status" "$run: exit status on a bad record"
  local lines
  lines=$(grep -E 'offset[=: ]+10([^0-9]|$)' "$DAEMON_LOG") || fail "$run: no log line names offset 10"
  grep -F ledger-events <<<"$lines" | grep -Eq 'partition[=: ]+0([^0-9]|$)' ||
    fail "$run: the line naming offset 10 does not name topic ledger-events and partition 0: $lines"
  grep -Eq '(column[=: "]*id|"id"|/id|\bid\b)' <<<"$lines" || fail "$run: the line naming offset 10 does not name column id: $lines"
  grep -Eiq 'bigint|integer|number|int8|abc' <<<"$lines" || fail "$run: the line naming offset 10 gives no reason: $lines"
  assert_eq "$(seq 0 9)" "$(psql_q 'SELECT id FROM public.ledger ORDER BY id')" "$run: ids in the table"
  assert_eq $'0\t10' "$(stored_offsets ledger-events)" "$run: next offset stored in PostgreSQL"
  assert_eq $'0\t10' "$(committed_offsets ledger-events)" "$run: offset committed to Kafka"
}
expect_stop_at_offset_10 "first run"
expect_stop_at_offset_10 "restart"

pass
