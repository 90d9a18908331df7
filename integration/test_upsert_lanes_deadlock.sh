#!/usr/bin/env bash
# Upserts of the same keys from two partitions, which sit in two writer lanes: partition 0
# walks keys 1..200 upwards, partition 1 walks them downwards, in batches of 200, and a row
# trigger slows every update, so the two lanes' transactions lock the same rows in opposite
# orders and PostgreSQL breaks deadlocks (40P01). A lost transaction is run again (or the
# daemon recovers from the stored offsets): never fatal, and the table ends exact. Versions
# decide the winner (upsert_when_newer), so the expected table does not depend on which lane
# committed first: each key ends with its greatest version.
source "$(dirname "$0")/lib.sh"

readonly keys=200 rounds=8

start_postgres
start_kafka readings:2
psql_q <<SQL
CREATE TABLE public.readings (id bigint PRIMARY KEY, version bigint NOT NULL, val text NOT NULL);
CREATE FUNCTION slow_update() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
  PERFORM pg_sleep(0.002);
  RETURN NEW;
END \$\$;
CREATE TRIGGER slow_update BEFORE UPDATE ON public.readings FOR EACH ROW EXECUTE FUNCTION slow_update();
-- Record n of partition p: key 1 + (n mod $keys) upwards on partition 0, downwards on 1;
-- versions interleave across the partitions (2n + p), so both win some keys.
CREATE TABLE produced AS
SELECT p, n,
       CASE WHEN p = 0 THEN 1 + n % $keys ELSE $keys - n % $keys END AS id,
       2 * n + p AS version
FROM generate_series(0, 1) AS p, generate_series(0, $keys * $rounds - 1) AS n;
CREATE TABLE expected AS
SELECT DISTINCT ON (id) id, version, 'p' || p || '-n' || n AS val FROM produced ORDER BY id, version DESC;
SQL
for partition in 0 1; do
  psql_q "SELECT id, json_build_object('id', id, 'version', version, 'val', 'p' || p || '-n' || n)
          FROM produced WHERE p = $partition ORDER BY n" | produce readings "$partition"
done

write_config "$TEST_DIR/sink.yaml" <<EOF
batch:
  max_rows: $keys
  max_latency_ms: 200
retry:
  initial_backoff_ms: 100
  max_backoff_ms: 1000
  give_up_after_ms: 60000
sinks:
  - topic: readings
    table: public.readings
    mode: upsert
    primary_key: [id]
    upsert_when_newer: version
    columns:
      id:      {path: /id, type: bigint}
      version: {path: /version, type: bigint}
      val:     {path: /val, type: text}
EOF
# Deadlocks are found after deadlock_timeout (1 s by default): sooner, so the test stays short.
psql_q "ALTER SYSTEM SET deadlock_timeout = '100ms'"
psql_q "SELECT pg_reload_conf()" >/dev/null
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the daemon exited with status $? instead of 0"

assert_log_matches "with 4 writer lane\(s\)" "the daemon writes through 4 lanes"
deadlocks=$(grep -c "40P01" "$DAEMON_LOG" || true)
note "log lines about deadlocks (40P01): $deadlocks"
# Opposite orders over 200 keys make deadlocks near certain; without one the test proves nothing.
((deadlocks >= 1)) || fail "no deadlock happened: the test's load did not make the lanes collide"
retried=$(grep -c "running the same transaction again" "$DAEMON_LOG" || true)
note "transactions run again by their lane: $retried; recoveries: $(grep -c "PostgreSQL write failed" "$DAEMON_LOG" || true)"
assert_eq "$(psql_q 'SELECT * FROM expected ORDER BY id')" "$(psql_q 'SELECT * FROM public.readings ORDER BY id')" \
  "rows after upserts of the same keys from two lanes (id, version, val)"
assert_eq $'0\t'$((keys * rounds))$'\n1\t'$((keys * rounds)) "$(stored_offsets readings)" "next offsets stored in PostgreSQL"
assert_eq $'0\t'$((keys * rounds))$'\n1\t'$((keys * rounds)) "$(committed_offsets readings)" "offsets committed to Kafka"
pass
