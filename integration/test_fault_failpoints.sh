#!/usr/bin/env bash
# kill -9 at each exact instant of a batch's life, through the failpoints compiled into the
# daemon (KPS_FAILPOINT=name:N kills the process with SIGKILL the Nth time it passes the
# point): before BEGIN, in the middle of the COPY data, after COMMIT was sent but before its
# reply was read (the commit may or may not have landed), after COMMIT, and before the Kafka
# offset commit. Each point gets its own table and consumer group over the same 3,000
# records; the first run must die at the point (status 137) after a few batches, a restart
# with --until-caught-up must finish, and the table, which has no unique key, must hold every
# record exactly once, with the stored and committed offsets at the log end.
source "$(dirname "$0")/lib.sh"

readonly records=3000
# The third pass: a few batches are committed before the crash, so the restart resumes from
# stored offsets rather than from the start.
readonly failpoints=(before_begin:3 mid_copy:3 after_commit_sent:3 after_commit:3 before_kafka_commit:3)

start_postgres
start_kafka events:3
create_expected_table expected 1 "$records"
produce_records events 1 "$records"
assert_log_holds events "$records"

for failpoint in "${failpoints[@]}"; do
  name=${failpoint%%:*}
  KPS_GROUP=kps-failpoint-$name
  table=public.events_$name
  create_sink_table "$table"
  write_fault_config "$TEST_DIR/$name.yaml" events "$table" 200 50

  status=0
  KPS_FAILPOINT=$failpoint run_daemon "$TEST_DIR/$name.yaml" --until-caught-up || status=$?
  assert_eq 137 "$status" "exit status of the run armed with KPS_FAILPOINT=$failpoint"
  assert_log_matches "failpoint reached" "the run armed with $failpoint did not die at its failpoint"
  rows_at_crash=$(psql_q "SELECT count(*) FROM $table")
  ((rows_at_crash > 0 && rows_at_crash < records)) ||
    fail "$failpoint: $rows_at_crash rows at the crash; expected some batches committed and some not"

  run_daemon "$TEST_DIR/$name.yaml" --until-caught-up || fail "$failpoint: the restart exited with status $? instead of 0"
  note "$failpoint: $rows_at_crash rows at the crash; after the restart:"
  assert_exactly_once "$table" expected
  assert_eq "$(log_end_offsets events)" "$(stored_offsets events)" "$failpoint: stored offsets after the restart"
  assert_eq "$(log_end_offsets events)" "$(committed_offsets events)" "$failpoint: committed offsets after the restart"
done
pass
