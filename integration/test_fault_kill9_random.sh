#!/usr/bin/env bash
# kill -9 at random instants while records stream in: 20,000 records over 4 partitions are
# produced in the background (over about 25 s) while the daemon writes them in small batches (300 rows, 50 ms),
# and the daemon is killed with SIGKILL 6 times, each a random 0.1-1.5 s after it got its
# partitions (so most kills land inside or between transactions, some while idle), then
# restarted. A final --until-caught-up run must leave the table, which has no unique key,
# holding every record exactly once, with the stored and committed offsets at the log end.
source "$(dirname "$0")/lib.sh"

RANDOM=42
readonly records=20000 kills=6

start_postgres
start_kafka events:4
create_sink_table public.events
create_expected_table expected 1 "$records"
write_fault_config "$TEST_DIR/sink.yaml" events public.events 300 50

start_producer events 1 "$records" 250 0.3
for ((kill_number = 1; kill_number <= kills; kill_number++)); do
  start_daemon "$TEST_DIR/sink.yaml"
  wait_for "run $kill_number to be assigned its partitions" 30 grep -qs "partition(s) assigned" "$DAEMON_LOG"
  delay_ms=$((100 + RANDOM % 1400))
  sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
  status=0
  stop_daemon KILL 10 || status=$?
  assert_eq 137 "$status" "exit status of run $kill_number after kill -9"
  note "kill $kill_number: after ${delay_ms} ms; $(psql_q 'SELECT count(*) FROM public.events') rows so far"
done

wait_producer 60
assert_log_holds events "$records"
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the final run exited with status $? instead of 0"
assert_exactly_once public.events expected
assert_eq "$(log_end_offsets events)" "$(stored_offsets events)" "stored offsets after the final run"
assert_eq "$(log_end_offsets events)" "$(committed_offsets events)" "committed offsets after the final run"
pass
