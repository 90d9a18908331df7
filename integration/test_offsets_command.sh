#!/usr/bin/env bash
# `offsets show` and `offsets reset`: the stored offsets (where the daemon resumes) move from
# the command line. Resets to an offset, to the earliest and to a timestamp while the daemon is
# stopped replay exactly the records after the new position (an insert table holds the
# replayed copies, an upsert table keeps its content, a dedup sink applies the replay instead
# of dropping it); a reset while the daemon runs fences it, and it resumes from the new position
# without exiting; refused resets exit 2 and change nothing.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka orders:2 accounts:1 events:1

psql_q "CREATE TABLE public.orders (p integer NOT NULL, o bigint NOT NULL, id bigint NOT NULL);
        CREATE TABLE public.accounts (id bigint PRIMARY KEY, balance bigint NOT NULL);
        CREATE TABLE public.events (o bigint NOT NULL, event_id text NOT NULL)"
write_config "$TEST_DIR/sink.yaml" <<'EOF_CONFIG'
batch:
  max_rows: 5
sinks:
  - topic: orders
    table: public.orders
    mode: insert
    columns:
      p:  {path: "@partition", type: integer}
      o:  {path: "@offset", type: bigint}
      id: {path: /id, type: bigint}
  - topic: accounts
    table: public.accounts
    mode: upsert
    primary_key: [id]
    columns:
      id:      {path: /id, type: bigint}
      balance: {path: /balance, type: bigint}
  - topic: events
    table: public.events
    mode: insert
    dedup:
      fields: [/event_id]
      ttl: 1h
    columns:
      o:        {path: "@offset", type: bigint}
      event_id: {path: /event_id, type: text}
EOF_CONFIG

# produce_orders PARTITION FIRST_ID LAST_ID
produce_orders() {
  local id
  for ((id = $2; id <= $3; id++)); do printf '%s\t{"id":%s}\n' "$id" "$id"; done | produce orders "$1"
}

# Rows per partition, and how many (partition, offset) pairs occur more than once.
orders_summary() {
  psql_q "SELECT p, count(*), count(*) - count(DISTINCT o) FROM public.orders GROUP BY p ORDER BY p"
}

# offsets ARGS...: runs the subcommand; its output is in OFFSETS_OUT and OFFSETS_ERR, and its
# exit code is returned.
offsets() {
  local status=0
  timeout 60 "$KPS_BIN" --config "$TEST_DIR/sink.yaml" offsets "$@" >"$TEST_DIR/offsets.out" 2>"$TEST_DIR/offsets.err" ||
    status=$?
  OFFSETS_OUT=$(<"$TEST_DIR/offsets.out")
  OFFSETS_ERR=$(<"$TEST_DIR/offsets.err")
  return "$status"
}

# The line of the show table (or reset plan) for TOPIC PARTITION, its columns single-spaced.
table_line() {
  awk -v topic="$1" -v partition="$2" '$1 == topic && $2 == partition { $1 = $1; print }' <<<"$OFFSETS_OUT"
}

# --- a first run applies everything ------------------------------------------------------------
produce_orders 0 0 9
produce_orders 1 100 109
for id in 1 2 3; do printf '%s\t{"id":%s,"balance":%s}\n' "$id" "$id" "$((id * 10))"; done | produce accounts 0
for id in 1 2 3; do printf '%s\t{"id":%s,"balance":%s}\n' "$id" "$id" "$((id * 100))"; done | produce accounts 0
for n in 0 1 2 3 4 5; do printf 'e%s\t{"event_id":"e%s"}\n' "$n" "$n"; done | produce events 0
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the first run exited with status $?"
assert_eq $'0\t10\t0\n1\t10\t0' "$(orders_summary)" "orders after the first run (partition, rows, duplicates)"
accounts_before=$(psql_q "SELECT id, balance FROM public.accounts ORDER BY id")
assert_eq $'1\t100\n2\t200\n3\t300' "$accounts_before" "accounts after the first run"

# --- show ---------------------------------------------------------------------------------------
offsets show || fail "offsets show exited with status $?: $OFFSETS_ERR"
assert_eq "TOPIC PARTITION STORED COMMITTED LOG-START HIGH-WATERMARK LAG" \
  "$(head -n 1 <<<"$OFFSETS_OUT" | tr -s ' ')" "the show table's header"
assert_eq "orders 0 10 10 0 10 0" "$(table_line orders 0)" "show: orders partition 0"
assert_eq "orders 1 10 10 0 10 0" "$(table_line orders 1)" "show: orders partition 1"
assert_eq "accounts 0 6 6 0 6 0" "$(table_line accounts 0)" "show: accounts partition 0"
assert_eq "events 0 6 6 0 6 0" "$(table_line events 0)" "show: events partition 0"
offsets show --topic orders || fail "offsets show --topic orders exited with status $?"
assert_eq 3 "$(wc -l <<<"$OFFSETS_OUT")" "show --topic lists only that topic's partitions (and a header)"

