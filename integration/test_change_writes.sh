#!/usr/bin/env bash
# Change data capture's PostgreSQL side, driven through PgWriter by kps-change-writes (one
# scripted batch per run, reduced by KeyReducer, offsets moved by compare-and-set as a lane
# does): a Debezium row's unavailable (TOASTed) columns keep their stored values and a new row
# gets NULL there, never the placeholder; truncate_first empties the table in the batch's
# transaction; added_columns are added in the write's transaction (a rolled-back write leaves
# no column), and two lanes adding the same column at once both succeed, one of them adding it.
source "$(dirname "$0")/lib.sh"

CHANGE_WRITES=${KPS_CHANGE_WRITES:-$(dirname "$KPS_MOCK_KAFKA")/kps-change-writes}
[[ -x "$CHANGE_WRITES" ]] || fail "no kps-change-writes at $CHANGE_WRITES (build the kps-change-writes target)"
WRITES_LOG=$TEST_DIR/change-writes.log
touch "$WRITES_LOG"

start_postgres

# write ROUTE ARGS...: one batch; prints "written" or "failed: …".
write() {
  "$CHANGE_WRITES" "$PG_DSN" "$@" 2>>"$WRITES_LOG" || true
}
stored() {
  psql_q "SELECT next_offset FROM kafka_pg_sink_offsets WHERE group_id = 'kps-change-writes' AND topic = 'cdc.$1'
          AND \"partition\" = ${2:-0}"
}

# --- Unavailable values -----------------------------------------------------------------------
note "unavailable (TOASTed) columns"
assert_eq written "$(write toast +1,a1,b1,1 +2,a2,b2,2 +5,a5,b5,5 +6,a6,b6,6)" "the first batch"
# Masks are per column (id, a, b, n); '1' marks the placeholder, whose field the tuple leaves NULL.
assert_eq written "$(write toast +1,a1x,~,11/0010 +3,a3,~,3/0010 +2,a2x,~,~ -5 +5,a5y,~,55/0010 \
                            +6,~,~,66/0110 +7,a7,b7,7 +7,a7x,~,77/0010 +8,~,~,~/0111)" "the batch with masks"
expected=$(cat <<'EOF'
1	a1x	b1	11
2	a2x	NULL	NULL
3	a3	NULL	3
5	a5y	NULL	55
6	a6	b6	66
7	a7x	b7	77
8	NULL	NULL	NULL
EOF
)
# 1: b kept on update; 2: no mask, so NULL is a real value; 3: no stored row, so b is NULL;
# 5: deleted then upserted in the batch, nothing to keep; 6: two columns kept; 7: created and
# updated in one batch, the created b kept (KeyReducer); 8: a new row, every masked column NULL.
assert_eq "$expected" "$(psql_q 'SELECT id, a, b, n FROM cdc_toast ORDER BY id')" "cdc_toast after the masked batch"
assert_eq 13 "$(stored cdc_toast)" "stored offset after two batches"

# Two lanes (partitions 1 and 2) writing one new key at once, each with other columns
# unavailable: both are held at their first statement on the table by a SHARE lock until both
# wait, so both find no row to update and race to insert it. Whichever inserts, the other's
# insert does nothing and its update runs again: the row ends with both lanes' known values,
# as either order would leave it.
PGAPPNAME=kps-blocker "$PG_BIN/psql" -XAtq -d "$PG_DSN" \
  -c "BEGIN" -c "LOCK TABLE cdc_toast IN SHARE MODE" -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
track_pid $!
wait_for "the blocker's lock on cdc_toast" 30 sql_equals \
  "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'kps-blocker' AND l.granted AND l.relation = 'cdc_toast'::regclass" 1
write toast --partition 1 +20,x1,~,1/0010 >"$TEST_DIR/toast1.out" &
toast1=$!
write toast --partition 2 +20,~,y2,~/0101 >"$TEST_DIR/toast2.out" &
toast2=$!
wait_for "both lanes waiting for cdc_toast" 30 sql_equals \
  "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'cdc_toast'::regclass" 2
