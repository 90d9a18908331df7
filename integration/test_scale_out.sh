#!/usr/bin/env bash
# Scale-out is the consumer group: three instances share a 12-partition topic while records keep
# arriving; one is killed with SIGKILL mid-stream and its partitions move to the survivors; a
# fourth joins mid-stream and takes partitions over from them. At the end (everything produced,
# the instances stopped one by one with SIGTERM) every record is in the table exactly once
# (insert mode, no unique key: a duplicate would be a second row) and each partition's stored
# offset is its high watermark. (Kafka's committed offsets after the handovers are the subject of
# test_committed_offsets_new_owner.sh.)
source "$(dirname "$0")/lib.sh"

readonly records=36000 partitions=12
# The producer runs for ~30 s (72 chunks of 500, 0.4 s apart): the kill and the join happen
# while it is still producing.
readonly producer_chunk=500 producer_pause=0.4

start_postgres
start_kafka "scale:$partitions"
create_sink_table public.scale
create_expected_table expected 1 "$records"

instance_config() {
  write_instance_config "$TEST_DIR/$1.yaml" "$1" scale public.scale 300 50
}

# total_owned INSTANCE...: the partitions those instances own, by their latest rebalance lines.
total_owned() {
  local name total=0
  for name in "$@"; do total=$((total + $(owned_partitions "${INSTANCE_LOGS[$name]}"))); done
  echo "$total"
}

each_owns_partitions() {
  local name
  for name in "$@"; do owns_partitions "${INSTANCE_LOGS[$name]}" || return 1; done
}

own_every_partition() {
  (($(total_owned "$@") == partitions))
}

for name in i1 i2 i3; do
  instance_config "$name"
  start_instance "$name" "$TEST_DIR/$name.yaml"
done
start_producer scale 1 "$records" "$producer_chunk" "$producer_pause"

wait_for "each of the three instances to own partitions" 30 each_owns_partitions i1 i2 i3
wait_for "the three to own all $partitions partitions between them" 30 own_every_partition i1 i2 i3
note "partitions: i1 $(owned_partitions_list "${INSTANCE_LOGS[i1]}"), i2 $(owned_partitions_list "${INSTANCE_LOGS[i2]}"), i3 $(owned_partitions_list "${INSTANCE_LOGS[i3]}")"
wait_for "a sixth of the records to be written" 30 rows_at_least public.scale $((records / 6))

status=0
stop_instance i2 KILL 10 || status=$?
assert_eq 137 "$status" "exit status of the instance killed with SIGKILL"
note "killed i2 at $(psql_q 'SELECT count(*) FROM public.scale') rows"
process_alive "$PRODUCER_PID" || fail "the producer had finished before the kill: not mid-stream"
wait_for "the survivors to own all $partitions partitions" 30 own_every_partition i1 i3

instance_config i4
start_instance i4 "$TEST_DIR/i4.yaml"
wait_for "the new instance to own partitions" 30 owns_partitions "${INSTANCE_LOGS[i4]}"
wait_for "i1, i3 and i4 to own all $partitions partitions between them" 30 own_every_partition i1 i3 i4
process_alive "$PRODUCER_PID" || fail "the producer had finished before the fourth instance joined: not mid-stream"
note "i4 joined at $(psql_q 'SELECT count(*) FROM public.scale') rows; partitions: i1 $(owned_partitions_list "${INSTANCE_LOGS[i1]}"), i3 $(owned_partitions_list "${INSTANCE_LOGS[i3]}"), i4 $(owned_partitions_list "${INSTANCE_LOGS[i4]}")"
# The newcomer got its share from the survivors, not the leftovers of an idle group.
each_owns_partitions i1 i3 i4 || fail "after the join some instance owns nothing"

wait_producer 60
assert_log_holds scale "$records"
wait_until_applied scale 60
# Scale down one replica at a time, each stop once the group has settled after the previous one
# (as a rolling scale-down does); test_sigterm_all_instances.sh stops them all at once.
status=0
stop_instance i1 TERM 15 || status=$?
assert_eq 0 "$status" "exit status of instance i1 after SIGTERM"
wait_for "i3 and i4 to own all $partitions partitions" 30 own_every_partition i3 i4
status=0
stop_instance i3 TERM 15 || status=$?
assert_eq 0 "$status" "exit status of instance i3 after SIGTERM"
wait_for "i4 to own all $partitions partitions" 30 own_every_partition i4
status=0
stop_instance i4 TERM 15 || status=$?
assert_eq 0 "$status" "exit status of instance i4 after SIGTERM"

assert_exactly_once public.scale expected
assert_eq "$(log_end_offsets scale)" "$(stored_offsets scale)" "stored offsets vs the high watermarks"
# More than one instance did the work: every instance that ran wrote rows of its own partitions.
for name in i1 i2 i3 i4; do
  (($(assignments_in "${INSTANCE_LOGS[$name]}") > 0)) || fail "instance $name was never given partitions"
done
writers=$(psql_q "SELECT count(DISTINCT p) FROM public.scale")
assert_eq "$partitions" "$writers" "partitions with rows"
pass
