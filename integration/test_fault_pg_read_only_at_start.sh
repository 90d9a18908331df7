#!/usr/bin/env bash
# Issue 10, case 3: a database that is read-only when the daemon starts (a switchover in progress,
# or default_transaction_read_only) refuses even CREATE TABLE IF NOT EXISTS on the existing offsets
# table with SQLSTATE 25006, which used to stop the daemon with exit 1 at once. It must wait with
# backoff, alive and not ready, and once the database takes writes again apply every record exactly
# once.
source "$(dirname "$0")/lib.sh"

readonly records=3000

start_postgres
start_kafka events:2
create_sink_table public.events
create_expected_table expected 1 "$records"
# As after an earlier run: the offsets table exists (the daemon's own definition).
psql_q "CREATE TABLE kafka_pg_sink_offsets (group_id text NOT NULL, topic text NOT NULL, \"partition\" integer NOT NULL,
        next_offset bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (group_id, topic, \"partition\"))"
write_fault_config "$TEST_DIR/sink.yaml" events public.events 300 50
port=$(free_port)
sed -i "s|^  listen: \"\"|  listen: \"127.0.0.1:$port\"|" "$TEST_DIR/sink.yaml"
grep -q "127.0.0.1:$port" "$TEST_DIR/sink.yaml" || fail "could not enable HTTP in the test config"
url="http://127.0.0.1:$port"
http_status() { curl -s -o /dev/null -w '%{http_code}' "$url$1" || true; }

produce_records events 1 "$records"
psql_q "ALTER DATABASE postgres SET default_transaction_read_only = on"
start_daemon "$TEST_DIR/sink.yaml"
wait_for "three start-up attempts refused as read-only" 30 \
  log_lines_at_least "$DAEMON_LOG" "PostgreSQL unavailable \(.*read-only transaction.*\); retrying in" 3
process_alive "$DAEMON_PID" || fail "the daemon exited on a read-only database"
assert_eq 503 "$(http_status /readyz)" "/readyz while the database is read-only"
readyz=$(curl -s "$url/readyz" || true)
[[ "$readyz" == *"waiting for PostgreSQL at start-up"*"read-only transaction"* ]] ||
  fail "/readyz does not say what it waits for: $readyz"
assert_eq 200 "$(http_status /healthz)" "/healthz while the database is read-only"
assert_eq 0 "$(psql_q 'SELECT count(*) FROM public.events')" "rows written while read-only"

note "making the database writable again"
PGOPTIONS="-c default_transaction_read_only=off" psql_q "ALTER DATABASE postgres RESET default_transaction_read_only"
wait_until_applied events 60
wait_for "/readyz to answer 200" 20 bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' $url/readyz) == 200 ]]"
process_alive "$DAEMON_PID" || fail "the daemon exited"
stop_daemon TERM 15 || fail "the daemon exited with status $? after SIGTERM instead of 0"
assert_exactly_once public.events expected
pass
