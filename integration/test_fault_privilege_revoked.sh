#!/usr/bin/env bash
# The daemon's role loses its INSERT privilege on the target table while records stream in
# (the daemon connects as an ordinary role, `sink`): a fatal condition. The daemon must stop
# with exit status 1 and a reason saying permission was denied on the table, promptly (no
# retry loop); everything it committed before is intact, with its offsets.
source "$(dirname "$0")/lib.sh"

readonly records=12000

start_postgres
start_kafka events:4
create_sink_table public.events
psql_q "CREATE ROLE sink LOGIN;
        GRANT CREATE ON SCHEMA public TO sink;
        GRANT SELECT, INSERT ON public.events TO sink"
PG_DSN="host=127.0.0.1 port=$PG_PORT dbname=postgres user=sink" \
  write_fault_config "$TEST_DIR/sink.yaml" events public.events 300 50

start_producer events 1 "$records" 200 0.2
start_daemon "$TEST_DIR/sink.yaml"
wait_for "the daemon to write its first rows" 30 rows_at_least public.events 1000

psql_q "REVOKE INSERT ON public.events FROM sink"
note "revoked INSERT on public.events from sink"
revoked_at=$SECONDS
status=0
wait_daemon_exit 20 || status=$?
assert_eq 1 "$status" "exit status after the INSERT privilege was revoked"
note "the daemon exited $((SECONDS - revoked_at)) s after the revoke"
assert_log_matches 'stopping \(fatal\).*permission denied.*events' \
  "the daemon did not give a fatal reason saying permission was denied on the table"
assert_eq 0 "$(grep -c "PostgreSQL is back" "$DAEMON_LOG" || true)" \
  "recoveries logged: a revoked privilege must not be retried"
grep "stopping" "$DAEMON_LOG"

# What was committed before the revoke is whole: per partition, the rows are exactly the
# offsets below the stored one.
assert_eq "$(stored_offsets events)" \
  "$(psql_q "SELECT p, count(*) FROM public.events GROUP BY p ORDER BY p")" \
  "rows per partition against the stored offsets"
assert_eq 0 "$(psql_q "SELECT count(*) FROM public.events e JOIN kafka_pg_sink_offsets k
                       ON k.group_id = '$KPS_GROUP' AND k.topic = 'events' AND k.\"partition\" = e.p
                       WHERE e.o >= k.next_offset")" "rows at or past their partition's stored offset"
pass
