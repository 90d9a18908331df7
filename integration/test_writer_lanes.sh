#!/usr/bin/env bash
# postgres.pool_size writer lanes: with the default (4) and 8 partitions, the daemon opens 4
# connections, all named kafka-pg-sink, and writes through at least two of them at the same
# moment (a statement trigger makes every COPY take 0.3 s, so overlapping writes show in
# pg_stat_activity as 'active' together). Every record lands once and the offsets table ends
# at the log end. Then pool_size: 1 on another topic: one connection, never two writes at once,
# the same exact result.
source "$(dirname "$0")/lib.sh"

readonly records=6000

start_postgres
start_kafka events:8 single:8
create_sink_table public.events
create_sink_table public.single
create_expected_table expected 1 "$records"
psql_q <<'SQL'
CREATE FUNCTION slow_copy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_sleep(0.3);
  RETURN NULL;
END $$;
CREATE TRIGGER slow_copy AFTER INSERT ON public.events FOR EACH STATEMENT EXECUTE FUNCTION slow_copy();
CREATE TRIGGER slow_copy AFTER INSERT ON public.single FOR EACH STATEMENT EXECUTE FUNCTION slow_copy();
SQL
produce_records events 1 "$records"
produce_records single 1 "$records"
assert_log_holds events "$records"

# The daemon's connections, and how many of them run a statement right now.
sink_connections() {
  psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kafka-pg-sink'"
}
active_sink_connections() {
  psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kafka-pg-sink' AND state = 'active'"
}
MOST_ACTIVE=0
# For wait_for: samples the active connections, keeps the most seen at one moment, and
# succeeds once it reaches $1.
active_at_least() {
  local active
  active=$(active_sink_connections)
  ((active > MOST_ACTIVE)) && MOST_ACTIVE=$active
  ((MOST_ACTIVE >= $1))
}
# For wait_for: samples like active_at_least until the stored offsets of $1 reach the log end.
applied_while_sampling() {
  active_at_least 99 || true
  _stored_offsets_at_log_end "$1"
}

note "part 1: postgres.pool_size left at its default (4)"
write_fault_config "$TEST_DIR/lanes.yaml" events public.events 100 50
enable_http "$TEST_DIR/lanes.yaml"
start_daemon "$TEST_DIR/lanes.yaml"
wait_for "two writer connections active at the same moment" 45 active_at_least 2
note "most kafka-pg-sink connections active at one moment: $MOST_ACTIVE"
# The gauge of lanes with a write in flight, refreshed about once a second, shows them too.
MOST_LANES_WRITING=0
lanes_writing_at_least() {
  local writing
  writing=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk '$1 == "kafka_pg_sink_writes_in_flight" { print $2 }')
  ((${writing:-0} > MOST_LANES_WRITING)) && MOST_LANES_WRITING=${writing:-0}
  ((MOST_LANES_WRITING >= $1))
}
wait_for "kafka_pg_sink_writes_in_flight to show two lanes writing" 30 lanes_writing_at_least 2
note "most lanes writing at once by kafka_pg_sink_writes_in_flight: $MOST_LANES_WRITING"
assert_eq 4 "$(sink_connections)" "connections named kafka-pg-sink with the default pool_size"
wait_for "the stored offsets of events to reach the log end" 60 applied_while_sampling events
note "most kafka-pg-sink connections active at one moment: $MOST_ACTIVE"
status=0
stop_daemon TERM 30 || status=$?
assert_eq 0 "$status" "exit status after SIGTERM"
assert_log_matches "with 4 writer lane\(s\)" "the daemon says it writes through 4 lanes"
assert_exactly_once public.events expected
assert_eq "$(log_end_offsets events)" "$(stored_offsets events)" "stored offsets of events"
assert_eq "$(log_end_offsets events)" "$(committed_offsets events)" "committed offsets of events"
assert_eq 8 "$(psql_q "SELECT count(*) FROM kafka_pg_sink_offsets WHERE group_id = '$KPS_GROUP' AND topic = 'events'
                       AND last_record_offset = next_offset - 1 AND reset_to_offset IS NULL")" \
  "offsets rows of events that name their last record"

note "part 2: postgres.pool_size: 1"
write_fault_config "$TEST_DIR/single.yaml" single public.single 200 50
sed -i 's/^  dsn: .*/&\n  pool_size: 1/' "$TEST_DIR/single.yaml"
grep -q "^  pool_size: 1$" "$TEST_DIR/single.yaml" || fail "could not set pool_size in the config"
MOST_ACTIVE=0
start_daemon "$TEST_DIR/single.yaml"
wait_for "the daemon to connect" 30 grep -qs "with 1 writer lane(s)" "$DAEMON_LOG"
assert_eq 1 "$(sink_connections)" "connections named kafka-pg-sink with pool_size 1"
wait_for "the stored offsets of single to reach the log end" 90 applied_while_sampling single
status=0
stop_daemon TERM 30 || status=$?
assert_eq 0 "$status" "exit status after SIGTERM (pool_size 1)"
((MOST_ACTIVE <= 1)) || fail "$MOST_ACTIVE connections were active at once with pool_size 1"
assert_exactly_once public.single expected
assert_eq "$(log_end_offsets single)" "$(stored_offsets single)" "stored offsets of single"
pass
