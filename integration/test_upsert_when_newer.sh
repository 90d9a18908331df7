#!/usr/bin/env bash
# upsert_when_newer: versions of a key arrive out of order, inside one batch and across batches
# (max_rows 3); the row ends with the greatest version, whatever the offset order. A row already
# in the table is replaced by a greater or equal version (on a tie the later record wins, as it
# does within a batch): a newer one stays.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka readings:1

# Record n has key 1 + (n/2) mod 6, so keys come in pairs and a batch of three always holds a
# repeated key, and version (17 n) mod 53: all distinct (53 is prime), in no particular order.
psql_q <<'SQL'
CREATE TABLE public.readings (id bigint PRIMARY KEY, ts timestamptz NOT NULL, val text NOT NULL);

CREATE TABLE produced AS
SELECT n, 1 + (n / 2) % 6 AS id,
       timestamptz '2024-01-01 00:00:00+00' + ((n * 17) % 53) * interval '1 second' AS ts
FROM generate_series(0, 47) AS n;

-- Key 1: a newer row, key 2: an older row, key 3: a row exactly as new as its newest record.
INSERT INTO public.readings VALUES
  (1, timestamptz '2024-01-01 00:00:00+00' + interval '100 seconds', 'pre-existing, newer'),
  (2, timestamptz '2023-12-31 23:00:00+00', 'pre-existing, older'),
  (3, (SELECT max(ts) FROM produced WHERE id = 3), 'pre-existing, equal'),
  (99, timestamptz '2020-01-01 00:00:00+00', 'pre-existing, untouched');

CREATE TABLE expected AS
SELECT DISTINCT ON (id) id, ts, val
FROM (SELECT id, ts, val, 2 AS preference FROM public.readings
      UNION ALL
      SELECT id, ts, 'n=' || n, 1 FROM produced) AS candidates
ORDER BY id, ts DESC, preference;  -- on a tie the record (later than the row already there) wins
SQL

psql_q "SELECT id, json_build_object('id', id, 'ts', ts, 'val', 'n=' || n) FROM produced ORDER BY n" |
  produce readings 0

write_config "$TEST_DIR/sink.yaml" <<'EOF'
batch:
  max_rows: 3
sinks:
  - topic: readings
    table: public.readings
    mode: upsert
    primary_key: [id]
    upsert_when_newer: ts
    columns:
      id:  {path: /id, type: bigint}
      ts:  {path: /ts, type: timestamptz}
      val: {path: /val, type: text}
EOF
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the daemon exited with status $? instead of 0"

assert_eq "$(psql_q 'SELECT * FROM expected ORDER BY id')" "$(psql_q 'SELECT * FROM public.readings ORDER BY id')" \
  "rows after the conditional upserts (id, ts, val)"
# The newest versions really are in the middle of the stream, not last: otherwise the test
# could not tell "greatest wins" from "last wins".
assert_eq 0 "$(psql_q "SELECT count(*) FROM expected e
                       WHERE e.val = (SELECT 'n=' || max(n) FROM produced p WHERE p.id = e.id)")" \
  "keys whose newest record is also their last (the test data should have none)"
assert_eq $'0\t48' "$(stored_offsets readings)" "next offset stored in PostgreSQL"
assert_eq $'0\t48' "$(committed_offsets readings)" "offset committed to Kafka"

pass
