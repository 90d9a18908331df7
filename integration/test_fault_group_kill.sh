#!/usr/bin/env bash
# Instances of one consumer group, one of them killed with SIGKILL mid-stream: a group of two
# and a group of three run side by side (each group with its own table) over the same stream of
# 12,000 records on 6 partitions. In each, the survivors must take over the dead instance's
# partitions from the offsets it stored, and each table (no unique key) must end up with every
# record exactly once.
source "$(dirname "$0")/lib.sh"

readonly records=12000 partitions=6 group_sizes=(2 3) victim=2

start_postgres
start_kafka "events:$partitions"
create_expected_table expected 1 "$records"

# The partitions owned by the members of the group of SIZE, summed over INSTANCES.
partitions_owned_by() {
  local size=$1 number total=0
  shift
  for number in "$@"; do total=$((total + $(owned_partitions "$TEST_DIR/g$size-i$number.log"))); done
  echo "$total"
}

every_member_owns_partitions() {
  local size=$1 number
  for ((number = 1; number <= size; number++)); do
    (($(partitions_owned_by "$size" "$number") > 0)) || return 1
  done
}

survivors_own_every_partition() {
  local size=$1 number survivors=()
  for ((number = 1; number <= size; number++)); do ((number == victim)) || survivors+=("$number"); done
  (($(partitions_owned_by "$size" "${survivors[@]}") == partitions))
}

for size in "${group_sizes[@]}"; do
  create_sink_table "public.events_$size"
  for ((number = 1; number <= size; number++)); do
    KPS_GROUP=kps-group-of-$size write_instance_config "$TEST_DIR/g$size-i$number.yaml" "g$size-i$number" \
      events "public.events_$size" 300 50
    start_instance "g$size-i$number" "$TEST_DIR/g$size-i$number.yaml"
  done
done
start_producer events 1 "$records" 200 0.2

for size in "${group_sizes[@]}"; do
  wait_for "every member of the group of $size to own partitions" 30 every_member_owns_partitions "$size"
  wait_for "the group of $size to write a quarter of the records" 30 rows_at_least "public.events_$size" $((records / 4))
  status=0
  stop_instance "g$size-i$victim" KILL 10 || status=$?
  assert_eq 137 "$status" "exit status of the killed instance of the group of $size"
  note "killed instance $victim of the group of $size with $(psql_q "SELECT count(*) FROM public.events_$size") rows written"
done
for size in "${group_sizes[@]}"; do
  wait_for "the survivors of the group of $size to own all $partitions partitions" 30 \
    survivors_own_every_partition "$size"
done

wait_producer 60
assert_log_holds events "$records"
for size in "${group_sizes[@]}"; do
  KPS_GROUP=kps-group-of-$size
  wait_until_applied events 60
  for ((number = 1; number <= size; number++)); do
    ((number == victim)) && continue
    stop_instance "g$size-i$number" TERM 15 ||
      fail "instance $number of the group of $size exited with status $? after SIGTERM instead of 0"
  done
  assert_exactly_once "public.events_$size" expected
  assert_eq "$(stored_offsets events)" "$(committed_offsets events)" "committed offsets of the group of $size"
done
pass
