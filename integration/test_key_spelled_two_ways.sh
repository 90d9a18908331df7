#!/usr/bin/env bash
# Issue 10, case 1: one key spelled two ways. PostgreSQL compares key values, not their text:
# {"id":1} and {"id":1.0} name one row of a numeric primary key, and an upsert statement that
# touches it twice fails with SQLSTATE 21000 ("ON CONFLICT DO UPDATE command cannot affect row a
# second time"), which used to stop the daemon (exit 1) and stop it again after every restart.
#   - numeric key: 1, 1.0 and 1e0 in one batch are one key, the last record wins; an upsert keyed
#     5.0 followed by a tombstone keyed 5 deletes the row; 4.000 updates a stored row 4;
#   - double key: 0.0 and -0.0 are one key (PostgreSQL's float8 says 0 = -0);
#   - jsonb key: {"a":1,"b":2} and {"b":2,"a":1} are one jsonb value that the key reducer does not
#     recognise as one key (it compares jsonb text); PostgreSQL refuses the batch with 21000, and
#     the daemon narrows it down like any refused batch: the records are applied in offset order
#     (the spelling that appeared first also has the last record), no dead letter, no exit.
#   - dedup identity: an event id written 7, 7.0 and 70e-1 is one identity (only the first record
#     is applied, within a batch and in a later run), while the string "7" is another.
# Every record fits one batch per table (max_latency 2 s, all produced before the daemon starts).
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka nums:1 floats:1 docs:1 events:1 keys.dlq:1

psql_q "CREATE TABLE public.nums (id numeric PRIMARY KEY, v text NOT NULL);
        INSERT INTO public.nums VALUES (4, 'pre-existing 4');
        CREATE TABLE public.floats (id double precision PRIMARY KEY, v text NOT NULL);
        CREATE TABLE public.docs (k jsonb PRIMARY KEY, v text NOT NULL);
        CREATE TABLE public.events (n integer NOT NULL)"

write_config "$TEST_DIR/sink.yaml" <<'EOF'
batch:
  max_rows: 1000
  max_latency_ms: 2000
errors:
  tolerance: all
  dead_letter_topic: keys.dlq
sinks:
  - topic: nums
    table: public.nums
    mode: upsert
    primary_key: [id]
    delete_on_tombstone: true
    columns:
      id: {path: /id, type: numeric}
      v:  {path: /v, type: text}
  - topic: floats
    table: public.floats
    mode: upsert
    primary_key: [id]
    columns:
      id: {path: /id, type: double}
      v:  {path: /v, type: text}
  - topic: docs
    table: public.docs
    mode: upsert
    primary_key: [k]
    columns:
      k: {path: /k, type: jsonb}
      v: {path: /v, type: text}
  - topic: events
    table: public.events
    mode: insert
    dedup:
      fields: [/event_id]
      ttl: 1h
    columns:
      n: {path: /n, type: integer}
EOF

# An empty value after the tab is a tombstone (see produce in lib.sh).
produce nums 0 <<'EOF'
1	{"id":1,"v":"first"}
1.0	{"id":1.0,"v":"second"}
3	{"id":3,"v":"three"}
5.0	{"id":5.0,"v":"upserted keyed 5.0, deleted keyed 5"}
4.000	{"id":4.000,"v":"updated"}
1e0	{"id":1e0,"v":"third"}
5	
EOF
produce floats 0 <<'EOF'
0	{"id":0.0,"v":"zero"}
-0	{"id":-0.0,"v":"minus zero"}
EOF
produce docs 0 <<'EOF'
ab	{"k":{"a":1,"b":2},"v":"first"}
ba	{"k":{"b":2,"a":1},"v":"second"}
ab	{"k":{"a":1,"b":2},"v":"third"}
EOF

produce events 0 <<'EOF'
e	{"event_id":7,"n":1}
e	{"event_id":7.0,"n":2}
e	{"event_id":"7","n":3}
e	{"event_id":70e-1,"n":4}
EOF

run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the daemon exited with status $? instead of 0"

assert_eq $'1\tthird\n3\tthree\n4\tupdated' "$(psql_q 'SELECT id, v FROM public.nums ORDER BY id')" \
  "numeric key: one row per value, the last record wins, the tombstone keyed 5 deleted the row keyed 5.0"
assert_eq $'1\tminus zero' "$(psql_q 'SELECT count(*), max(v) FROM public.floats')" \
  "double key: 0.0 and -0.0 are one row holding the later record"
assert_eq $'1\tthird' "$(psql_q 'SELECT count(*), max(v) FROM public.docs')" \
  "jsonb key: the batch PostgreSQL refused with 21000 was narrowed down and applied in offset order"
assert_log_matches 'SQLSTATE 21000' "the refused jsonb batch is logged with its SQLSTATE"

assert_eq $'0\t7' "$(stored_offsets nums)" "nums: next offset stored in PostgreSQL"
assert_eq $'0\t2' "$(stored_offsets floats)" "floats: next offset stored in PostgreSQL"
assert_eq $'0\t3' "$(stored_offsets docs)" "docs: next offset stored in PostgreSQL"
assert_eq $'0\t7' "$(committed_offsets nums)" "nums: offset committed to Kafka"
assert_eq $'0\t3' "$(committed_offsets docs)" "docs: offset committed to Kafka"
assert_eq $'0\t0' "$("$KPS_MOCK_KAFKA" watermarks --bootstrap "$KAFKA_BOOTSTRAP" --topic keys.dlq | awk '{ print $2 "\t" $4 }')" \
  "no dead letter: no record was bad"

assert_eq $'1\n3' "$(psql_q 'SELECT n FROM public.events ORDER BY n')" \
  "dedup: 7, 7.0 and 70e-1 are one identity (the first applied), the string \"7\" another"
# A later run: the stored identity of 7 drops 7.00 too.
produce events 0 <<'EOF'
e	{"event_id":7.00,"n":5}
e	{"event_id":8,"n":6}
EOF
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the second run exited with status $? instead of 0"
assert_eq $'1\n3\n6' "$(psql_q 'SELECT n FROM public.events ORDER BY n')" \
  "dedup: 7.00 in a later run is dropped as already applied"
assert_eq $'0\t6' "$(stored_offsets events)" "events: next offset stored past the dropped records"

pass
