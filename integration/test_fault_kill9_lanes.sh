#!/usr/bin/env bash
# kill -9 while several writer lanes have transactions in flight: 8 partitions over the default
# 4 lanes, and a statement trigger that makes every COPY take 0.4 s, so that before each kill at
# least two kafka-pg-sink connections are seen 'active' or 'idle in transaction' together. Three
# kills, each followed by a restart; a final --until-caught-up run must leave the table (no unique
# key) holding every record exactly once, and the stored and committed offsets at the log end.
source "$(dirname "$0")/lib.sh"

readonly records=8000 kills=3

start_postgres
start_kafka events:8
create_sink_table public.events
create_expected_table expected 1 "$records"
psql_q <<'SQL'
CREATE FUNCTION slow_copy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_sleep(0.4);
  RETURN NULL;
END $$;
CREATE TRIGGER slow_copy AFTER INSERT ON public.events FOR EACH STATEMENT EXECUTE FUNCTION slow_copy();
SQL
produce_records events 1 "$records"
assert_log_holds events "$records"
write_fault_config "$TEST_DIR/sink.yaml" events public.events 100 50

# For wait_for: at least $1 of the daemon's connections are inside a transaction right now.
transactions_in_flight_at_least() {
  (($(psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kafka-pg-sink'
              AND state IN ('active', 'idle in transaction')") >= $1))
}

for ((kill_number = 1; kill_number <= kills; kill_number++)); do
  start_daemon "$TEST_DIR/sink.yaml"
  wait_for "run $kill_number to write through two lanes at once" 45 transactions_in_flight_at_least 2
  status=0
  stop_daemon KILL 10 || status=$?
  assert_eq 137 "$status" "exit status of run $kill_number after kill -9"
  # A backend inside pg_sleep notices its client died only when the sleep ends: wait, so the
  # next run's count sees its own connections only.
  wait_for "the killed run's backends to end" 30 sql_equals \
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kafka-pg-sink'" 0
  note "kill $kill_number: $(psql_q 'SELECT count(*) FROM public.events') rows so far"
done
rows_before_final=$(psql_q 'SELECT count(*) FROM public.events')
((rows_before_final < records)) || fail "every record was written before the last kill: the kills proved nothing"

psql_q "DROP TRIGGER slow_copy ON public.events"
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the final run exited with status $? instead of 0"
assert_exactly_once public.events expected
assert_eq "$(log_end_offsets events)" "$(stored_offsets events)" "stored offsets after the final run"
assert_eq "$(log_end_offsets events)" "$(committed_offsets events)" "committed offsets after the final run"
pass
