#!/usr/bin/env bash
# delete_on_tombstone: a null-value record deletes the row its key names, whether the key is a
# JSON object holding the primary key ({"id":5}) or the bare value (5). Inside one batch the
# records of a key apply in offset order (upsert, delete, upsert ends present with the last
# value; upsert, delete ends absent); a tombstone also deletes a row written by an earlier
# transaction, and one for a key that has no row does nothing.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka items:1

psql_q "CREATE TABLE public.items (id bigint PRIMARY KEY, val text NOT NULL);
        INSERT INTO public.items VALUES (5, 'pre-existing 5'), (6, 'pre-existing 6'), (7, 'pre-existing 7')"

write_config "$TEST_DIR/sink.yaml" <<'EOF'
batch:
  max_rows: 1000
  max_latency_ms: 2000
sinks:
  - topic: items
    table: public.items
    mode: upsert
    primary_key: [id]
    delete_on_tombstone: true
    columns:
      id:  {path: /id, type: bigint}
      val: {path: /val, type: text}
EOF

# An empty value after the tab is a tombstone (see produce in lib.sh). All nine records are
# produced before the daemon starts and fit one batch (1000 rows, 2 s).
produce items 0 <<'EOF'
{"id":1}	{"id":1,"val":"first"}
{"id":1}	
{"id":1}	{"id":1,"val":"second"}
2	{"id":2,"val":"upserted then deleted"}
2	
{"id":5}	
6	
{"id":3}	{"id":3,"val":"three"}
{"id":99}	
EOF
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the daemon exited with status $? instead of 0"
assert_eq $'1\tsecond\n3\tthree\n7\tpre-existing 7' "$(psql_q 'SELECT * FROM public.items ORDER BY id')" \
  "rows after the first run (id, val)"
assert_eq $'0\t9' "$(stored_offsets items)" "next offset stored after the first run"

# Second run: deletes and upserts of rows that the first run's transaction wrote.
produce items 0 <<'EOF'
3	
{"id":1}	{"id":1,"val":"third"}
EOF
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the second run exited with status $? instead of 0"
assert_eq $'1\tthird\n7\tpre-existing 7' "$(psql_q 'SELECT * FROM public.items ORDER BY id')" \
  "rows after the second run (id, val)"
assert_eq $'0\t11' "$(stored_offsets items)" "next offset stored after the second run"
assert_eq $'0\t11' "$(committed_offsets items)" "offset committed to Kafka"

pass
