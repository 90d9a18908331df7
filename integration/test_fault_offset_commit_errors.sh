#!/usr/bin/env bash
# Kafka offset commits fail while records stream in; PostgreSQL holds the truth, so the daemon
# must carry on without exiting and the table (no unique key) must end up with every record
# exactly once. Once the errors stop, the offsets committed to Kafka must catch up with the
# stored ones (lag monitoring works again), even when no new record arrives to trigger a commit.
#   1. mid-stream, 3 rounds of 8 OffsetCommit errors REQUEST_TIMED_OUT / NOT_COORDINATOR (which
#      librdkafka retries by itself);
#   2. at the end of the stream, OffsetCommit answered with INVALID_COMMIT_OFFSET_SIZE, an error
#      nothing retries, while the last records are applied; then the errors stop and the daemon,
#      idle, must still bring Kafka's offsets up to the stored ones.
source "$(dirname "$0")/lib.sh"

readonly records=10000 tail_records=1000

start_postgres
start_kafka events:4
create_sink_table public.events
create_expected_table expected 1 $((records + tail_records))
write_fault_config "$TEST_DIR/sink.yaml" events public.events 300 50

start_producer events 1 "$records" 200 0.2
start_daemon "$TEST_DIR/sink.yaml"
wait_for "the daemon to write its first rows" 30 rows_at_least public.events 1000

for ((round = 1; round <= 3; round++)); do
  mock_control errors OffsetCommit 8 REQUEST_TIMED_OUT NOT_COORDINATOR
  rows=$(psql_q "SELECT count(*) FROM public.events")
  wait_for "the daemon to write on during round $round of commit errors" 30 \
    rows_at_least public.events $((rows + 300))
done
process_alive "$DAEMON_PID" || fail "the daemon exited while offset commits failed"
wait_producer 60
wait_until_applied events 60
wait_committed_matches_stored events 15
note "after the retried commit errors, Kafka's offsets match the stored ones"

# More errors than the tail of the stream makes commits, so every one of them fails.
mock_control errors OffsetCommit 100 INVALID_COMMIT_OFFSET_SIZE
produce_records events $((records + 1)) $((records + tail_records))
assert_log_holds events $((records + tail_records))
wait_until_applied events 30
sleep 1
assert_log_matches "COMMITFAIL|offset commit failed" "the daemon logged no failed offset commit: the injected errors had no effect"
note "stored: $(stored_offsets events | paste -sd' ')  committed: $(committed_offsets events | paste -sd' ')"
mock_control errors-clear OffsetCommit
# No new record arrives from here on: only the daemon retrying its commit can bring Kafka up to
# date.
wait_committed_matches_stored events 15
process_alive "$DAEMON_PID" || fail "the daemon exited"
stop_daemon TERM 15 || fail "the daemon exited with status $? after SIGTERM instead of 0"
assert_exactly_once public.events expected
pass