psql_q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'kps-blocker'" >/dev/null
wait "$toast1" "$toast2"
assert_eq written "$(cat "$TEST_DIR/toast1.out")" "lane 1's masked write"
assert_eq written "$(cat "$TEST_DIR/toast2.out")" "lane 2's masked write"
assert_eq $'20\tx1\ty2\t1' "$(psql_q 'SELECT id, a, b, n FROM cdc_toast WHERE id = 20')" \
  "the key both lanes wrote (each lane's known values, none lost)"
psql_q "DELETE FROM cdc_toast WHERE id = 20"

# --- Truncate ---------------------------------------------------------------------------------
note "truncate_first"
assert_eq "failed: offset of topic=cdc.cdc_toast partition=0 was moved by another consumer (expected 1013); the batch was rolled back" \
  "$(write toast --truncate --fence +9,a9,b9,9)" "a fenced truncate batch"
assert_eq 7 "$(psql_q 'SELECT count(*) FROM cdc_toast')" "rows after the fenced truncate (rolled back with it)"
assert_eq written "$(write toast --truncate +9,a9,b9,9 +10,a10,~,10/0010)" "the truncate batch"
assert_eq $'9\ta9\tb9\t9\n10\ta10\tNULL\t10' "$(psql_q 'SELECT id, a, b, n FROM cdc_toast ORDER BY id')" \
  "rows after the truncate: only the batch's own"
assert_eq 15 "$(stored cdc_toast)" "stored offset after the truncate batch"
assert_eq written "$(write toast --truncate)" "a truncate alone"
assert_eq 0 "$(psql_q 'SELECT count(*) FROM cdc_toast')" "rows after a truncate alone"
assert_eq 16 "$(stored cdc_toast)" "stored offset after a truncate alone"
# The truncate waits for other sessions' locks under postgres.lock_timeout, like every statement.
PGAPPNAME=kps-blocker "$PG_BIN/psql" -XAtq -d "$PG_DSN" \
  -c "BEGIN" -c "LOCK TABLE cdc_toast IN ACCESS SHARE MODE" -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
track_pid $!
wait_for "the blocker's lock on cdc_toast" 30 sql_equals \
  "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'kps-blocker' AND l.granted AND l.relation = 'cdc_toast'::regclass" 1
timed_out=$(write toast --lock-timeout-ms 300 --truncate +11,a11,b11,11)
[[ "$timed_out" == "failed: "*"lock timeout"* ]] || fail "a truncate behind a held lock, lock_timeout 300 ms: $timed_out"
psql_q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'kps-blocker'" >/dev/null
assert_eq 16 "$(stored cdc_toast)" "stored offset after the timed-out truncate batch"
# A table others reference cannot be truncated: PostgreSQL refuses, nothing moves.
psql_q "CREATE TABLE cdc_child (id bigint REFERENCES cdc_toast (id))"
refused=$(write toast --truncate +11,a11,b11,11)
[[ "$refused" == "failed: "*"foreign key"* ]] || fail "a truncate of a referenced table: $refused"
assert_eq 0 "$(psql_q 'SELECT count(*) FROM cdc_toast')" "rows after the refused truncate batch"
assert_eq 16 "$(stored cdc_toast)" "stored offset after the refused truncate batch"

# --- Added columns ----------------------------------------------------------------------------
note "added columns"
columns() {
  psql_q "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' not null' ELSE '' END, ', ' ORDER BY attnum)
          FROM pg_attribute WHERE attrelid = 'cdc_evolve'::regclass AND attnum > 0 AND NOT attisdropped"
}
assert_eq written "$(write base +1,a1)" "a write of the first route version"
assert_eq "id bigint not null, a text" "$(columns)" "columns of the first version"
assert_eq "failed: offset of topic=cdc.cdc_evolve partition=0 was moved by another consumer (expected 1001); the batch was rolled back" \
  "$(write evolved --fence +2,a2,20,d2)" "a fenced write of the version adding c and d"
