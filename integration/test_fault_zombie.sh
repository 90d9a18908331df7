#!/usr/bin/env bash
# A zombie instance: of two instances in one group, one is stopped with SIGSTOP for 7 s (longer
# than session.timeout.ms, 3 s) while it holds records it has not written yet (its batches close
# only every 2 s), so the group gives its partitions to the other instance, which writes them
# from the stored offsets; then it is resumed with SIGCONT and tries to write its stale batch.
# The compare-and-set on the offsets row must refuse that batch (or the instance must abandon it
# on learning its partitions were lost). The zombie then rejoins the group, which must work on
# as a group of two on more records; then the survivor stops and the former zombie must take
# every partition, the ones it once lost included, and apply the last records alone. The table
# (no unique key) must end up with every record exactly once.
source "$(dirname "$0")/lib.sh"

readonly records=12000 first_phase=8000 second_phase=10000 partitions=4 stop_seconds=7

start_postgres
start_kafka "events:$partitions"
create_sink_table public.events
create_expected_table expected 1 "$records"
write_instance_config "$TEST_DIR/zombie.yaml" zombie events public.events 100000 2000
# One writer lane for the zombie: stopped in the middle of a transaction, it would hold its
# partitions' offset rows locked until it resumes (as any stopped PostgreSQL client holds its
# locks), and the survivor could not write them while it is stopped. With one lane its writes are
# far apart (every 2 s), so the stop lands between two of them, as the test means it to.
sed -i 's|^  dsn: \(.*\)$|  dsn: \1\n  pool_size: 1|' "$TEST_DIR/zombie.yaml"
grep -q "^  pool_size: 1$" "$TEST_DIR/zombie.yaml" || fail "could not give the zombie one writer lane"
write_instance_config "$TEST_DIR/survivor.yaml" survivor events public.events 300 50
zombie_log=$TEST_DIR/zombie.log
survivor_log=$TEST_DIR/survivor.log

# The sum of the stored next offsets of the partitions the zombie owns (or owned when stopped).
zombie_progress() {
  psql_q "SELECT coalesce(sum(next_offset), 0) FROM kafka_pg_sink_offsets
          WHERE group_id = '$KPS_GROUP' AND \"partition\" IN ($zombie_partitions)"
}

progress_beyond() {
  (($(zombie_progress) > $1))
}

rejoined_after() {
  (($(assignments_in "$zombie_log") > $1)) && owns_partitions "$zombie_log"
}

start_instance zombie "$TEST_DIR/zombie.yaml"
start_instance survivor "$TEST_DIR/survivor.yaml"
start_producer events 1 "$first_phase" 200 0.2
wait_for "the zombie to own partitions" 30 owns_partitions "$zombie_log"
wait_for "the survivor to own partitions" 30 owns_partitions "$survivor_log"
# The group may rebalance once more while the second member joins; a batch of the zombie's in
# the table means its assignment has settled.
zombie_partitions=$(owned_partitions_list "$zombie_log")
wait_for "the zombie to write a batch" 30 progress_beyond 0
zombie_partitions=$(owned_partitions_list "$zombie_log")
# Records stream in all the time and the zombie writes every 2 s: a second after a batch of its
# it holds about a second of records it has not written.
sleep 1
signal_instance zombie STOP
stopped_at=$SECONDS
progress_at_stop=$(zombie_progress)
note "the zombie owned partition(s) $zombie_partitions"
wait_for "the survivor to own all $partitions partitions" 30 owns_partitions "$survivor_log" "$partitions"
wait_for "the survivor to write the zombie's partitions" 30 progress_beyond "$progress_at_stop"
sleep $((stopped_at + stop_seconds - SECONDS > 0 ? stopped_at + stop_seconds - SECONDS : 0))
zombie_assignments=$(assignments_in "$zombie_log")
signal_instance zombie CONT

wait_for "the zombie to learn it lost its partitions" 15 \
  grep -Eq "lost [0-9]+ partition|was moved by another consumer" "$zombie_log"
if grep -q "was moved by another consumer" "$zombie_log"; then
  note "the zombie's stale batch was refused by the compare-and-set: $(grep -m1 "was moved by another consumer" "$zombie_log")"
else
  note "the zombie learnt it had lost its partitions before writing, and abandoned its batch"
fi
wait_for "the zombie to rejoin the group and own partitions again" 30 rejoined_after "$zombie_assignments"
note "the zombie is back in the group with partition(s) $(owned_partitions_list "$zombie_log")"

wait_producer 60
produce_records events $((first_phase + 1)) "$second_phase"
wait_until_applied events 30
note "the group of two applied records up to $second_phase"

# Alone, the former zombie must take every partition, the ones it once lost included.
stop_instance survivor TERM 15 || fail "the survivor exited with status $? after SIGTERM instead of 0"
wait_for "the former zombie to own all $partitions partitions" 30 owns_partitions "$zombie_log" "$partitions"
produce_records events $((second_phase + 1)) "$records"
assert_log_holds events "$records"
wait_until_applied events 30
instance_alive zombie || fail "the zombie exited"
stop_instance zombie TERM 15 || fail "the zombie exited with status $? after SIGTERM instead of 0"
assert_exactly_once public.events expected
assert_eq "$(stored_offsets events)" "$(committed_offsets events)" "committed offsets after the stop"
pass
