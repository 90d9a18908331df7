#!/usr/bin/env bash
# --until-caught-up exits 0 once every record below the high watermarks noted at start is
# applied and committed, even while records keep arriving (those are not waited for) and when
# a partition is empty. Whatever it applied is a gap-free prefix of each partition, with the
# same offset stored and committed; the next run picks up the rest.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka metrics:3

psql_q "CREATE TABLE public.metrics (p integer NOT NULL, o bigint NOT NULL, id bigint NOT NULL)"
write_config "$TEST_DIR/sink.yaml" <<'EOF'
batch:
  max_rows: 25
sinks:
  - topic: metrics
    table: public.metrics
    mode: insert
    columns:
      p:  {path: "@partition", type: integer}
      o:  {path: "@offset", type: bigint}
      id: {path: /id, type: bigint}
EOF

# records FIRST_ID LAST_ID [DELAY]: record lines, optionally spaced out in time.
records() {
  local id
  for ((id = $1; id <= $2; id++)); do
    printf '%s\t{"id":%s}\n' "$id" "$id"
    [[ -z "${3:-}" ]] || sleep "$3"
  done
}

high_watermarks() {
  timeout 30 "$KPS_MOCK_KAFKA" watermarks --bootstrap "$KAFKA_BOOTSTRAP" --topic metrics | awk '{ print $2 "\t" $4 }'
}

# Partition 0 holds 50 records, partition 2 holds 20 and keeps growing, partition 1 stays empty.
records 0 49 | produce metrics 0
records 1000 1019 | produce metrics 2
# The late producer adds about 20 records a second to partition 2 for up to 40 s; kcat itself
# (not a function) is the background job, so that its PID is the one to stop.
records 2000 2799 0.05 | kcat -P -b "$KAFKA_BOOTSTRAP" -t metrics -p 2 -K $'\t' >"$TEST_DIR/late-producer.log" 2>&1 &
late_producer=$!
track_pid "$late_producer"
late_records_arrived() {
  (($(high_watermarks | awk '$1 == 2 { print $2 }') > 20))
}
wait_for "the late producer's first record" 20 late_records_arrived
initial_marks=$(high_watermarks)

run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the daemon exited with status $? instead of 0"
process_alive "$late_producer" || fail "the late producer stopped before the daemon exited: the test proves nothing"

# Every record below the marks noted before the start is applied (the daemon noted its marks
# later, so they are at least these), and what was applied is a gap-free prefix of each
# partition. Partition 1 is left out of the offset comparisons: whether an empty partition gets
# an offset row is not part of the contract.
applied=$(psql_q "SELECT p, count(*), count(DISTINCT o), min(o), max(o) FROM public.metrics GROUP BY p ORDER BY p")
while IFS=$'\t' read -r partition mark; do
  rows=$(awk -v p="$partition" '$1 == p { print $2 }' <<<"$applied")
  ((${rows:-0} >= mark)) || fail "partition $partition: ${rows:-0} rows applied, but its high watermark before the start was $mark"
done <<<"$initial_marks"
assert_eq "" "$(awk '$3 != $2 || $4 != 0 || $5 != $2 - 1' <<<"$applied")" \
  "partitions whose applied offsets are not exactly 0..rows-1 (partition, rows, distinct offsets, min, max)"
without_partition_1() { grep -v $'^1\t' || true; }
assert_eq "$(awk '{ print $1 "\t" $2 }' <<<"$applied")" "$(stored_offsets metrics | without_partition_1)" \
  "stored offsets against the rows applied (partition, next offset)"
assert_eq "$(stored_offsets metrics | without_partition_1)" "$(committed_offsets metrics | without_partition_1)" \
  "Kafka-committed offsets against the stored ones"

# Once the producer is done, a second run applies the rest, and nothing twice.
kill "$late_producer"
wait "$late_producer" || true
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the second run exited with status $? instead of 0"
final_marks=$(high_watermarks | awk '$2 > 0 { print $1 "\t" $2 "\t0" }')
assert_eq "$final_marks" "$(psql_q "SELECT p, count(*), count(*) - count(DISTINCT o) FROM public.metrics GROUP BY p ORDER BY p")" \
  "rows after the second run against the final high watermarks (partition, rows, duplicates)"

pass
