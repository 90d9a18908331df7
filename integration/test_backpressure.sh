#!/usr/bin/env bash
# Backpressure: PostgreSQL slower than Kafka. A lock holds the target table for 10 s while a
# backlog waits in Kafka. The daemon pauses its partitions and keeps polling: it stays in the
# group although the write takes longer than max.poll.interval.ms (6 s here) — no partition is
# lost, there is one assignment —, its memory stays bounded, and once the lock is gone every
# record lands exactly once. (Blocking the poll loop on the write instead would exceed
# max.poll.interval.ms: librdkafka leaves the group and the partitions are lost.)
source "$(dirname "$0")/lib.sh"

readonly records=60000
start_postgres
start_kafka events:4
create_sink_table public.events
create_expected_table expected 1 "$records"
write_fault_config "$TEST_DIR/sink.yaml" events public.events 2000 50
# The session outlives a loaded machine's scheduling hiccups (one assignment is asserted below);
# max.poll.interval.ms, the shortest librdkafka allows beside it, is still far below the lock.
sed -i 's/^    session.timeout.ms: "3000"$/    session.timeout.ms: "6000"/;
        s/^    heartbeat.interval.ms: "500"$/    heartbeat.interval.ms: "500"\n    max.poll.interval.ms: "6000"/' "$TEST_DIR/sink.yaml"
grep -q 'max.poll.interval.ms: "6000"' "$TEST_DIR/sink.yaml" && grep -q 'session.timeout.ms: "6000"' "$TEST_DIR/sink.yaml" ||
  fail "could not set the session and poll timeouts"

produce_records events 1 5000
start_daemon "$TEST_DIR/sink.yaml"
some_applied() { (($(psql_q 'SELECT count(*) FROM public.events') >= 5000)); }
wait_for "the first records to be applied" 30 some_applied

# Hold the table for 10 s, then produce the rest of the backlog behind the lock.
psql_q "BEGIN; LOCK TABLE public.events IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(10); COMMIT;" >/dev/null 2>&1 &
locker=$!
table_locked() { [[ "$(psql_q "SELECT count(*) FROM pg_locks WHERE relation = 'public.events'::regclass AND mode = 'AccessExclusiveLock' AND granted")" == 1 ]]; }
wait_for "the lock to be taken" 10 table_locked
produce_records events 5001 "$records"
paused() { grep -q 'PostgreSQL is slower than Kafka' "$DAEMON_LOG"; }
wait_for "the daemon to pause its partitions behind the slow write" 30 paused
wait "$locker" || true

wait_until_applied events 90
peak_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$DAEMON_PID/status")
stop_daemon TERM 20 || fail "the daemon exited with status $? after SIGTERM"

assert_exactly_once public.events expected
! grep -q 'lost .* partition' "$DAEMON_LOG" || fail "partitions were lost while the write was slow: $(grep 'lost' "$DAEMON_LOG")"
assert_eq 1 "$(grep -c 'rebalance: .* assigned' "$DAEMON_LOG")" "assignments (the daemon stayed in the group)"
((peak_kb < 300 * 1024)) || fail "peak resident memory $peak_kb kB is over 300 MB"
note "peak resident memory: $((peak_kb / 1024)) MB"
pass
