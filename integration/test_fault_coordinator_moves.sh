#!/usr/bin/env bash
# The group coordinator moves twice while records stream in (broker 1, then 2, then 3; the old
# coordinator answers NOT_COORDINATOR from then on), the second time with the old coordinator
# taken down for 3 s as well: the daemon must find the new coordinator and carry on without
# exiting; the table (no unique key) must end up with every record exactly once, and the
# offsets committed to Kafka (through the new coordinator) must match the stored ones.
source "$(dirname "$0")/lib.sh"

readonly records=10000

start_postgres
KPS_MOCK_BROKERS=3 start_kafka events:4
mock_control coordinator group "$KPS_GROUP" 1
create_sink_table public.events
create_expected_table expected 1 "$records"
write_fault_config "$TEST_DIR/sink.yaml" events public.events 300 50

start_producer events 1 "$records" 200 0.2
start_daemon "$TEST_DIR/sink.yaml"
wait_for "the daemon to write its first rows" 30 rows_at_least public.events 1000

mock_control coordinator group "$KPS_GROUP" 2
rows=$(psql_q "SELECT count(*) FROM public.events")
wait_for "the daemon to write after the first move" 30 rows_at_least public.events $((rows + 500))

mock_control coordinator group "$KPS_GROUP" 3
mock_control broker-down 2
sleep 3
mock_control broker-up 2
rows=$(psql_q "SELECT count(*) FROM public.events")
wait_for "the daemon to write after the second move" 30 rows_at_least public.events $((rows + 500))
process_alive "$DAEMON_PID" || fail "the daemon exited after the coordinator moved"

wait_producer 60
assert_log_holds events "$records"
wait_until_applied events 60
wait_committed_matches_stored events 15
stop_daemon TERM 15 || fail "the daemon exited with status $? after SIGTERM instead of 0"
assert_exactly_once public.events expected
pass
