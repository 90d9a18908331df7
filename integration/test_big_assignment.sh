#!/usr/bin/env bash
# A restart over 512 partitions with stored offsets settles at once: the rebalance callback
# asks Kafka for the watermarks of the whole assignment in one round (it used to send a
# metadata request and a watermark query per partition of the topic, for every assigned
# partition: the assignment below took 54 s, the issue saw 80 s to catch up, while the group
# could not settle). Asserts: the callback takes under 3 s, the assignment completes within
# 10 s of the start, /healthz answers 200 throughout, and every record lands exactly once.
source "$(dirname "$0")/lib.sh"

readonly partitions=512
readonly assignment_limit_seconds=10
start_postgres
start_kafka "big:$partitions"
create_sink_table public.big
write_fault_config "$TEST_DIR/sink.yaml" big public.big 1000 50
enable_http "$TEST_DIR/sink.yaml"

# ~10 records per partition: every partition ends up with a stored offset.
produce_records big 1 5000
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the first run exited with status $?"
stored=$(stored_offsets big | wc -l)
note "the first run stored offsets for $stored of $partitions partitions"
((stored >= partitions - 2)) || fail "only $stored partitions have a stored offset after the first run"

produce_records big 5001 6000

start_daemon_timing_assignment "$TEST_DIR/sink.yaml" "$partitions" "$assignment_limit_seconds"
assert_log_matches "rebalance: $partitions partition\(s\) assigned, $partitions owned" "the whole topic is owned"
planned_ms=$(grep -Eo "rebalance: $partitions partition.* planned in [0-9]+ ms" "$DAEMON_LOG" | head -n 1 |
  grep -Eo "[0-9]+ ms$" | grep -Eo "^[0-9]+")
note "measured: the rebalance callback planned the $partitions partitions in $planned_ms ms"
# The group waits for the callback: it must stay far below max.poll.interval.ms (it took 52 s).
((planned_ms < 3000)) || fail "the rebalance callback took $planned_ms ms"

gauge_all() {
  [[ "$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^kafka_pg_sink_assigned_partitions ' |
    awk '{ print $2 }')" == "$partitions" ]]
}
wait_for "the assigned_partitions gauge to say $partitions" 10 gauge_all

wait_until_applied big 60
note "measured: caught up $(awk -v a="$started_at" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s after the start"
stop_healthz_probe
stop_daemon TERM 20 || fail "the daemon exited with status $? after SIGTERM"

create_expected_table public.expected 1 6000
assert_exactly_once public.big public.expected
pass
