#!/usr/bin/env bash
# The negative control: proof that the exactly-once checker can fail. After a complete run, the
# offsets the daemon stored are deleted and the daemon runs again under a new consumer group (so
# Kafka's committed offsets cannot help either): it consumes from the start, and the checker
# must report every record duplicated. The test passes when the checker fails, as expected, and
# says why; it also checks the checker reports missing and altered rows.
source "$(dirname "$0")/lib.sh"

readonly records=2000

start_postgres
start_kafka events:2
create_sink_table public.events
create_expected_table expected 1 "$records"
produce_records events 1 "$records"
write_fault_config "$TEST_DIR/sink.yaml" events public.events 300 50

run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the first run exited with status $? instead of 0"
assert_exactly_once public.events expected

psql_q "DELETE FROM kafka_pg_sink_offsets"
KPS_GROUP=$KPS_GROUP-without-offsets
write_fault_config "$TEST_DIR/again.yaml" events public.events 300 50
run_daemon "$TEST_DIR/again.yaml" --until-caught-up || fail "the second run exited with status $? instead of 0"

# check_exactly_once REPORT_PATTERN...: the checker must fail, and its report must match each
# pattern.
expect_check_to_fail() {
  local report status=0 pattern
  report=$(check_exactly_once public.events expected) || status=$?
  echo "$report"
  ((status != 0)) || fail "the checker passed a table it should have failed"
  for pattern in "$@"; do
    grep -Eq -- "$pattern" <<<"$report" || fail "the checker's report has no line matching /$pattern/"
  done
}
expect_check_to_fail "DUPLICATES: $records extra row\(s\) for $records id\(s\)" "^    id 1 x2: " "DOES NOT HOLD"

# The other ways a table can be wrong: a lost row, a changed row and a foreign row, on a copy
# without the duplicates.
psql_q "DELETE FROM public.events WHERE ctid IN (SELECT min(ctid) FROM public.events GROUP BY id);
        DELETE FROM public.events WHERE id = 7;
        UPDATE public.events SET amount = amount + 1 WHERE id = 8;
        INSERT INTO public.events VALUES (999999, 'record-999999', 1, 0, 0)"
expect_check_to_fail "MISSING: 1 id\(s\); the first ones: 7$" "UNEXPECTED: 1 id\(s\) never produced; the first ones: 999999$" \
  "ALTERED: 1 row\(s\)"
pass
