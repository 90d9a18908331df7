#!/usr/bin/env bash
# The broker leading every partition goes down for 5 s while records stream in (3 brokers:
# broker 2 leads the 4 partitions, broker 1 coordinates the group), then comes back: consumption
# must stall while it is away (proof the fault bites) and resume after, without the daemon
# exiting, and the table (no unique key) must end up with every record exactly once.
source "$(dirname "$0")/lib.sh"

readonly records=10000 partitions=4 leader=2 down_seconds=5

start_postgres
KPS_MOCK_BROKERS=3 start_kafka "events:$partitions"
for ((partition = 0; partition < partitions; partition++)); do mock_control leader events "$partition" "$leader"; done
mock_control coordinator group "$KPS_GROUP" 1
create_sink_table public.events
create_expected_table expected 1 "$records"
write_fault_config "$TEST_DIR/sink.yaml" events public.events 300 50

start_producer events 1 "$records" 200 0.2
start_daemon "$TEST_DIR/sink.yaml"
wait_for "the daemon to write its first rows" 30 rows_at_least public.events 1000

mock_control broker-down "$leader"
# What was fetched before the broker went away may still be written during the first second.
sleep 1
rows_while_down=$(psql_q "SELECT count(*) FROM public.events")
sleep $((down_seconds - 1))
assert_eq "$rows_while_down" "$(psql_q "SELECT count(*) FROM public.events")" \
  "rows written while the leader of every partition was down (the fault had no effect)"
mock_control broker-up "$leader"
wait_for "the daemon to write again" 30 rows_at_least public.events $((rows_while_down + 1))
process_alive "$DAEMON_PID" || fail "the daemon exited while the broker was away"

wait_producer 60
assert_log_holds events "$records"
wait_until_applied events 60
stop_daemon TERM 15 || fail "the daemon exited with status $? after SIGTERM instead of 0"
assert_exactly_once public.events expected
assert_eq "$(stored_offsets events)" "$(committed_offsets events)" "committed offsets after the stop"
pass
