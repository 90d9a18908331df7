#!/usr/bin/env bash
# The daemon's PostgreSQL backends (one per writer lane) terminated (pg_terminate_backend,
# SQLSTATE 57P01) three times while records stream in: each time the daemon must log the failed write, reconnect,
# re-read the stored offsets and resume without exiting, and the table (no unique key) must
# end up with every record exactly once.
source "$(dirname "$0")/lib.sh"

readonly records=12000 terminations=3

start_postgres
start_kafka events:4
create_sink_table public.events
create_expected_table expected 1 "$records"
write_fault_config "$TEST_DIR/sink.yaml" events public.events 300 50

start_producer events 1 "$records" 200 0.2
start_daemon "$TEST_DIR/sink.yaml"
wait_for "the daemon to write its first rows" 30 rows_at_least public.events 1000

for ((termination = 1; termination <= terminations; termination++)); do
  # Materialized: pg_terminate_backend must only ever see the daemon's backends.
  terminated=$(psql_q "WITH daemon AS MATERIALIZED
                         (SELECT pid FROM pg_stat_activity WHERE application_name = 'kafka-pg-sink')
                       SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM daemon")
  note "termination $termination: $terminated backend(s) terminated" \
    "with $(psql_q 'SELECT count(*) FROM public.events') rows written"
  # One backend per writer lane (postgres.pool_size, default 4), every one of them terminated.
  assert_eq 4 "$terminated" "daemon backends terminated by termination $termination"
  wait_for "recovery $termination to be logged" 30 log_lines_at_least "$DAEMON_LOG" "PostgreSQL is back" "$termination"
  process_alive "$DAEMON_PID" || fail "the daemon exited after termination $termination"
  sleep 1
done
assert_log_matches "PostgreSQL write failed" "the daemon did not log a failed write"

wait_producer 60
assert_log_holds events "$records"
wait_until_applied events 60
process_alive "$DAEMON_PID" || fail "the daemon exited"
stop_daemon TERM 15 || fail "the daemon exited with status $? after SIGTERM instead of 0"
assert_exactly_once public.events expected
assert_eq "$(stored_offsets events)" "$(committed_offsets events)" "committed offsets after the stop"
pass
