#!/usr/bin/env bash
# An offsets table that already exists in another shape is refused at start-up, never used as
# is: without a unique key on (group_id, topic, partition) two owners of a partition could each
# store its offset, and other column types break the compare-and-set. The daemon exits 1 with a
# message naming the table, what is wrong and how to fix it, and writes nothing. An offsets table
# from before last_record_timestamp_ms existed (right shape, no such column) gets the column.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka events:1
create_sink_table public.events
write_fault_config "$TEST_DIR/sink.yaml" events public.events
produce_records events 1 20

expect_refused() {  # DESCRIPTION MESSAGE_REGEX
  local status=0
  run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || status=$?
  assert_eq 1 "$status" "exit status with $1"
  assert_log_matches "$2" "the message for $1"
  assert_log_matches 'stopping \(fatal\)' "a fatal stop for $1"
  assert_eq 0 "$(psql_q 'SELECT count(*) FROM public.events')" "rows written with $1"
  assert_eq 0 "$(psql_q 'SELECT count(*) FROM kafka_pg_sink_offsets')" "offsets stored with $1"
}

psql_q "CREATE TABLE kafka_pg_sink_offsets (group_id text NOT NULL, topic text NOT NULL, \"partition\" integer NOT NULL,
                                            next_offset bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())"
expect_refused "an offsets table without a primary key" \
  'offsets table "kafka_pg_sink_offsets" has no primary key or unique index on exactly \(group_id, topic, partition\).*ADD PRIMARY KEY \(group_id, topic, "partition"\)'

# A unique index on other columns is no better.
psql_q "CREATE UNIQUE INDEX offsets_wrong_key ON kafka_pg_sink_offsets (group_id, topic)"
expect_refused "a unique index on other columns" 'has no primary key or unique index on exactly \(group_id, topic, partition\)'

psql_q "DROP TABLE kafka_pg_sink_offsets;
        CREATE TABLE kafka_pg_sink_offsets (group_id text NOT NULL, topic text NOT NULL, \"partition\" bigint NOT NULL,
                                            next_offset bigint NOT NULL, PRIMARY KEY (group_id, topic, \"partition\"))"
expect_refused "a partition column of type bigint" \
  'offsets table "kafka_pg_sink_offsets": column partition is bigint, expected integer'

# The shape of an older release (no last_record_timestamp_ms): accepted, and the column is added.
psql_q "DROP TABLE kafka_pg_sink_offsets;
        CREATE TABLE kafka_pg_sink_offsets (group_id text NOT NULL, topic text NOT NULL, \"partition\" integer NOT NULL,
                                            next_offset bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
                                            PRIMARY KEY (group_id, topic, \"partition\"))"
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the run with an older offsets table exited with status $?"
assert_eq 20 "$(psql_q 'SELECT count(*) FROM public.events')" "rows written with an older offsets table"
assert_eq $'0\t20' "$(stored_offsets events)" "offset stored with an older offsets table"
assert_eq 1 "$(psql_q "SELECT count(*) FROM kafka_pg_sink_offsets WHERE last_record_timestamp_ms IS NOT NULL")" \
  "last_record_timestamp_ms added and written"
pass
