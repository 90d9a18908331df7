#!/usr/bin/env bash
# The offsets committed to Kafka catch up with the stored ones after a partition changes owner,
# even when no new record arrives: lag monitoring must not show a stopped or idle group behind.
# A commit that fails while a partition is being revoked is lost with the partition (under the
# eager protocol the broker answers REBALANCE_IN_PROGRESS to every commit sent after the
# rebalance began, so it happens at almost every rebalance); the new owner resumes at the offset
# stored in PostgreSQL but, having nothing new to write, never committed it. Here the old owner's
# commits are made to fail deterministically (injected OffsetCommit errors) before it stops.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka "handover:2"
create_sink_table public.handover
create_expected_table expected 1 300
write_fault_config "$TEST_DIR/sink.yaml" handover public.handover 50 50

produce_records handover 1 200
start_daemon "$TEST_DIR/sink.yaml"
wait_until_applied handover 60
wait_committed_matches_stored handover 15

# Every commit of the rest of the first owner's life fails with an error nothing retries.
mock_control errors OffsetCommit 1000 INVALID_COMMIT_OFFSET_SIZE
produce_records handover 201 300
wait_until_applied handover 30
stop_daemon TERM 15 || fail "the first owner exited with status $? after SIGTERM instead of 0"
stored=$(stored_offsets handover)
committed=$(committed_offsets handover)
note "after the first owner: stored $(paste -sd' ' <<<"$stored"), committed $(paste -sd' ' <<<"$committed")"
[[ "$committed" != "$stored" ]] || fail "precondition: the injected errors did not keep Kafka's offsets behind"
mock_control errors-clear OffsetCommit

# The new owner: nothing left to write, so only committing what it resumes at helps.
start_daemon "$TEST_DIR/sink.yaml"
wait_for "the new owner to own both partitions" 30 owns_partitions "$DAEMON_LOG" 2
assert_log_matches "resuming at offset=[0-9]+ \(stored in PostgreSQL\)" "the new owner resumes at the stored offsets"
wait_committed_matches_stored handover 15
stop_daemon TERM 15 || fail "the new owner exited with status $? after SIGTERM instead of 0"
assert_exactly_once public.handover expected
pass