# --- refused resets: exit 2, nothing changes -------------------------------------------------
status=0; offsets reset --topic orders --partition 0 --to-offset 11 --execute || status=$?
assert_eq 2 "$status" "a reset above the high watermark is refused"
grep -q "topic=orders partition=0: offset 11 is outside the log" <<<"$OFFSETS_ERR" ||
  fail "the refusal names the partition and the log's bounds: $OFFSETS_ERR"
status=0; offsets reset --topic nosuch --to-earliest --execute || status=$?
assert_eq 2 "$status" "a reset of a topic no sink consumes is refused"
status=0; offsets reset --topic orders --partition 7 --to-earliest --execute || status=$?
assert_eq 2 "$status" "a reset of a partition that does not exist is refused"
status=0; offsets reset --topic orders --execute || status=$?
assert_eq 2 "$status" "a reset without a target is bad usage"
assert_eq $'0\t10\n1\t10' "$(stored_offsets orders)" "refused resets change no stored offset"
assert_eq $'0\t10\n1\t10' "$(committed_offsets orders)" "refused resets change no committed offset"

# --- a dry run prints the plan and changes nothing -----------------------------------------------
offsets reset --topic orders --to-earliest || fail "the dry run exited with status $?"
assert_eq "orders 0 10 10 0 10 0" "$(table_line orders 0)" "the dry run's plan for partition 0"
grep -q "^dry run: nothing changed" <<<"$OFFSETS_OUT" || fail "the dry run says so: $OFFSETS_OUT"
assert_eq $'0\t10\n1\t10' "$(stored_offsets orders)" "a dry run changes no stored offset"

# --- to an offset, while stopped ------------------------------------------------------------------
offsets reset --topic orders --partition 0 --to-offset 4 --execute || fail "reset to offset 4: status $? $OFFSETS_ERR"
assert_eq $'0\t4\n1\t10' "$(stored_offsets orders)" "the stored offset moved to 4"
# The mock cluster takes a commit from outside the group only before the group's first member
# joined (a real coordinator takes it whenever the group is empty): the command says so and goes
# on, since PostgreSQL holds what the daemon resumes from; the daemon then commits its position.
grep -Eq "^moved the committed offsets|^warning: the committed offsets of group .* were not moved" \
  <<<"$OFFSETS_OUT"$'\n'"$OFFSETS_ERR" || fail "the reset says what became of the committed offsets: $OFFSETS_OUT $OFFSETS_ERR"
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the run after the reset to 4 exited with status $?"
assert_eq $'0\t16\t6\n1\t10\t0' "$(orders_summary)" "offsets 4..9 of partition 0 are applied once more"
assert_eq $'0\t10\n1\t10' "$(stored_offsets orders)" "stored offsets after replaying from 4"
assert_eq $'0\t10\n1\t10' "$(committed_offsets orders)" "the daemon committed its position after the reset"

# --- moving a group: a new group starts where the reset puts it, in PostgreSQL and in Kafka ------
old_group=$KPS_GROUP
KPS_GROUP=$old_group-moved
sed "s/group_id: \"$old_group\"/group_id: \"$KPS_GROUP\"/" "$TEST_DIR/sink.yaml" >"$TEST_DIR/moved.yaml"
cp "$TEST_DIR/sink.yaml" "$TEST_DIR/original.yaml"
cp "$TEST_DIR/moved.yaml" "$TEST_DIR/sink.yaml"
offsets reset --topic orders --to-offset 8 --execute || fail "reset of a new group: status $? $OFFSETS_ERR"
assert_eq $'0\t8\n1\t8' "$(stored_offsets orders)" "the new group's stored offsets"
assert_eq $'0\t8\n1\t8' "$(committed_offsets orders)" "the new group's committed offsets in Kafka"
cp "$TEST_DIR/original.yaml" "$TEST_DIR/sink.yaml"
KPS_GROUP=$old_group

# --- to the earliest: the insert table holds the replayed copies, the upsert table is unchanged,
#     and the dedup sink applies the replay instead of dropping it ---------------------------------
for topic in orders accounts; do
  offsets reset --topic "$topic" --to-earliest --execute || fail "reset of $topic to earliest: status $? $OFFSETS_ERR"
