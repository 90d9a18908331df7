#!/usr/bin/env bash
# Issue 10, case 3: retry.give_up_after_ms counts the whole time PostgreSQL cannot be written to,
# whichever statement fails. Here every reconnect succeeds and every write fails (the table has no
# partition for any record), which used to restart the backoff and the give-up clock on every
# attempt, so the daemon retried forever. With give_up_after_ms 3000 it must exit 1 after about
# 3 s with a message naming the setting and the last error.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka events:2
psql_q "CREATE TABLE public.events (id bigint NOT NULL, name text NOT NULL, amount bigint NOT NULL,
                                    p integer NOT NULL, o bigint NOT NULL) PARTITION BY RANGE (id);
        CREATE TABLE public.events_far PARTITION OF public.events FOR VALUES FROM (1000000) TO (2000000)"
write_config "$TEST_DIR/sink.yaml" <<'CONFIG'
batch:
  max_rows: 300
  max_latency_ms: 50
retry:
  initial_backoff_ms: 100
  max_backoff_ms: 400
  give_up_after_ms: 3000
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
produce_records events 1 500

status=0
KPS_DAEMON_TIMEOUT=40 run_daemon "$TEST_DIR/sink.yaml" || status=$?
assert_eq 1 "$status" "exit status once the outage outlasted retry.give_up_after_ms"
back=$(grep -c "PostgreSQL is back" "$DAEMON_LOG" || true)
((back >= 2)) || fail "expected reconnects that succeed before giving up, found $back"
assert_log_matches 'PostgreSQL unusable for [3-9] s, longer than retry\.give_up_after_ms \(3000 ms\); last error: .*no partition of relation "events"' \
  "the daemon did not give up with a message naming the setting and the last error"
assert_eq 0 "$(psql_q 'SELECT count(*) FROM public.events')" "rows written"
pass
