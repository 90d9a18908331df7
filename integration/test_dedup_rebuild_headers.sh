#!/usr/bin/env bash
# The dedup state is rebuilt from Kafka (here: after its directory was lost) by decoding the
# records PostgreSQL already holds. A column read from a header (@header:NAME, not nullable) must
# decode during that re-read as it did the first time: the re-reader passes headers through, so
# the identities are learnt and producer duplicates sent afterwards are still dropped. (Dedup
# fields themselves are JSON pointers into the value; headers matter through the columns.)
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka orders:1
psql_q "CREATE TABLE public.orders (id bigint NOT NULL, event_id text NOT NULL, trace text NOT NULL)"  # no unique key
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
      trace:    {path: "@header:trace", type: text}
YAML

events() {  # FIRST LAST
  psql_q "SELECT 'k' || i, json_build_object('id', i, 'event_id', 'evt-' || i) FROM generate_series($1, $2) AS i"
}
events 1 30 | produce orders 0 -H trace=t-1
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the first run exited with status $?"
assert_eq 30 "$(psql_q 'SELECT count(*) FROM public.orders')" "rows after the first run"

# The state is lost; duplicates of every event arrive with new ones.
rm -rf "$TEST_DIR/state"
events 1 40 | produce orders 0 -H trace=t-2
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the run without state exited with status $?"
assert_log_matches 'rebuilding the dedup state of topic=orders partition=0: re-reading offsets 0..29' \
  "the restart re-reads what PostgreSQL holds"
assert_eq "40 40" "$(psql_q "SELECT count(*) || ' ' || count(DISTINCT event_id) FROM public.orders")" \
  "rows and distinct events: the duplicates were dropped"
assert_eq "0" "$(psql_q "SELECT count(*) FROM public.orders WHERE id <= 30 AND trace = 't-2'")" \
  "rows of duplicates written"
pass
