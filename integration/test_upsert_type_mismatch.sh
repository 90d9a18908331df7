#!/usr/bin/env bash
# Issue 10, case 6: upsert and insert_ignore sinks write through a staging table of the configured
# types and INSERT … SELECT, where PostgreSQL's assignment casts would silently shift a timestamp
# by the session's time zone (timestamp -> timestamptz) or round a number (numeric -> integer).
# Like insert mode, they must be refused at start-up, before anything is written, with exit 1 and
# a message naming the column and both types.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka readings:1
psql_q "CREATE TABLE public.readings (id bigint PRIMARY KEY, ts timestamptz NOT NULL, amount integer NOT NULL)"
printf '%s\n' '1	{"id":1,"ts":"2026-01-01T12:00:00","amount":1.6}' | produce readings 0

# write_sink_config PATH MODE TS_TYPE AMOUNT_TYPE
write_sink_config() {
  write_config "$1" <<CONFIG
sinks:
  - topic: readings
    table: public.readings
    mode: $2
    primary_key: [id]
    columns:
      id:     {path: /id, type: bigint}
      ts:     {path: /ts, type: $3}
      amount: {path: /amount, type: $4}
CONFIG
}

write_sink_config "$TEST_DIR/timestamp.yaml" upsert timestamp integer
status=0
run_daemon "$TEST_DIR/timestamp.yaml" --until-caught-up || status=$?
assert_eq 1 "$status" "exit status of an upsert sink whose timestamp column is timestamptz"
assert_log_matches 'column "ts" of "public"."readings" is timestamp with time zone but the config says timestamp; upsert mode needs the same type' \
  "the refusal does not name the column and both types"

write_sink_config "$TEST_DIR/numeric.yaml" insert_ignore timestamptz numeric
status=0
run_daemon "$TEST_DIR/numeric.yaml" --until-caught-up || status=$?
assert_eq 1 "$status" "exit status of an insert_ignore sink whose numeric column is integer"
assert_log_matches 'column "amount" of "public"."readings" is integer but the config says numeric; insert_ignore mode needs the same type' \
  "the refusal does not name the column and both types"

assert_eq 0 "$(psql_q 'SELECT count(*) FROM public.readings')" "rows written"

# The matching config works, as a control.
psql_q "ALTER TABLE public.readings ALTER COLUMN amount TYPE numeric"
write_sink_config "$TEST_DIR/matching.yaml" upsert timestamptz numeric
run_daemon "$TEST_DIR/matching.yaml" --until-caught-up || fail "the daemon with matching types exited with $?"
assert_eq $'1\t2026-01-01 12:00:00+00\t1.6' "$(psql_q 'SELECT id, ts, amount FROM public.readings')" "the row written"
pass
