#!/usr/bin/env bash
# A column of the target table dropped while records stream in: a fatal condition. The daemon
# must stop with exit status 1 and a reason naming the column, promptly (no retry loop); what it
# committed before is intact, with its offsets.
source "$(dirname "$0")/lib.sh"

readonly records=12000

start_postgres
start_kafka events:4
create_sink_table public.events
write_fault_config "$TEST_DIR/sink.yaml" events public.events 300 50

start_producer events 1 "$records" 200 0.2
start_daemon "$TEST_DIR/sink.yaml"
wait_for "the daemon to write its first rows" 30 rows_at_least public.events 1000

psql_q "ALTER TABLE public.events DROP COLUMN amount"
note "dropped column amount of public.events"
dropped_at=$SECONDS
status=0
wait_daemon_exit 20 || status=$?
assert_eq 1 "$status" "exit status after the column was dropped"
note "the daemon exited $((SECONDS - dropped_at)) s after the drop"
assert_log_matches 'stopping \(fatal\).*amount' "the daemon did not give a fatal reason naming the column"
assert_eq 0 "$(grep -c "PostgreSQL is back" "$DAEMON_LOG" || true)" \
  "recoveries logged: a dropped column must not be retried"
grep "stopping" "$DAEMON_LOG"
assert_eq "$(stored_offsets events)" \
  "$(psql_q "SELECT p, count(*) FROM public.events GROUP BY p ORDER BY p")" \
  "rows per partition against the stored offsets"
pass
