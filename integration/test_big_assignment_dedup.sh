#!/usr/bin/env bash
# The dedup rebuild of a big assignment runs outside the rebalance callback: with the state
# directory lost, a restart over 512 partitions must re-read every partition's records to
# learn their identities. The assignment completes at once, the partitions stay paused until
# the re-reading is done (so duplicates produced before the restart, landing in any
# partition, are still dropped), /healthz answers 200 throughout, and each record is applied
# exactly once.
source "$(dirname "$0")/lib.sh"

readonly partitions=512
readonly assignment_limit_seconds=10
start_postgres
start_kafka "bigdedup:$partitions"
create_sink_table public.bigdedup
write_config "$TEST_DIR/sink.yaml" <<'YAML'
batch:
  max_rows: 1000
  max_latency_ms: 50
sinks:
  - topic: bigdedup
    table: public.bigdedup
    mode: insert
    dedup:
      fields: [/id]
      ttl: 1h
    columns:
      id:     {path: /id, type: bigint}
      name:   {path: /name, type: text}
      amount: {path: /amount, type: bigint}
      p:      {path: "@partition", type: integer}
      o:      {path: "@offset", type: bigint}
YAML
enable_http "$TEST_DIR/sink.yaml"

produce_records bigdedup 1 4000
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the first run exited with status $?"
assert_eq 4000 "$(psql_q "SELECT count(*) FROM public.bigdedup")" "rows after the first run"

# The state is lost; then duplicates of records 1..1000 (as a producer retrying after a
# timeout would send them: same key, so the same partition) and new records 4001..5000.
rm -rf "$TEST_DIR/state"
produce_records bigdedup 1 1000
produce_records bigdedup 4001 5000

start_daemon_timing_assignment "$TEST_DIR/sink.yaml" "$partitions" "$assignment_limit_seconds"
assert_log_matches "rebalance: $partitions partition\(s\) assigned \(paused\), $partitions owned" \
  "the partitions are assigned paused while the dedup state is rebuilt"
assert_log_matches "rebuilding the dedup state of $partitions partition\(s\)" "the rebuild covers the whole topic"

# (A rebalance on a loaded machine may restart the rebuild for the partitions not yet done.)
wait_for "the dedup rebuild to end" 60 grep -q "dedup state rebuilt for [0-9]* partition(s)" "$DAEMON_LOG"
note "$(grep -o "dedup state rebuilt for .*" "$DAEMON_LOG")"
wait_until_applied bigdedup 60
note "measured: caught up $(awk -v a="$started_at" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s after the start"
stop_healthz_probe
stop_daemon TERM 20 || fail "the daemon exited with status $? after SIGTERM"
assert_log_matches "dedup_dropped=1000 " "the 1000 duplicates are dropped by the rebuilt state"

create_expected_table public.expected 1 5000
psql_q "ALTER TABLE public.bigdedup DROP COLUMN p, DROP COLUMN o"
assert_exactly_once public.bigdedup public.expected
pass
