#!/usr/bin/env bash
# Mode upsert with keys repeated inside one batch and across batches (max_rows 3): the table
# ends with the last value of each key, in offset order; a pre-existing row with a produced key
# is overwritten and one with another key is left alone.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka devices:2

# Partition 0 repeats each key twice in a row (1,1,2,2,...,7,7,1,1,...), so every batch of three
# holds a repeated key; partition 1 scatters repeats of keys 101..111 (n² mod 11). Each record
# carries its own position, so the last one per key is easy to name.
psql_q <<'SQL'
CREATE TABLE public.devices (id bigint PRIMARY KEY, name text NOT NULL, seq integer NOT NULL);
INSERT INTO public.devices VALUES (1, 'pre-existing, overwritten', -1), (1000, 'pre-existing, untouched', -1);

CREATE TABLE produced AS
SELECT p, n, CASE p WHEN 0 THEN 1 + (n / 2) % 7 ELSE 101 + (n * n) % 11 END AS id
FROM generate_series(0, 1) AS p, generate_series(0, 59) AS n;

CREATE TABLE expected AS
SELECT DISTINCT ON (id) id, format('p%s-n%s', p, n) AS name, n AS seq FROM produced ORDER BY id, n DESC;
INSERT INTO expected VALUES (1000, 'pre-existing, untouched', -1);
SQL

for partition in 0 1; do
  psql_q "SELECT id, json_build_object('id', id, 'name', format('p%s-n%s', p, n), 'seq', n)
          FROM produced WHERE p = $partition ORDER BY n" | produce devices "$partition"
done

write_config "$TEST_DIR/sink.yaml" <<'EOF'
batch:
  max_rows: 3
sinks:
  - topic: devices
    table: public.devices
    mode: upsert
    primary_key: [id]
    columns:
      id:   {path: /id, type: bigint}
      name: {path: /name, type: text}
      seq:  {path: /seq, type: integer}
EOF
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the daemon exited with status $? instead of 0"

assert_eq "$(psql_q 'SELECT * FROM expected ORDER BY id')" "$(psql_q 'SELECT * FROM public.devices ORDER BY id')" \
  "rows after the upserts (id, name, seq)"
assert_eq $'0\t60\n1\t60' "$(stored_offsets devices)" "next offsets stored in PostgreSQL"
assert_eq $'0\t60\n1\t60' "$(committed_offsets devices)" "offsets committed to Kafka"

# The same final values once more, plus one real change: the no-op updates are skipped
# (IS DISTINCT FROM), so only the changed row gets a new row version.
psql_q "CREATE TABLE versions_before AS SELECT id, xmin::text AS version FROM public.devices"
psql_q "SELECT id, json_build_object('id', id, 'name', name, 'seq', seq) FROM expected ORDER BY id" | produce devices 0
printf '1\t{"id":1,"name":"changed","seq":99}\n' | produce devices 0
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the second run exited with status $? instead of 0"
assert_eq "1" "$(psql_q "SELECT string_agg(d.id::text, ',') FROM public.devices d JOIN versions_before v USING (id)
                         WHERE d.xmin::text <> v.version")" "rows rewritten by a re-delivered identical update"
assert_eq "changed" "$(psql_q 'SELECT name FROM public.devices WHERE id = 1')" "the one real change"

pass
