#!/usr/bin/env bash
# Issue 10, case 4: another session holds the sink table locked (BEGIN; LOCK TABLE ... ACCESS
# EXCLUSIVE) while records arrive. The write in flight used to block forever with /healthz and
# /readyz green. Now: the gauge kafka_pg_sink_write_in_flight_seconds grows, /readyz answers 503
# naming the stuck write, a warning is logged, /healthz stays 200 (the loop keeps ticking); the
# write ends with lock_timeout (55P03) and is retried, never a stop; once the lock is released
# every record lands exactly once. The DSN's own options try to turn the timeouts off: the daemon's
# settings must win.
source "$(dirname "$0")/lib.sh"

readonly first_records=1000 records=2000

start_postgres
start_kafka events:2
create_sink_table public.events
create_expected_table expected 1 "$records"
write_fault_config "$TEST_DIR/sink.yaml" events public.events 300 50
port=$(free_port)
sed -i "s|^  listen: \"\"|  listen: \"127.0.0.1:$port\"|;
        s|^  dsn: \"\\(.*\\)\"|  dsn: \"\\1 options='-c lock_timeout=0 -c statement_timeout=0'\"\n  lock_timeout_ms: 4000\n  write_stuck_after_ms: 1500|" \
  "$TEST_DIR/sink.yaml"
grep -q "127.0.0.1:$port" "$TEST_DIR/sink.yaml" || fail "could not enable HTTP in the test config"
grep -q "write_stuck_after_ms: 1500" "$TEST_DIR/sink.yaml" && grep -q "options=.-c lock_timeout=0" "$TEST_DIR/sink.yaml" ||
  fail "could not set the timeouts in the test config"
url="http://127.0.0.1:$port"
http_status() { curl -s -o /dev/null -w '%{http_code}' "$url$1" || true; }
gauge() { curl -s "$url/metrics" | awk '$1 == "kafka_pg_sink_write_in_flight_seconds" { print $2 }'; }
gauge_at_least() { awk -v value="$(gauge)" -v floor="$1" 'BEGIN { exit !(value != "" && value >= floor) }'; }
readyz_names_stuck_write() {
  [[ "$(curl -s -w ' %{http_code}' "$url/readyz")" =~ in\ flight\ for\ .*\ 503$ ]]
}

produce_records events 1 "$first_records"
start_daemon "$TEST_DIR/sink.yaml"
wait_until_applied events 60
wait_for "/readyz to answer 200" 20 bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' $url/readyz) == 200 ]]"
wait_for "write_in_flight_seconds to read 0 with nothing to write" 10 bash -c \
  "curl -s $url/metrics | grep -q '^kafka_pg_sink_write_in_flight_seconds 0$'"

# The lock holder: a psql session fed through a FIFO, so the test decides when it commits.
mkfifo "$TEST_DIR/lock.fifo"
"$PG_BIN/psql" -XAtq -d "$PG_DSN" <"$TEST_DIR/lock.fifo" >"$TEST_DIR/lock.log" 2>&1 &
track_pid $!
exec 7>"$TEST_DIR/lock.fifo"
echo "BEGIN; LOCK TABLE public.events IN ACCESS EXCLUSIVE MODE; SELECT 'locked';" >&7
wait_for "the other session to hold the lock" 20 grep -q locked "$TEST_DIR/lock.log"
note "public.events is locked; producing more records"
produce_records events $((first_records + 1)) "$records"

wait_for "the write in flight to be older than 1.5 s" 30 gauge_at_least 1.5
wait_for "/readyz to answer 503 naming the stuck write" 30 readyz_names_stuck_write
assert_eq 200 "$(http_status /healthz)" "/healthz while the write is stuck"
wait_for "a warning about the stuck write" 30 grep -q 'warn a write to "public"."events" has been in flight for' "$DAEMON_LOG"
wait_for "the write to end with lock_timeout" 30 grep -q "canceling statement due to lock timeout" "$DAEMON_LOG"
wait_for "a second write blocked after the retry" 30 \
  log_lines_at_least "$DAEMON_LOG" "canceling statement due to lock timeout" 2
# Read whole before grep: `curl | grep -q` under pipefail fails when grep stops reading early.
metrics=$(curl -s "$url/metrics")
grep -q '^kafka_pg_sink_database_errors_total{sqlstate_class="55"} [1-9]' <<<"$metrics" ||
  fail "the lock timeouts were not counted as database errors of class 55"
process_alive "$DAEMON_PID" || fail "the daemon exited while the table was locked"
echo "COMMIT;" >&7
exec 7>&-
note "lock released"

wait_until_applied events 60
wait_for "/readyz to answer 200 again" 20 bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' $url/readyz) == 200 ]]"
process_alive "$DAEMON_PID" || fail "the daemon exited"
stop_daemon TERM 15 || fail "the daemon exited with status $? after SIGTERM instead of 0"
assert_exactly_once public.events expected
pass
