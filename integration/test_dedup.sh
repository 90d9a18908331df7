#!/usr/bin/env bash
# RocksDB dedup: producer duplicates of 10% of the records are dropped by identity, also
# across a kill -9 between the PostgreSQL commit and the dedup state's write, and after the
# state directory was deleted (the state is rebuilt from Kafka within the TTL).
source "$(dirname "$0")/lib.sh"

readonly partitions=2
start_postgres
start_kafka "orders:$partitions"
psql_q "CREATE TABLE public.orders (id bigint NOT NULL, event_id text NOT NULL)"  # no unique key: a duplicate shows

write_config "$TEST_DIR/sink.yaml" <<'YAML'
batch:
  max_rows: 50
  max_latency_ms: 20
sinks:
  - topic: orders
    table: public.orders
    mode: insert
    dedup:
      fields: [/event_id]
      ttl: 1h
    columns:
      id:       {path: /id, type: bigint}
      event_id: {path: /event_id, type: text}
YAML

# produce_events FIRST LAST: records FIRST..LAST, each event sent once, every tenth sent twice
# (the copy lands in the other partition, so no single batch sees both).
produce_events() {
  local first=$1 last=$2 partition
  for ((partition = 0; partition < partitions; partition++)); do
    psql_q "SELECT 'k' || i, json_build_object('id', i, 'event_id', 'evt-' || i)
            FROM generate_series($first, $last) AS i WHERE i % $partitions = $partition
            UNION ALL
            SELECT 'k' || i, json_build_object('id', i, 'event_id', 'evt-' || i)
            FROM generate_series($first, $last) AS i WHERE i % 10 = 0 AND (i + 1) % $partitions = $partition" |
      produce orders "$partition"
  done
}

assert_each_event_once() {
  local expected=$1
  assert_eq "$expected $expected" "$(psql_q "SELECT count(*) || ' ' || count(DISTINCT event_id) FROM public.orders")" \
    "$2: rows and distinct events"
}

produce_events 1 1000
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "first run exited with status $?"
assert_each_event_once 1000 "first run"
assert_log_matches 'dedup_dropped=100' "the first run counts the 100 dropped duplicates"

# Duplicates of old events, then a crash right after a PostgreSQL commit and before the
# dedup write: the restart must re-read the gap to learn those identities.
produce_events 901 1100
status=0
KPS_FAILPOINT=before_dedup_write:1 run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || status=$?
assert_eq 137 "$status" "the daemon died at the before_dedup_write failpoint (SIGKILL)"
produce_events 1050 1150
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the run after the crash exited with status $?"
assert_log_matches 'rebuilding the dedup state' "the restart re-reads what the state missed"
assert_each_event_once 1150 "after the crash"

# The state directory is lost: it is rebuilt from Kafka, so old events still count as seen.
rm -rf "$TEST_DIR/state"
produce_events 1 1200
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the run without state exited with status $?"
assert_each_event_once 1200 "after losing the state directory"

pass
