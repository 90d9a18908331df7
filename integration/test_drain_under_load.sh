#!/usr/bin/env bash
# SIGTERM under load: a backlog of 200,000 records over 6 partitions, and a PostgreSQL slower than
# Kafka (every COPY statement sleeps 400 ms in a trigger: 4 writer lanes sleep side by side), so that when SIGTERM arrives the daemon
# has a batch in flight, the next one filling and librdkafka's queue full. It must exit 0 within
# shutdown_timeout_ms, having written every record it had consumed (its totals line says
# consumed = rows_written), each partition's stored offset exactly covering the rows written from
# it (offsets 0..next-1, once each), and the same offsets committed to Kafka. A restart with
# --until-caught-up then completes the backlog: every record exactly once.
source "$(dirname "$0")/lib.sh"

readonly records=200000 partitions=6 shutdown_timeout_seconds=10  # write_config: shutdown_timeout_ms 10000

start_postgres
start_kafka "drain:$partitions"
create_sink_table public.drain
create_expected_table expected 1 "$records"
# A slow database: each batch's COPY takes at least 400 ms, so the daemon (4 lanes of 5,000-row
# batches) is bound by PostgreSQL at about 50,000 rows/s.
psql_q "CREATE FUNCTION slow_statement() RETURNS trigger LANGUAGE plpgsql AS
          \$\$ BEGIN PERFORM pg_sleep(0.4); RETURN NULL; END \$\$;
        CREATE TRIGGER slow_statement AFTER INSERT ON public.drain
          FOR EACH STATEMENT EXECUTE FUNCTION slow_statement()"
write_fault_config "$TEST_DIR/sink.yaml" drain public.drain 5000 250
produce_records drain 1 "$records"
assert_log_holds drain "$records"

start_daemon "$TEST_DIR/sink.yaml"
wait_for "the first rows" 60 rows_at_least public.drain 1
# Let it stream (at most ~50,000 rows/s against this database), well before the end of the backlog.
sleep 1.5
rows_at_signal=$(psql_q "SELECT count(*) FROM public.drain")
started_ms=$(( ${EPOCHREALTIME/./} / 1000 ))
status=0
stop_daemon TERM $((shutdown_timeout_seconds + 5)) || status=$?
stop_ms=$(( ${EPOCHREALTIME/./} / 1000 - started_ms ))
assert_eq 0 "$status" "exit status after SIGTERM"
((stop_ms <= shutdown_timeout_seconds * 1000)) ||
  fail "the drain took ${stop_ms} ms, more than shutdown_timeout_ms (${shutdown_timeout_seconds}000)"
rows_after_stop=$(psql_q "SELECT count(*) FROM public.drain")
note "SIGTERM at $rows_at_signal rows; stopped in ${stop_ms} ms with $rows_after_stop of $records rows"
((rows_after_stop < records)) ||
  fail "the backlog was finished before SIGTERM took effect ($rows_after_stop rows): nothing was drained under load"

# Everything consumed was flushed: in insert mode a consumed record is one row.
totals=$(grep -Eo 'totals: consumed=[0-9]+ rows_written=[0-9]+' "$DAEMON_LOG" | tail -n 1)
[[ "$totals" =~ consumed=([0-9]+)\ rows_written=([0-9]+) ]] || fail "no totals line in $DAEMON_LOG"
assert_eq "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "rows written vs records consumed at exit ($totals)"
assert_eq "$rows_after_stop" "${BASH_REMATCH[2]}" "rows in the table vs rows_written at exit"

# Per partition: the rows are offsets 0..next_offset-1, each once, and next_offset is stored.
per_partition=$(psql_q "SELECT p, count(*), count(DISTINCT o), min(o), max(o) FROM public.drain GROUP BY p ORDER BY p")
expected_per_partition=$(stored_offsets drain | awk -F'\t' '$2 > 0 { print $1 "\t" $2 "\t" $2 "\t0\t" $2 - 1 }')
assert_eq "$expected_per_partition" "$per_partition" \
  "rows per partition (partition, rows, distinct offsets, first, last) against the stored offsets"
assert_eq "$(stored_offsets drain)" "$(committed_offsets drain)" "offsets committed to Kafka vs stored in PostgreSQL"
assert_log_matches "rebalance: $partitions partition\(s\) revoked, 0 owned" "the group left on the way out"

# The restart finishes the backlog from the stored offsets, at full speed.
psql_q "DROP TRIGGER slow_statement ON public.drain"
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the restart exited with status $? instead of 0"
assert_log_matches "resuming at offset=[1-9][0-9]* \(stored in PostgreSQL\)" "the restart resumes at the stored offsets"
assert_exactly_once public.drain expected
assert_eq "$(log_end_offsets drain)" "$(stored_offsets drain)" "stored offsets vs the end of the log"
assert_eq "$(stored_offsets drain)" "$(committed_offsets drain)" "committed offsets after the restart"
pass
