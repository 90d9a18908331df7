#!/usr/bin/env bash
# Issue 10, case 3: a partitioned table lacks the partition for some records. PostgreSQL refuses
# them with 23514 "no partition of relation ... found for row", which is the operator's problem,
# not the records': even with errors.tolerance all the daemon must not dead-letter them nor exit.
# It waits with backoff, logs the table and the value, and once the partition is created applies
# every record exactly once.
source "$(dirname "$0")/lib.sh"

readonly records=2000

start_postgres
start_kafka events:2 events.dlq:1
psql_q "CREATE TABLE public.events (id bigint NOT NULL, name text NOT NULL, amount bigint NOT NULL,
                                    p integer NOT NULL, o bigint NOT NULL) PARTITION BY RANGE (id);
        CREATE TABLE public.events_low PARTITION OF public.events FOR VALUES FROM (1) TO (1001)"
create_expected_table expected 1 "$records"
write_config "$TEST_DIR/sink.yaml" <<'CONFIG'
batch:
  max_rows: 300
  max_latency_ms: 50
errors:
  tolerance: all
  dead_letter_topic: events.dlq
retry:
  initial_backoff_ms: 100
  max_backoff_ms: 1000
  give_up_after_ms: 60000
sinks:
  - topic: events
    table: public.events
    mode: insert
    columns:
      id:     {path: /id, type: bigint}
      name:   {path: /name, type: text}
      amount: {path: /amount, type: bigint}
      p:      {path: "@partition", type: integer}
      o:      {path: "@offset", type: bigint}
CONFIG

produce_records events 1 "$records"
start_daemon "$TEST_DIR/sink.yaml"
wait_for "three writes refused for the missing partition" 45 \
  log_lines_at_least "$DAEMON_LOG" 'no partition of relation "events" found for row' 3
process_alive "$DAEMON_PID" || fail "the daemon exited on a missing partition"
assert_log_matches 'no partition of relation "events" found for row \(Partition key of the failing row contains \(id\) = \([0-9]+\)\.?\)' \
  "the daemon did not log the table and the value"
assert_log_matches "create the partition that holds this value" "the daemon did not say what to do"
assert_eq 0 "$(log_end_offsets events.dlq | awk '{ sum += $2 } END { print sum + 0 }')" \
  "dead letters while the partition is missing"

note "creating the missing partition"
psql_q "CREATE TABLE public.events_high PARTITION OF public.events FOR VALUES FROM (1001) TO (3001)"
wait_until_applied events 60
process_alive "$DAEMON_PID" || fail "the daemon exited"
stop_daemon TERM 15 || fail "the daemon exited with status $? after SIGTERM instead of 0"
assert_exactly_once public.events expected
assert_eq 0 "$(log_end_offsets events.dlq | awk '{ sum += $2 } END { print sum + 0 }')" "dead letters in the end"
if grep -q "sent to the dead letter topic" "$DAEMON_LOG"; then fail "a record was dead-lettered"; fi
pass
