#!/usr/bin/env bash
# A stored offset beyond the end of the log (the topic was deleted and recreated, or truncated):
# resuming would silently skip every record up to it once the log grows back. The daemon must
# stop with exit status 1 and a reason naming the topic, partition and offsets, without writing
# anything.
source "$(dirname "$0")/lib.sh"

readonly records=400

start_postgres
start_kafka events:2
create_sink_table public.events
write_fault_config "$TEST_DIR/sink.yaml" events public.events 300 50
produce_records events 1 "$records"

# The offsets table as the daemon creates it, holding an offset far past partition 1's end.
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the first run exited with status $? instead of 0"
psql_q "TRUNCATE public.events;
        UPDATE kafka_pg_sink_offsets SET next_offset = 1000000
        WHERE group_id = '$KPS_GROUP' AND topic = 'events' AND \"partition\" = 1"
produce_records events $((records + 1)) $((records + 10))

status=0
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || status=$?
assert_eq 1 "$status" "exit status with a stored offset beyond the end of the log"
assert_log_matches 'stored offset 1000000 of topic=events partition=1 is beyond the end of the log \([0-9]+\)' \
  "the daemon did not name the offset, topic and partition beyond the log end"
assert_log_matches 'stopping \(fatal\)' "the daemon did not stop with a fatal reason"
grep "stopping" "$DAEMON_LOG"
assert_eq 0 "$(psql_q 'SELECT count(*) FROM public.events')" "rows written despite the offset beyond the log end"
assert_eq 1000000 "$(stored_offsets events | awk '$1 == 1 { print $2 }')" "the stored offset of partition 1 was changed"
pass
