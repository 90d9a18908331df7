#!/usr/bin/env bash
# Issue 10, case 3: the database turns read-only for a few seconds while records stream in (as
# during a switchover: SQLSTATE 25006 on the write and on every reconnect), then writable again.
# The daemon must wait it out with backoff (never exit, never dead-letter), resume, apply every
# record exactly once, and stop with exit 0.
source "$(dirname "$0")/lib.sh"

readonly records=6000 read_only_seconds=4

start_postgres
start_kafka events:4
create_sink_table public.events
create_expected_table expected 1 "$records"
write_fault_config "$TEST_DIR/sink.yaml" events public.events 300 50

start_producer events 1 "$records" 200 0.2
start_daemon "$TEST_DIR/sink.yaml"
wait_for "the daemon to write its first rows" 30 rows_at_least public.events 600

note "read-only for ${read_only_seconds}s with $(psql_q 'SELECT count(*) FROM public.events') rows written"
psql_q "ALTER SYSTEM SET default_transaction_read_only = on"
psql_q "SELECT pg_reload_conf()" >/dev/null
wait_for "the daemon to hit the read-only database" 30 grep -q "read-only transaction" "$DAEMON_LOG"
sleep "$read_only_seconds"  # holds the fault; nothing is asserted on time
PGOPTIONS="-c default_transaction_read_only=off" psql_q "ALTER SYSTEM RESET default_transaction_read_only"
psql_q "SELECT pg_reload_conf()" >/dev/null
note "writable again"

wait_for "the daemon to log its recovery" 30 grep -q "PostgreSQL is back" "$DAEMON_LOG"
wait_producer 60
assert_log_holds events "$records"
wait_until_applied events 60
process_alive "$DAEMON_PID" || fail "the daemon exited"
stop_daemon TERM 15 || fail "the daemon exited with status $? after SIGTERM instead of 0"
assert_exactly_once public.events expected
assert_eq "$(stored_offsets events)" "$(committed_offsets events)" "committed offsets after the stop"
pass
