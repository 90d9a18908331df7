#!/usr/bin/env bash
# PostgreSQL away for 8 s (stopped, then started again) while records stream in, much longer
# than the group's session timeout (3 s): the daemon must keep polling with its partitions
# paused, so that it stays in the group (assigned once, never revoked, same process), retry the
# connection with backoff, and resume when the database is back; the table (no unique key) must
# end up with every record exactly once.
source "$(dirname "$0")/lib.sh"

readonly records=12000 outage_seconds=8

start_postgres
start_kafka events:4
create_sink_table public.events
create_expected_table expected 1 "$records"
write_fault_config "$TEST_DIR/sink.yaml" events public.events 300 50

start_producer events 1 "$records" 200 0.2
start_daemon "$TEST_DIR/sink.yaml"
wait_for "the daemon to write its first rows" 30 rows_at_least public.events 1000

note "stopping PostgreSQL for ${outage_seconds}s with $(psql_q 'SELECT count(*) FROM public.events') rows written"
restart_postgres_immediate "$outage_seconds"
note "PostgreSQL is up again"
wait_for "the daemon to log its recovery" 30 grep -q "PostgreSQL is back" "$DAEMON_LOG"
process_alive "$DAEMON_PID" || fail "the daemon exited during the outage"
assert_log_matches "reconnect attempt [0-9]+ failed" "the daemon did not log its failed reconnect attempts"
back_after_ms=$(grep -Eo "PostgreSQL is back after [0-9]+ ms" "$DAEMON_LOG" | grep -Eo "[0-9]+")
((back_after_ms >= (outage_seconds - 1) * 1000)) ||
  fail "the daemon says PostgreSQL was back after $back_after_ms ms; the outage lasted ${outage_seconds}s"

wait_producer 60
assert_log_holds events "$records"
wait_until_applied events 60
process_alive "$DAEMON_PID" || fail "the daemon exited"
assert_eq 1 "$(assignments_in "$DAEMON_LOG")" "times the daemon was assigned partitions (a second means it left the group)"
assert_eq 0 "$(grep -c "revoked" "$DAEMON_LOG" || true)" "partition revocations logged by the daemon"
stop_daemon TERM 15 || fail "the daemon exited with status $? after SIGTERM instead of 0"
assert_exactly_once public.events expected
assert_eq "$(stored_offsets events)" "$(committed_offsets events)" "committed offsets after the stop"
pass
