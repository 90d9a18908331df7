#!/usr/bin/env bash
# PostgreSQL restarted with `pg_ctl restart -m immediate` (every backend killed, crash recovery
# on start) while records stream in: the daemon must not exit; it must log the failed write,
# reconnect with backoff, re-read the stored offsets, and resume, so that the table (no unique
# key) ends up with every record exactly once and the Kafka offsets match the stored ones.
source "$(dirname "$0")/lib.sh"

readonly records=12000

start_postgres
start_kafka events:4
create_sink_table public.events
create_expected_table expected 1 "$records"
write_fault_config "$TEST_DIR/sink.yaml" events public.events 300 50

start_producer events 1 "$records" 200 0.2
start_daemon "$TEST_DIR/sink.yaml"
wait_for "the daemon to write its first rows" 30 rows_at_least public.events 1000

note "restarting PostgreSQL (immediate) with $(psql_q 'SELECT count(*) FROM public.events') rows written"
restart_postgres_immediate 0
note "PostgreSQL is up again"
wait_for "the daemon to log its recovery" 30 grep -q "PostgreSQL is back" "$DAEMON_LOG"
process_alive "$DAEMON_PID" || fail "the daemon exited after the PostgreSQL restart"
assert_log_matches "PostgreSQL write failed" "the daemon did not log the failed write"
assert_log_matches "pausing [0-9]+ partition" "the daemon did not log that it paused its partitions"

wait_producer 60
assert_log_holds events "$records"
wait_until_applied events 60
process_alive "$DAEMON_PID" || fail "the daemon exited"
stop_daemon TERM 15 || fail "the daemon exited with status $? after SIGTERM instead of 0"
assert_exactly_once public.events expected
assert_eq "$(stored_offsets events)" "$(committed_offsets events)" "committed offsets after the stop"
pass
