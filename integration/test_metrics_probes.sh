#!/usr/bin/env bash
# HTTP: /metrics counts exactly what was written, /healthz answers while the loop runs,
# /readyz once connected to PostgreSQL and in the consumer group; and a sentinel password
# given through the DSN and the environment never reaches the log.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka "metered:2"
psql_q "CREATE TABLE public.metered (id bigint PRIMARY KEY, v text)"
readonly sentinel="S3ntinel-Pa55word"
psql_q "ALTER USER postgres PASSWORD '$sentinel'"
port=$(free_port)

write_config "$TEST_DIR/sink.yaml" <<YAML
batch:
  max_rows: 40
  max_latency_ms: 20
sinks:
  - topic: metered
    table: public.metered
    mode: upsert
    primary_key: [id]
    columns:
      id: {path: /id, type: bigint}
      v:  {path: /v, type: text}
YAML
# The HTTP section comes last so it overrides write_config's disabled one, and the DSN gets
# the password (PostgreSQL's trust auth accepts it, so only the log is at stake).
sed -i "s|^  listen: \"\"|  listen: \"127.0.0.1:$port\"|; s|^  dsn: \"\\(.*\\)\"|  dsn: \"\\1 password=$sentinel\"|" \
  "$TEST_DIR/sink.yaml"
grep -q "127.0.0.1:$port" "$TEST_DIR/sink.yaml" || fail "could not enable HTTP in the test config"

for partition in 0 1; do
  psql_q "SELECT 'k' || i, json_build_object('id', i, 'v', 'value ' || i)
          FROM generate_series(1, 150) AS i WHERE i % 2 = $partition" | produce metered "$partition"
done
# Key 7 twice more in one partition: 152 records consumed, 150 rows in the end.
printf 'k7\t{"id":7,"v":"again"}\nk7\t{"id":7,"v":"last"}\n' | produce metered 1

PGPASSWORD=$sentinel start_daemon "$TEST_DIR/sink.yaml"
url="http://127.0.0.1:$port"
http_status() { curl -s -o /dev/null -w '%{http_code}' "$url$1" || true; }
wait_for "/healthz to answer 200" 20 bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' $url/healthz) == 200 ]]"
wait_for "every record to be written" 60 bash -c \
  "curl -s $url/metrics | grep -q '^kafka_pg_sink_records_consumed_total{topic=\"metered\"} 152$'"
wait_for "/readyz to answer 200" 20 bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' $url/readyz) == 200 ]]"
wait_for "the last batch to be counted" 20 bash -c \
  "curl -s $url/metrics | grep -q '^kafka_pg_sink_records_written_total{topic=\"metered\",table=\"\\\\\"public\\\\\".\\\\\"metered\\\\\"\"} 152$'"
metrics=$(curl -s "$url/metrics")
assert_eq 404 "$(http_status /nothing-here)" "an unknown path"
assert_eq "150 last" "$(psql_q "SELECT count(*) || ' ' || (SELECT v FROM public.metered WHERE id = 7) FROM public.metered")" \
  "rows in the table"
grep -q '^kafka_pg_sink_assigned_partitions 2$' <<<"$metrics" || fail "assigned_partitions is not 2"$'\n'"$metrics"
grep -q '^# TYPE kafka_pg_sink_batch_flush_duration_seconds histogram$' <<<"$metrics" || fail "no flush histogram"
grep -q '^kafka_pg_sink_up 1$' <<<"$metrics" || fail "no up gauge"
rows_written=$(grep '^kafka_pg_sink_rows_written_total{' <<<"$metrics" | awk '{print $2}')
((rows_written >= 150 && rows_written <= 152)) || fail "rows_written_total is $rows_written"

stop_daemon TERM 20 || fail "the daemon did not stop cleanly"
if grep -q "$sentinel" "$DAEMON_LOG"; then fail "the password reached the log"; fi
assert_log_matches 'password=\*\*\*' "the DSN is logged redacted"
pass
