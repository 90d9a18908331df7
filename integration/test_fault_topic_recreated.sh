#!/usr/bin/env bash
# A topic deleted and recreated whose new log is already longer than the stored offset: the
# stored offset points into the new log, so resuming there would silently skip the new records
# below it (a stored offset beyond the end of the log is test_fault_offset_beyond_log.sh). The
# offsets table keeps the Kafka timestamp of the last applied record with each offset; on
# assignment the daemon fetches that record again and compares. A different timestamp stops the
# daemon with exit status 1, a message naming topic, partition, offsets and both timestamps and
# how to reset, and nothing of the new topic written. A plain restart passes the check, and the
# documented reset (deleting the partition's row) consumes the new log from its start.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka events:1
create_sink_table public.events
write_fault_config "$TEST_DIR/sink.yaml" events public.events 20 50
produce_records events 1 50

run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the first run exited with status $?"
assert_eq $'0\t50' "$(stored_offsets events)" "offset stored after the first run"
assert_eq 1 "$(psql_q "SELECT count(*) FROM kafka_pg_sink_offsets WHERE group_id = '$KPS_GROUP'
                       AND last_record_timestamp_ms BETWEEN (extract(epoch FROM now()) - 600) * 1000
                                                        AND (extract(epoch FROM now()) + 60) * 1000")" \
  "the last applied record's timestamp is stored with the offset"

# A restart on the same log passes the check (the record before the offset is the same one).
produce_records events 51 60
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the restart on the same log exited with status $?"
assert_eq 60 "$(psql_q 'SELECT count(*) FROM public.events')" "rows after the restart on the same log"
assert_eq $'0\t60' "$(stored_offsets events)" "offset stored after the restart on the same log"

# An offset moved by a writer that does not keep the timestamp (an earlier version of the
# daemon, or an UPDATE by hand) leaves a timestamp that belongs to another record: it is not
# compared, so the restart must not take the topic for recreated.
psql_q "UPDATE kafka_pg_sink_offsets SET next_offset = 55 WHERE group_id = '$KPS_GROUP' AND topic = 'events'"
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the run after a hand-moved offset exited with status $?"
assert_eq 65 "$(psql_q 'SELECT count(*) FROM public.events')" "records 55..59 applied again after the hand rewind"
assert_eq $'0\t60' "$(stored_offsets events)" "offset stored after the hand rewind"

# The topic is deleted and recreated, and gets more records than the stored offset.
recreate_kafka events:1
sed -i "s|^  bootstrap_servers: .*|  bootstrap_servers: \"$KAFKA_BOOTSTRAP\"|" "$TEST_DIR/sink.yaml"
grep -q "$KAFKA_BOOTSTRAP" "$TEST_DIR/sink.yaml" || fail "could not point the config at the new cluster"
produce_records events 1001 1080

status=0
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || status=$?
assert_eq 1 "$status" "exit status on a recreated topic whose log is longer than the stored offset"
assert_log_matches 'topic=events partition=0 is not the log its stored offset 60 was taken from: the record at offset 59 has timestamp [0-9]+ ms, the one applied there had [0-9]+ ms' \
  "the message names topic, partition, offsets and both timestamps"
assert_log_matches "offsets reset --topic events --partition 0 --to-earliest --execute" "the message says how to reset"
assert_log_matches "DELETE FROM \"kafka_pg_sink_offsets\" WHERE group_id = '$KPS_GROUP' AND topic = 'events' AND \"partition\" = 0" \
  "the message says how to reset"
assert_log_matches 'stopping \(fatal\)' "the daemon stops with a fatal reason"
assert_eq 0 "$(psql_q 'SELECT count(*) FROM public.events WHERE id > 1000')" "rows of the new topic written"
assert_eq $'0\t60' "$(stored_offsets events)" "the stored offset was changed"

# The documented reset, with the offsets subcommand: the new log is consumed from its start.
timeout 60 "$KPS_BIN" --config "$TEST_DIR/sink.yaml" offsets reset --topic events --partition 0 --to-earliest --execute ||
  fail "offsets reset --to-earliest exited with status $?"
assert_eq $'0\t0' "$(stored_offsets events)" "the reset moved the stored offset to the log start"
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the run after the reset exited with status $?"
assert_eq 80 "$(psql_q 'SELECT count(*) FROM public.events WHERE id > 1000')" "rows of the new topic after the reset"
assert_eq $'0\t80' "$(stored_offsets events)" "offset stored after the reset"
pass
