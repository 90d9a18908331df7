#!/usr/bin/env bash
# mode insert_ignore: the first record of a key wins, within a batch as across batches (where
# INSERT … ON CONFLICT DO NOTHING keeps the stored row); a tombstone (delete_on_tombstone) deletes
# the row, and the first record after it is inserted; a numeric key written two ways (1, 1.0, 2e0)
# is one key.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka items:1

psql_q "CREATE TABLE public.items (id numeric PRIMARY KEY, v text NOT NULL);
        INSERT INTO public.items VALUES (9, 'stored before')"

write_config "$TEST_DIR/sink.yaml" <<'EOF'
batch:
  max_rows: 1000
  max_latency_ms: 2000
sinks:
  - topic: items
    table: public.items
    mode: insert_ignore
    primary_key: [id]
    delete_on_tombstone: true
    columns:
      id: {path: /id, type: numeric}
      v:  {path: /v, type: text}
EOF

# First run, one batch. An empty value after the tab is a tombstone (see produce in lib.sh).
produce items 0 <<'EOF'
1	{"id":1,"v":"one: first"}
1.0	{"id":1.0,"v":"one: second, same key written 1.0"}
2	{"id":2,"v":"two: first"}
2	{"id":2,"v":"two: second"}
9	{"id":9,"v":"nine: ignored, the stored row stays"}
3	{"id":3,"v":"three: deleted"}
3	
4	{"id":4,"v":"four: deleted"}
4	
4.0	{"id":4.0,"v":"four: first after the delete"}
4	{"id":4,"v":"four: second after the delete"}
EOF
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the daemon exited with status $? instead of 0"
assert_eq $'1\tone: first\n2\ttwo: first\n4.0\tfour: first after the delete\n9\tstored before' \
  "$(psql_q 'SELECT id, v FROM public.items ORDER BY id')" "rows after the first run: the first record of each key"
assert_eq $'0\t11' "$(stored_offsets items)" "next offset stored after the first run"

# Second run, a later batch: a key already stored keeps its row, however it is written; a
# tombstone deletes one, and the record after it is inserted.
produce items 0 <<'EOF'
1.00	{"id":1.00,"v":"one: later batch, ignored"}
2	
2e0	{"id":2e0,"v":"two: after the delete"}
2	{"id":2,"v":"two: ignored"}
EOF
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the second run exited with status $? instead of 0"
assert_eq $'1\tone: first\n2\ttwo: after the delete\n4.0\tfour: first after the delete\n9\tstored before' \
  "$(psql_q 'SELECT id, v FROM public.items ORDER BY id')" "rows after the second run"
assert_eq $'0\t15' "$(stored_offsets items)" "next offset stored after the second run"
assert_eq $'0\t15' "$(committed_offsets items)" "offset committed to Kafka"

pass
