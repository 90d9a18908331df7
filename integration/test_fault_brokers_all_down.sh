#!/usr/bin/env bash
# All 3 brokers down for 5 s while records stream in (longer than the session timeout, so the
# group coordinator is gone too), then back: the daemon must not exit, consumption must stall
# while the cluster is away and resume after, and the table (no unique key) must end up with
# every record exactly once, with the Kafka offsets matching the stored ones.
source "$(dirname "$0")/lib.sh"

readonly records=10000 brokers=3 down_seconds=5

start_postgres
KPS_MOCK_BROKERS=$brokers start_kafka events:4
create_sink_table public.events
create_expected_table expected 1 "$records"
write_fault_config "$TEST_DIR/sink.yaml" events public.events 300 50

start_producer events 1 "$records" 200 0.2
start_daemon "$TEST_DIR/sink.yaml"
wait_for "the daemon to write its first rows" 30 rows_at_least public.events 1000

for ((broker = 1; broker <= brokers; broker++)); do mock_control broker-down "$broker"; done
sleep 1
rows_while_down=$(psql_q "SELECT count(*) FROM public.events")
sleep $((down_seconds - 1))
assert_eq "$rows_while_down" "$(psql_q "SELECT count(*) FROM public.events")" \
  "rows written while every broker was down (the fault had no effect)"
for ((broker = 1; broker <= brokers; broker++)); do mock_control broker-up "$broker"; done
# librdkafka's reconnect backoff (up to 10 s) and the group's rejoin come first.
wait_for "the daemon to write again after the brokers came back" 40 \
  rows_at_least public.events $((rows_while_down + 1))
process_alive "$DAEMON_PID" || fail "the daemon exited while the brokers were away"

wait_producer 60
assert_log_holds events "$records"
wait_until_applied events 60
wait_committed_matches_stored events 15
stop_daemon TERM 15 || fail "the daemon exited with status $? after SIGTERM instead of 0"
assert_exactly_once public.events expected
pass
