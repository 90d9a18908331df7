#!/usr/bin/env bash
# The `time` column type: create_table makes it "time without time zone", records carry it as
# "HH:MM[:SS[.ffffff]]" (24:00:00 included) or integer microseconds of the day, and the rows
# hold exactly those times. A time that is not one ("25:00") is a bad record: with
# tolerance none the daemon stops on it, naming the column and what is wrong.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka shifts:1

write_config "$TEST_DIR/sink.yaml" <<'EOF'
errors:
  tolerance: none
sinks:
  - topic: shifts
    table: public.shifts
    mode: upsert
    primary_key: [id]
    create_table: true
    columns:
      id:     {path: /id, type: bigint}
      starts: {path: /starts, type: time}
      ends:   {path: /ends, type: time, nullable: true}
EOF

produce shifts 0 <<'EOF'
1	{"id":1,"starts":"08:30","ends":"17:00:00"}
2	{"id":2,"starts":"12:34:56.789","ends":"24:00:00"}
3	{"id":3,"starts":45296789000,"ends":null}
4	{"id":4,"starts":0,"ends":86400000000}
5	{"id":5,"starts":"23:59:59.999999","ends":"00:00:00.000001"}
1	{"id":1,"starts":"09:00:00.5"}
EOF
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the daemon exited with status $? instead of 0"

assert_eq $'starts\ttime without time zone\nends\ttime without time zone' \
  "$(psql_q "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
             WHERE attrelid = 'public.shifts'::regclass AND attname IN ('starts', 'ends') ORDER BY attnum")" \
  "the created time columns"
expected_rows=$(cat <<'EOF'
1	09:00:00.5	NULL
2	12:34:56.789	24:00:00
3	12:34:56.789	NULL
4	00:00:00	24:00:00
5	23:59:59.999999	00:00:00.000001
EOF
)
assert_eq "$expected_rows" "$(psql_q 'SELECT id, starts, ends FROM public.shifts ORDER BY id')" "rows (id, starts, ends)"
assert_eq $'0\t6' "$(stored_offsets shifts)" "next offset stored after the good records"

# Offset 6 holds an hour past the end of the day.
produce shifts 0 <<<$'6\t{"id":6,"starts":"25:00"}'
status=0
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || status=$?
assert_eq 1 "$status" "exit status on a bad time"
line=$(grep -E 'offset[=: ]+6([^0-9]|$)' "$DAEMON_LOG") || fail "no log line names offset 6"
grep -Eq 'starts' <<<"$line" || fail "the line naming offset 6 does not name column starts: $line"
grep -Fq 'invalid time' <<<"$line" || fail "the line naming offset 6 does not say the time is invalid: $line"
grep -Fq 'hour is out of range' <<<"$line" || fail "the line naming offset 6 does not say what is wrong: $line"
assert_eq 5 "$(psql_q 'SELECT count(*) FROM public.shifts')" "rows after the bad record"
assert_eq $'0\t6' "$(stored_offsets shifts)" "next offset stored stays at the bad record"

pass
