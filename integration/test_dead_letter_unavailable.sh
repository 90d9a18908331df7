#!/usr/bin/env bash
# errors.tolerance all while the dead letter topic refuses every produce (the mock broker fails
# Produce requests): a bad record's partition waits — no offset moves past it, in PostgreSQL or
# in Kafka, however long it lasts — and once the topic takes letters again, the letter arrives
# once, every good record is applied once, and the offsets move on.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka clicks:2 clicks.dlq:1

psql_q "CREATE TABLE public.clicks (id bigint PRIMARY KEY, page text NOT NULL)"
write_config "$TEST_DIR/sink.yaml" <<'EOF_CONFIG'
batch:
  max_rows: 1000
  max_latency_ms: 200
errors:
  tolerance: all
  dead_letter_topic: clicks.dlq
retry:
  initial_backoff_ms: 100
  max_backoff_ms: 1000
sinks:
  - topic: clicks
    table: public.clicks
    mode: insert
    columns:
      id:   {path: /id, type: bigint}
      page: {path: /page, type: text}
EOF_CONFIG

# Partition 0: offset 5 has no page. Partition 1: all good.
for ((n = 0; n < 10; n++)); do
  if ((n == 5)); then printf '%s\t{"id":%s}\n' "$n" "$n"; else printf '%s\t{"id":%s,"page":"/p%s"}\n' "$n" "$n" "$n"; fi
done | produce clicks 0
for ((n = 0; n < 10; n++)); do printf '%s\t{"id":%s,"page":"/q"}\n' "$n" "$((100 + n))"; done | produce clicks 1

mock_control errors Produce 100000 TOPIC_AUTHORIZATION_FAILED
start_daemon "$TEST_DIR/sink.yaml"
dead_letter_refused() { grep -q 'dead letters not acknowledged' "$DAEMON_LOG"; }
wait_for "the daemon to find the dead letter topic refusing" 30 dead_letter_refused
retried_a_few_times() { (($(grep -c 'reconnect\|dead letters not acknowledged\|resuming' "$DAEMON_LOG") >= 3)); }
wait_for "a few more attempts" 30 retried_a_few_times
sleep 2

p0_stored=$(psql_q "SELECT next_offset FROM kafka_pg_sink_offsets WHERE topic = 'clicks' AND \"partition\" = 0")
((${p0_stored:-0} <= 5)) || fail "partition 0's offset moved past the bad record while its dead letter was refused: $p0_stored"
assert_eq 0 "$(psql_q 'SELECT count(*) FROM public.clicks WHERE id > 5 AND id < 100')" \
  "rows of partition 0 after the bad record while its dead letter is refused"
committed=$(committed_offsets clicks | awk -F'\t' '$1 == 0 { print $2 }')
((${committed:-0} <= 5)) || fail "partition 0's Kafka offset moved past the bad record: $committed"

mock_control errors-clear Produce
all_applied() { [[ "$(stored_offsets clicks)" == $'0\t10\n1\t10' ]]; }
wait_for "every offset to be stored once letters are accepted again" 60 all_applied
stop_daemon TERM 20 || fail "the daemon exited with status $? after SIGTERM"

assert_eq "$(seq 0 4; seq 6 9; seq 100 109)" "$(psql_q 'SELECT id FROM public.clicks ORDER BY id')" "ids in the table"
assert_eq $'0\t10\n1\t10' "$(committed_offsets clicks)" "offsets committed to Kafka"
letters=$(timeout 30 kcat -C -b "$KAFKA_BOOTSTRAP" -t clicks.dlq -e -q -f '%k %s\n')
assert_eq '5 {"id":5}' "$letters" "the dead letter topic holds the bad record, once"
pass
