#!/usr/bin/env bash
# Restarts resume from the offsets stored in PostgreSQL: a second run applies only the new
# records (insert mode into a table without a unique key, so a duplicate would show), and the
# stored offset wins over the Kafka-committed one in both directions: when it is behind (the
# records after it are applied again) and when it is ahead (a crash after the database commit
# but before the Kafka commit: nothing is applied twice).
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka orders:2

psql_q "CREATE TABLE public.orders (p integer NOT NULL, o bigint NOT NULL, id bigint NOT NULL)"

sink_config() {
  write_config "$1" <<'EOF'
batch:
  max_rows: 4
sinks:
  - topic: orders
    table: public.orders
    mode: insert
    columns:
      p:  {path: "@partition", type: integer}
      o:  {path: "@offset", type: bigint}
      id: {path: /id, type: bigint}
EOF
}
sink_config "$TEST_DIR/sink.yaml"

# produce_orders PARTITION FIRST_ID LAST_ID
produce_orders() {
  local id
  for ((id = $2; id <= $3; id++)); do printf '%s\t{"id":%s}\n' "$id" "$id"; done | produce orders "$1"
}

# Rows per partition, and how many (partition, offset) pairs occur more than once.
table_summary() {
  psql_q "SELECT p, count(*), count(*) - count(DISTINCT o) FROM public.orders GROUP BY p ORDER BY p"
}

# --- first run ----------------------------------------------------------------------------
produce_orders 0 0 9
produce_orders 1 100 109
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the first run exited with status $? instead of 0"
assert_eq $'0\t10\t0\n1\t10\t0' "$(table_summary)" "rows after the first run (partition, rows, duplicates)"
assert_eq $'0\t10\n1\t10' "$(stored_offsets orders)" "stored offsets after the first run"
assert_eq $'0\t10\n1\t10' "$(committed_offsets orders)" "committed offsets after the first run"

# --- second run: only the new records ----------------------------------------------------------
produce_orders 0 10 19
produce_orders 1 110 114
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the second run exited with status $? instead of 0"
assert_eq $'0\t20\t0\n1\t15\t0' "$(table_summary)" "rows after the second run (partition, rows, duplicates)"
assert_eq $'0\t20\n1\t15' "$(stored_offsets orders)" "stored offsets after the second run"
assert_eq $'0\t20\n1\t15' "$(committed_offsets orders)" "committed offsets after the second run"

# --- the stored offset is behind Kafka's: what follows it is applied again --------------------
# Roll partition 0 back to offset 15 in the database, rows and offset in one transaction.
# Kafka still says 20: resuming from Kafka would leave offsets 15..19 missing.
psql_q "BEGIN;
        DELETE FROM public.orders WHERE p = 0 AND o >= 15;
        UPDATE kafka_pg_sink_offsets SET next_offset = 15 WHERE group_id = '$KPS_GROUP' AND topic = 'orders' AND \"partition\" = 0;
        COMMIT"
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the third run exited with status $? instead of 0"
assert_eq $'0\t20\t0\n1\t15\t0' "$(table_summary)" "rows after resuming from a rolled-back stored offset"
assert_eq $'0\t20\n1\t15' "$(stored_offsets orders)" "stored offsets after resuming from a rolled-back stored offset"

# --- the stored offset is ahead of Kafka's: nothing is applied twice ---------------------------
# A second group stands for a daemon that crashed after its database commit and before its Kafka
# commit: the database says 20/15 (everything applied), Kafka says 5/5.
KPS_GROUP=$KPS_GROUP-after-crash
sink_config "$TEST_DIR/after-crash.yaml"
psql_q "INSERT INTO kafka_pg_sink_offsets (group_id, topic, \"partition\", next_offset, updated_at)
        VALUES ('$KPS_GROUP', 'orders', 0, 20, now()), ('$KPS_GROUP', 'orders', 1, 15, now())"
for partition in 0 1; do
  timeout 30 "$KPS_MOCK_KAFKA" commit --bootstrap "$KAFKA_BOOTSTRAP" --group "$KPS_GROUP" \
    --topic orders --partition "$partition" --offset 5 || fail "could not stage the Kafka offset of partition $partition"
done
assert_eq $'0\t5\n1\t5' "$(committed_offsets orders)" "staged Kafka offsets of the crashed group"
produce_orders 1 115 115
run_daemon "$TEST_DIR/after-crash.yaml" --until-caught-up || fail "the run after the crash exited with status $? instead of 0"
assert_eq $'0\t20\t0\n1\t16\t0' "$(table_summary)" "rows after resuming ahead of Kafka (partition, rows, duplicates)"
assert_eq $'0\t20\n1\t16' "$(stored_offsets orders)" "stored offsets after resuming ahead of Kafka"
assert_eq 16 "$(committed_offsets orders | awk '$1 == 1 { print $2 }')" \
  "Kafka offset of partition 1 after the run that applied offset 15"

pass
