#!/usr/bin/env bash
# Every replica gets SIGTERM at the same instant, as Kubernetes does when a StatefulSet with
# podManagementPolicy Parallel (the chart's) is scaled to zero or deleted: four instances over 12
# partitions, records arriving, all four signalled together, five rounds. Each leave starts a
# rebalance while the others are draining; every instance must still exit 0 (no crash, no hang)
# within shutdown_timeout_ms, and in the end every record is applied exactly once.
#
# This caught a crash: rd_kafka_rebalance_protocol() returns NULL while rd_kafka_consumer_close()
# runs the revoke of a group that is rebalancing, and the rebalance callback passed it to strcmp
# (SIGSEGV, exit 139, in about one stop out of ten).
source "$(dirname "$0")/lib.sh"

readonly partitions=12 rounds=5 records_per_round=2000 instances=(a b c d)
readonly shutdown_timeout_seconds=10  # write_config sets shutdown_timeout_ms: 10000

start_postgres
start_kafka "stopall:$partitions"
create_sink_table public.stopall
create_expected_table expected 1 $((rounds * records_per_round))

every_instance_owns_partitions() {
  local round=$1 name
  for name in "${instances[@]}"; do owns_partitions "${INSTANCE_LOGS[$name-$round]}" || return 1; done
}

for ((round = 1; round <= rounds; round++)); do
  for name in "${instances[@]}"; do
    write_instance_config "$TEST_DIR/$name-$round.yaml" "$name-$round" stopall public.stopall 300 50
    start_instance "$name-$round" "$TEST_DIR/$name-$round.yaml"
  done
  wait_for "all ${#instances[@]} instances of round $round to own partitions" 30 every_instance_owns_partitions "$round"
  first=$(((round - 1) * records_per_round + 1))
  produce_records stopall "$first" $((first + records_per_round - 1))
  # Signalled while the round's records stream in.
  wait_for "the first records of round $round" 30 rows_at_least public.stopall "$first"
  pids=()
  for name in "${instances[@]}"; do pids+=("${INSTANCE_PIDS[$name-$round]}"); done
  note "round $round: SIGTERM to ${pids[*]} at $(psql_q 'SELECT count(*) FROM public.stopall') rows"
  kill -TERM "${pids[@]}"
  for name in "${instances[@]}"; do
    status=0
    wait_instance_exit "$name-$round" $((shutdown_timeout_seconds + 5)) || status=$?
    ((status == 0)) || fail "round $round: instance $name exited with status $status after SIGTERM instead of 0"
  done
done

# Whatever the last round had not applied, a final run applies.
run_daemon "$TEST_DIR/a-1.yaml" --until-caught-up || fail "the final run exited with status $? instead of 0"
assert_exactly_once public.stopall expected
assert_eq "$(log_end_offsets stopall)" "$(stored_offsets stopall)" "stored offsets vs the high watermarks"
pass
