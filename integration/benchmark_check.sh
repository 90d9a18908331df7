#!/usr/bin/env bash
# ctest's benchmark:small: runs integration/benchmark.sh at a small size with two pool sizes and
# both baselines (and a short latency probe), then checks what it printed.
#
# benchmark.sh itself fails (exit 1) when a run fails or when a table does not hold exactly the
# produced rows afterwards (count and every value), for the daemon and both baselines alike; on
# top of its exit status this checks that every sink ran in every mode, that the medians table
# has a row per mode and sink with the ratios the issue asks for, and that the targets are
# printed. Takes the benchmark's environment (KPS_BIN, KPS_MOCK_KAFKA, KPS_BENCH_PRODUCE, ...).
set -euo pipefail

output=$(mktemp "${KPS_TEST_TMP:-/tmp}/kps-benchmark-check.XXXXXX")
trap 'rm -f "$output"' EXIT

status=0
bash "$(dirname "$0")/benchmark.sh" --records 20000 --rounds 1 --pool-size 1,2 --baselines psql,python \
  --latency --latency-seconds 3 2>&1 | tee "$output" || status=$?

problems=()
((status == 0)) || problems+=("benchmark.sh exited with status $status")

number='[0-9]+(\.[0-9]+)?'
for mode in insert upsert; do
  for sink in "daemon pool=1" "daemon pool=2" python psql; do
    grep -Eq "^round 1  $mode +$sink +20000 rows in +$number s" "$output" ||
      problems+=("no run line for $mode, $sink")
  done
  # mode, sink, e2e rows/s, from commit, vs psql, vs psql e2e, vs python, CPU s/M rows, peak RSS MB
  for pool in 1 2; do
    grep -Eq "^$mode +daemon pool=$pool +$number +$number +$number +$number +$number +$number +$number$" "$output" ||
      problems+=("the medians have no complete row for $mode, daemon pool=$pool (rates, ratios vs psql and python, CPU, RSS)")
  done
  grep -Eq "^$mode +python +$number +$number +$number +$number +- +$number +$number$" "$output" ||
    problems+=("the medians have no complete row for $mode, python")
  grep -Eq "^$mode +psql +$number +$number +- +- +- +- +$number$" "$output" ||
    problems+=("the medians have no row for $mode, psql")
  grep -Eq "^$mode +daemon pool=[12] +vs psql $number \(>= 1\.30: (met|NOT met)\)  vs python $number \(>= 4\.00: (met|NOT met)\)" \
    "$output" || problems+=("no targets line for $mode")
done
grep -Eq '^[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9]+$' "$output" || problems+=("no latency figures")
grep -Eq "^round 1  consumed 20000 records \([0-9]+ bytes\) in $number s from the first record, cpu $number s$" "$output" ||
  problems+=("no run of librdkafka alone")
grep -Eq "^librdkafka alone \(kps-bench-consume.*\): $number CPU s/M records$" "$output" ||
  problems+=("no librdkafka-alone line in the targets")

if ((${#problems[@]} > 0)); then
  printf 'FAIL benchmark:small: %s\n' "${problems[@]}" >&2
  exit 1
fi
echo "PASS benchmark:small"