assert_eq "id bigint not null, a text" "$(columns)" "columns after the rolled-back write (no column added)"
if grep -q "altered table" "$WRITES_LOG"; then fail "a rolled-back write logged an added column: $(cat "$WRITES_LOG")"; fi

# Two lanes (partitions 1 and 2) of the new version, both held up by a reader of the table
# until both wait for its lock, then let go together.
PGAPPNAME=kps-blocker "$PG_BIN/psql" -XAtq -d "$PG_DSN" \
  -c "BEGIN" -c "LOCK TABLE cdc_evolve IN ACCESS SHARE MODE" -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
blocker=$!
track_pid "$blocker"
wait_for "the blocker's lock" 30 sql_equals \
  "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'kps-blocker' AND l.granted AND l.relation = 'cdc_evolve'::regclass" 1
# Adding the columns waits under postgres.lock_timeout too; the write then rolls back whole.
timed_out=$(write evolved --lock-timeout-ms 300 --partition 1 +2,a2,20,d2)
[[ "$timed_out" == "failed: "*"lock timeout"* ]] || fail "adding columns behind a held lock, lock_timeout 300 ms: $timed_out"
assert_eq "id bigint not null, a text" "$(columns)" "columns after the timed-out write"
write evolved --partition 1 +2,a2,20,d2 >"$TEST_DIR/lane1.out" &
lane1=$!
write evolved --partition 2 +3,a3,30,d3 >"$TEST_DIR/lane2.out" &
lane2=$!
wait_for "both lanes waiting for the table's lock" 30 sql_equals \
  "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'cdc_evolve'::regclass" 2
psql_q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'kps-blocker'" >/dev/null
wait "$lane1" "$lane2"
assert_eq written "$(cat "$TEST_DIR/lane1.out")" "lane 1's write"
assert_eq written "$(cat "$TEST_DIR/lane2.out")" "lane 2's write"
assert_eq "id bigint not null, a text, c integer, d text" "$(columns)" "columns after both lanes (added nullable, typed)"
assert_eq $'1\ta1\tNULL\tNULL\n2\ta2\t20\td2\n3\ta3\t30\td3' "$(psql_q 'SELECT id, a, c, d FROM cdc_evolve ORDER BY id')" \
  "rows of both lanes"
assert_eq 1 "$(grep -c 'altered table "public"."cdc_evolve": added column "c" integer' "$WRITES_LOG")" \
  "log lines for column c (one lane added it, the other found it)"
assert_eq 1 "$(grep -c 'altered table "public"."cdc_evolve": added column "d" text' "$WRITES_LOG")" "log lines for column d"
assert_eq $'1\t1\n2\t1' "$(psql_q "SELECT \"partition\", next_offset FROM kafka_pg_sink_offsets
                                  WHERE group_id = 'kps-change-writes' AND topic = 'cdc.cdc_evolve' AND \"partition\" > 0 ORDER BY 1")" \
  "stored offsets of both lanes"

# A later connection finds the columns there: nothing to add, nothing logged. It looks once:
# after its first committed write of the route, its next writes do not ask again.
psql_q "ALTER ROLE postgres SET log_statement = 'all'"
assert_eq written "$(write evolved --repeat 3 +4,a4,40,~)" "three writes on one connection once the columns exist"
psql_q "ALTER ROLE postgres RESET log_statement"
assert_eq 2 "$(grep -c 'altered table' "$WRITES_LOG")" "log lines after writes that added nothing"
assert_eq 1 "$(grep -c 'SELECT a.attname FROM pg_attribute a WHERE' "$TEST_DIR/postgres.log")" \
  "look-ups of the added columns by a connection writing the route three times"
assert_eq 0 "$(grep -c 'LOG:  statement: LOCK TABLE' "$TEST_DIR/postgres.log")" "LOCK TABLE statements once the columns exist"
assert_eq 4 "$(stored cdc_evolve)" "stored offset after the three writes"

pass