done
assert_eq $'0\t0\n1\t0' "$(stored_offsets orders)" "orders moved to the earliest offsets"
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the run after the reset to earliest exited with status $?"
# The dedup sink's replay is interrupted after its first batch (offsets 0..4) commits, by a
# kill -9: the restart must go on distrusting the dedup state for the rest of the replay
# (offset 5), not drop it as a duplicate.
offsets reset --topic events --to-earliest --execute || fail "reset of events to earliest: status $? $OFFSETS_ERR"
status=0
KPS_FAILPOINT=before_begin:2 run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || status=$?
assert_eq 137 "$status" "the replay was killed as its second batch began"
assert_eq $'0\t5' "$(stored_offsets events)" "the replay stopped after its first batch"
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the run finishing the replay exited with status $?"
assert_eq $'0\t26\t16\n1\t20\t10' "$(orders_summary)" "every order is applied once more"
assert_eq "$accounts_before" "$(psql_q "SELECT id, balance FROM public.accounts ORDER BY id")" \
  "the upsert table's content is unchanged by the replay"
assert_eq 12 "$(psql_q "SELECT count(*) FROM public.events")" "the dedup sink applied the replayed events again"
# A true duplicate after the replay is still dropped.
printf 'e3\t{"event_id":"e3"}\n' | produce events 0
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the run with a duplicate event exited with status $?"
assert_eq 12 "$(psql_q "SELECT count(*) FROM public.events")" "a new duplicate of an applied event is dropped"

# --- skipping forward on a dedup sink: the skipped records are not taken for applied ones -------
printf 'e6\t{"event_id":"e6"}\ne7\t{"event_id":"e7"}\n' | produce events 0
offsets reset --topic events --to-offset 9 --execute || fail "skipping e6: status $? $OFFSETS_ERR"
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the run after skipping e6 exited with status $?"
assert_eq 0 "$(psql_q "SELECT count(*) FROM public.events WHERE event_id IN ('e6', 'e7')")" "e6 and e7 were skipped"
printf 'e6\t{"event_id":"e6"}\n' | produce events 0
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the run with e6 sent again exited with status $?"
assert_eq 1 "$(psql_q "SELECT count(*) FROM public.events WHERE event_id = 'e6'")" \
  "a record the reset skipped is applied when sent again (its identity was never learnt)"

# --- to a timestamp ----------------------------------------------------------------------------
sleep 1.1
reset_at=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 1.1
produce_orders 1 110 114
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the run over new orders exited with status $?"
assert_eq $'0\t26\t16\n1\t25\t10' "$(orders_summary)" "the new orders of partition 1 are applied"
offsets reset --topic orders --to-timestamp "$reset_at" --execute || fail "reset to $reset_at: status $? $OFFSETS_ERR"
assert_eq "orders 0 10 10 0 10 10" "$(table_line orders 0)" "partition 0 has no record after the timestamp: its end"
assert_eq "orders 1 15 15 0 15 10" "$(table_line orders 1)" "partition 1 moves to its first record after the timestamp"
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the run after the reset to a timestamp exited with status $?"
assert_eq $'0\t26\t16\n1\t30\t15' "$(orders_summary)" "only the orders after the timestamp are applied again"

# --- while the daemon runs: it is fenced and resumes from the new position -----------------------
start_daemon "$TEST_DIR/sink.yaml"
produce_orders 0 10 14
wait_for "the new orders to be applied" 60 sql_equals "SELECT next_offset FROM kafka_pg_sink_offsets
  WHERE group_id = '$KPS_GROUP' AND topic = 'orders' AND \"partition\" = 0" 15
offsets reset --topic orders --partition 0 --to-offset 12 --execute || fail "reset while running: status $? $OFFSETS_ERR"
# Idle, the daemon notices within a few seconds and replays 12..14 without a new record.
wait_for "the idle daemon to replay from the new position" 30 sql_equals \
  "SELECT count(*) FROM public.orders WHERE p = 0" 34
produce_orders 0 15 19
wait_for "the daemon to catch up from the new position" 60 sql_equals "SELECT next_offset FROM kafka_pg_sink_offsets
  WHERE group_id = '$KPS_GROUP' AND topic = 'orders' AND \"partition\" = 0" 20
stop_daemon TERM 30 || fail "the fenced daemon exited with status $? on SIGTERM"
assert_log_matches "moved to 12 by another writer" "the running daemon was fenced by the reset"
# Partition 0: offsets 10..14 once, then 12..14 again from the new position, then 15..19 once.
assert_eq $'0\t39\t19\n1\t30\t15' "$(orders_summary)" "the running daemon replays from the reset position only"
assert_eq 0 "$(psql_q "SELECT count(*) FROM (SELECT o FROM public.orders WHERE p = 0 AND o >= 10
                GROUP BY o HAVING count(*) <> CASE WHEN o BETWEEN 12 AND 14 THEN 2 ELSE 1 END) wrong")" \
  "each offset of partition 0 after 10 is applied once, and 12..14 twice"
pass
