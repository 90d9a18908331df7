#!/usr/bin/env bash
# The target table dropped while records stream in: a fatal condition. The daemon must stop
# with exit status 1 and a reason naming the table, promptly (no retry loop), and a restart must
# fail the same way at once rather than skip anything.
source "$(dirname "$0")/lib.sh"

readonly records=12000

start_postgres
start_kafka events:4
create_sink_table public.events
write_fault_config "$TEST_DIR/sink.yaml" events public.events 300 50

start_producer events 1 "$records" 200 0.2
start_daemon "$TEST_DIR/sink.yaml"
wait_for "the daemon to write its first rows" 30 rows_at_least public.events 1000

psql_q "DROP TABLE public.events"
note "dropped public.events"
dropped_at=$SECONDS
status=0
wait_daemon_exit 20 || status=$?
assert_eq 1 "$status" "exit status after the table was dropped"
note "the daemon exited $((SECONDS - dropped_at)) s after the drop"
assert_log_matches 'stopping \(fatal\).*events' "the daemon did not give a fatal reason naming the table"
assert_eq 0 "$(grep -c "PostgreSQL is back" "$DAEMON_LOG" || true)" \
  "recoveries logged: a dropped table must not be retried"
grep -E "error|stopping" "$DAEMON_LOG" | tail -n 3

status=0
run_daemon "$TEST_DIR/sink.yaml" || status=$?
assert_eq 1 "$status" "exit status of a restart without the table"
assert_log_matches 'does not exist' "the restart did not say the table does not exist"
grep -E "stopping" "$DAEMON_LOG"
pass
