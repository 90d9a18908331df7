#!/usr/bin/env bash
# kafka-pg-sink's end-to-end benchmark: how fast the daemon drains a Kafka backlog into
# PostgreSQL, against two baselines loading the same rows into the same table on the same
# server in the same run: PostgreSQL's own bulk loader (psql \copy) and a Python sink written
# the way popular guides teach (integration/python_sink.py).
#
#   integration/benchmark.sh [--records N] [--rounds R] [--modes insert,upsert] [--partitions P]
#                            [--pool-size LIST] [--baselines LIST]
#                            [--max-rows N] [--max-bytes N] [--max-latency-ms N]
#                            [--kafka-property NAME=VALUE]...
#                            [--latency] [--latency-rate N] [--latency-seconds S]
#
# --pool-size takes a comma-separated list (e.g. 1,2,4): the daemon runs once per setting per
# round, with postgres.pool_size set to it, and each setting gets its own row in the medians.
# --baselines takes a comma-separated list of psql and python, or none (default psql,python):
# skipping one keeps a quick run quick; the ratios against a skipped baseline are not printed.
#
# Every flag has an environment equivalent, read first: KPS_BENCH_RECORDS (default 1000000),
# KPS_BENCH_ROUNDS (3), KPS_BENCH_MODES (insert,upsert), KPS_BENCH_PARTITIONS (16),
# KPS_BENCH_POOL_SIZE (4), KPS_BENCH_BASELINES (psql,python),
# KPS_BENCH_MAX_ROWS, KPS_BENCH_MAX_BYTES, KPS_BENCH_MAX_LATENCY_MS,
# KPS_BENCH_KAFKA_PROPERTIES (space-separated NAME=VALUE), KPS_BENCH_LATENCY (0/1),
# KPS_BENCH_LATENCY_RATE (5000), KPS_BENCH_LATENCY_SECONDS (10). Binaries: KPS_BIN,
# KPS_MOCK_KAFKA and KPS_BENCH_PRODUCE (default: build/...; build the kafka-pg-sink,
# kps-mock-kafka and kps-bench-produce targets); KPS_BENCH_PYTHON, the interpreter of the Python
# baseline (default /usr/bin/python3, Debian's, which python3-confluent-kafka and
# python3-asyncpg install into: integration/install-deps.sh).
#
# What it does:
#  1. starts its own PostgreSQL and mock Kafka cluster (integration/lib.sh, which stops them on
#     exit, however the run ends), and produces N records of 6 fields (~135 bytes of JSON each)
#     with kps-bench-produce, which also writes the same rows as CSV for the psql baseline;
#     checks that the cluster holds all N (it keeps only ~5 MB of batches per partition);
#  2. per round and mode, on a freshly created table (6 columns, PRIMARY KEY (id)):
#       insert: the daemon with --until-caught-up (a new consumer group each run) into the empty
#               table, once per --pool-size setting; `psql -c "\copy ... CSV"` into the same
#               empty table; the Python sink (a new consumer group each run) with asyncpg's
#               copy_records_to_table, 5,000-record transactions, Kafka offsets committed after
#               each;
#       upsert: the table first holds every key with other values (loaded untimed), so every
#               record is an update; the daemon in upsert mode; one psql session doing \copy
#               into a temp table and one INSERT ... ON CONFLICT (id) DO UPDATE; the Python sink
#               doing the same per 5,000-record transaction;
#     after each run the table must hold exactly the produced rows (count and every value),
#     else the benchmark fails; the order of the runs reverses from one round to the next;
#  3. prints one line per run, a table of medians per mode and sink, and the issue 11 targets
#     (ours against psql and Python at the best pool size);
#  4. with --latency: runs the daemon (not --until-caught-up; pool_size the first of the list),
#     produces records at --latency-rate for --latency-seconds with the moment of producing in
#     "ts", and reports p50/p99/max of (visible in PostgreSQL - produced).
#
# How it measures: wall time from a sink's start to its exit, taken by this shell; CPU
# (user+sys) and peak RSS of the sink's process (the daemon, the Python interpreter, the psql
# client) by GNU time (`/usr/bin/time -f`), the least machinery that gives both (installed with
# apt-get when missing). "from commit" is the time from a Kafka sink's first committed batch (its
# log line, which names the batch's rows) to its exit, over the rows after that batch, for the
# daemon and the Python sink alike: the mock cluster, like a broker's
# group.initial.rebalance.delay.ms, holds the first join of a new group for 3 s, and that wait is
# part of the end-to-end figure but not of the throughput. The ratios compare from-commit rates
# (psql has no join: its whole run); "vs psql e2e" compares end to end.
# PostgreSQL runs as lib.sh starts it (fsync, synchronous_commit and full_page_writes off) for
# every sink alike; the header prints those settings.
#
# Exit status: 0 when every run loaded exactly the produced rows; 1 when one did not, or failed,
# or timed out (the reason and the log tails are printed); 2 for bad usage.
set -euo pipefail

# Bad usage exits 2 before anything is started.
usage_error() {
  echo "benchmark.sh: $* (see --help)" >&2
  exit 2
}

usage() {
  sed -n '2,/^[^#]/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

records=${KPS_BENCH_RECORDS:-1000000}
rounds=${KPS_BENCH_ROUNDS:-3}
modes=${KPS_BENCH_MODES:-insert,upsert}
partitions=${KPS_BENCH_PARTITIONS:-16}
latency=${KPS_BENCH_LATENCY:-0}
latency_rate=${KPS_BENCH_LATENCY_RATE:-5000}
latency_seconds=${KPS_BENCH_LATENCY_SECONDS:-10}

# The daemon's tuning, within the configuration keys of the contract. 50k-row batches amortise
# the fixed cost per transaction (~1.5 ms per statement) over more rows than the default 10k;
# max_bytes is raised so that it does not close batches first (50k records are ~7 MB).
# librdkafka 2.0.2 stops fetching for all partitions once the consumer's pre-fetch queue holds
# queued.min.messages (default 100000, counted over the whole queue) or queued.max.messages.kbytes,
# and looks again only about a second later: the queue must hold more than a second of the
# daemon's throughput, or the daemon starves (with the defaults it idles ~40% of the time).
# queued.min.messages is raised so that the byte limit decides; 32 MiB is about 240k records
# here and keeps peak RSS under 200 MB (64 MiB: ~300 MB, no faster; 16 MiB starves again).
max_rows=${KPS_BENCH_MAX_ROWS:-50000}
max_bytes=${KPS_BENCH_MAX_BYTES:-33554432}
max_latency_ms=${KPS_BENCH_MAX_LATENCY_MS:-250}
pool_sizes=${KPS_BENCH_POOL_SIZE:-4}
baselines=${KPS_BENCH_BASELINES:-psql,python}
KPS_BENCH_PYTHON=${KPS_BENCH_PYTHON:-/usr/bin/python3}
kafka_properties=(max.partition.fetch.bytes=4194304 queued.min.messages=1000000 queued.max.messages.kbytes=32768)

# set_kafka_property NAME=VALUE: adds the property, or replaces the value of one already set.
set_kafka_property() {
  [[ "$1" =~ ^[a-z.]+=.+$ ]] || usage_error "a Kafka property must read NAME=VALUE, got '$1'"
  local kept=() property
  for property in "${kafka_properties[@]}"; do
    [[ "${property%%=*}" == "${1%%=*}" ]] || kept+=("$property")
  done
  kafka_properties=("${kept[@]}" "$1")
}
for property in ${KPS_BENCH_KAFKA_PROPERTIES:-}; do set_kafka_property "$property"; done

while (($# > 0)); do
  case $1 in
    --records | --rounds | --modes | --partitions | --max-rows | --max-bytes | --max-latency-ms | --pool-size | \
    --baselines | --kafka-property | --latency-rate | --latency-seconds)
      (($# >= 2)) || usage_error "$1 needs a value"
      case $1 in
        --records) records=$2 ;;
        --rounds) rounds=$2 ;;
        --modes) modes=$2 ;;
        --partitions) partitions=$2 ;;
        --max-rows) max_rows=$2 ;;
        --max-bytes) max_bytes=$2 ;;
        --max-latency-ms) max_latency_ms=$2 ;;
        --pool-size) pool_sizes=$2 ;;
        --baselines) baselines=$2 ;;
        --kafka-property) set_kafka_property "$2" ;;
        --latency-rate) latency_rate=$2 ;;
        --latency-seconds) latency_seconds=$2 ;;
      esac
      shift 2
      ;;
    --latency) latency=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
done

positive_integer() {
  [[ "$2" =~ ^[1-9][0-9]*$ ]] || usage_error "$1 must be a positive integer, got '$2'"
}
positive_integer --records "$records"
positive_integer --rounds "$rounds"
positive_integer --partitions "$partitions"
positive_integer --max-rows "$max_rows"
positive_integer --max-bytes "$max_bytes"
[[ "$max_latency_ms" =~ ^[0-9]+$ ]] || usage_error "--max-latency-ms must be a non-negative integer, got '$max_latency_ms'"
positive_integer --latency-rate "$latency_rate"
positive_integer --latency-seconds "$latency_seconds"
[[ "$latency" == 0 || "$latency" == 1 ]] || usage_error "KPS_BENCH_LATENCY must be 0 or 1, got '$latency'"
IFS=, read -r -a mode_list <<<"$modes"
((${#mode_list[@]} > 0)) || usage_error "--modes names no mode"
for mode in "${mode_list[@]}"; do
  [[ "$mode" == insert || "$mode" == upsert ]] || usage_error "--modes takes insert and/or upsert, got '$mode'"
done
IFS=, read -r -a pool_size_list <<<"$pool_sizes"
((${#pool_size_list[@]} > 0)) || usage_error "--pool-size names no setting"
for pool_size in "${pool_size_list[@]}"; do positive_integer --pool-size "$pool_size"; done
# The sinks of one round, in the order of odd rounds: the daemon per pool size, then the baselines.
sinks=()
for pool_size in "${pool_size_list[@]}"; do
  [[ " ${sinks[*]} " != *" daemon/$pool_size "* ]] || usage_error "--pool-size names $pool_size twice"
  sinks+=("daemon/$pool_size")
done
if [[ "$baselines" != none ]]; then
  IFS=, read -r -a baseline_list <<<"$baselines"
  for baseline in "${baseline_list[@]}"; do
    [[ "$baseline" == psql || "$baseline" == python ]] ||
      usage_error "--baselines takes psql and/or python, or none, got '$baseline'"
    [[ " ${sinks[*]} " != *" $baseline "* ]] || usage_error "--baselines names $baseline twice"
    sinks+=("$baseline")
  done
fi
# From here on, lib.sh's EXIT trap stops whatever is started, however the run ends.
source "$(dirname "$0")/lib.sh"
KPS_BENCH_PRODUCE=${KPS_BENCH_PRODUCE:-$KPS_SOURCE_DIR/build/integration/kps-bench-produce}
KPS_BENCH_CONSUME=${KPS_BENCH_CONSUME:-$KPS_SOURCE_DIR/build/integration/kps-bench-consume}

[[ -x "$KPS_BIN" ]] || fail "no daemon binary at $KPS_BIN (build the kafka-pg-sink target, or set KPS_BIN)"
[[ -x "$KPS_BENCH_PRODUCE" ]] ||
  fail "no producer at $KPS_BENCH_PRODUCE (build the kps-bench-produce target, or set KPS_BENCH_PRODUCE)"
[[ -x "$KPS_BENCH_CONSUME" ]] ||
  fail "no consumer at $KPS_BENCH_CONSUME (build the kps-bench-consume target, or set KPS_BENCH_CONSUME)"
if [[ " ${sinks[*]} " == *" python "* ]]; then
  "$KPS_BENCH_PYTHON" -c 'import confluent_kafka, asyncpg' 2>/dev/null ||
    fail "$KPS_BENCH_PYTHON cannot import confluent_kafka and asyncpg (Debian: python3-confluent-kafka" \
      "python3-asyncpg, see integration/install-deps.sh; or set KPS_BENCH_PYTHON), or skip it: --baselines psql"
fi

# A generous bound for any one load of N rows: 60 s plus 20 s per 100k rows (~5k rows/s; the
# Python sink, the slowest, runs at 10-25k rows/s on a loaded 2-core machine).
run_timeout=$((60 + records / 5000))
CSV=$TEST_DIR/rows.csv
RESULTS=$TEST_DIR/results.tsv
PSQL=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1)

# GNU time, not the shell keyword: it reports the child's peak RSS.
ensure_gnu_time() {
  [[ -x /usr/bin/time ]] && return 0
  local as_root=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || fail "GNU time (/usr/bin/time) is missing; install the Debian package 'time'"
    as_root=(sudo)
  fi
  echo "installing GNU time (Debian package 'time')"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends time >/dev/null ||
    fail "could not install the Debian package 'time' (GNU time)"
}

now_micros() {
  echo "${EPOCHREALTIME//[!0-9]/}"
}

# Microseconds since the epoch of the first daemon log line matching ERE, empty when none.
log_line_micros() {
  local stamp
  stamp=$(grep -m1 -E -- "$1" "$2" | cut -d' ' -f1) || true
  [[ -n "$stamp" ]] || return 0
  date -u -d "$stamp" +%s%6N
}

table_definition() {
  echo "CREATE TABLE $1 (id bigint PRIMARY KEY, device text NOT NULL, ts timestamptz NOT NULL,
                        temperature double precision NOT NULL, site text NOT NULL, attrs jsonb NOT NULL ${2:-})"
}

# prepare_table MODE: a fresh table for MODE's next run. For upsert it holds every key with other
# values in every column, so that each record is a real update; it is vacuumed and analysed the
# way a table that has been in use would be. The checkpoint writes out the preparation's
# dirty pages now, not during the timed run.
prepare_table() {
  local table=bench_$1
  psql_q "SET client_min_messages = warning; DROP TABLE IF EXISTS $table; $(table_definition "$table")"
  if [[ $1 == upsert ]]; then
    psql_q "INSERT INTO $table
            SELECT id, device || '-old', ts - interval '1 day', temperature + 1000, site || '-old', '{\"old\": true}'
            FROM bench_expected"
    psql_q "VACUUM (ANALYZE) $table"
  fi
  psql_q "CHECKPOINT"
}

# verify_table MODE WHO ROUND: the table holds exactly the produced rows, value for value.
verify_table() {
  local table=bench_$1 counts
  counts=$(psql_q "SELECT (SELECT count(*) FROM $table),
                          (SELECT count(*) FROM $table t JOIN bench_expected e USING (id)
                           WHERE (t.device, t.ts, t.temperature, t.site, t.attrs)
                                 IS NOT DISTINCT FROM (e.device, e.ts, e.temperature, e.site, e.attrs))")
  local rows matching
  IFS=$'\t' read -r rows matching <<<"$counts"
  [[ "$rows" == "$records" && "$matching" == "$records" ]] ||
    fail "round $3, $1 mode, $2: $table holds $rows rows, $matching of them equal to the produced records" \
      "(expected $records of each)"
}

# write_daemon_config PATH GROUP TOPIC TABLE MODE POOL_SIZE KAFKA_PROPERTY...
write_daemon_config() {
  local path=$1 group=$2 topic=$3 table=$4 mode=$5 pool=$6 property
  shift 6
  {
    cat <<EOF
kafka:
  bootstrap_servers: "$KAFKA_BOOTSTRAP"
  group_id: "$group"
  properties:
EOF
    for property in "$@"; do printf '    %s: "%s"\n' "${property%%=*}" "${property#*=}"; done
    cat <<EOF
postgres:
  dsn: "$PG_DSN"
  pool_size: $pool
state:
  dir: "$TEST_DIR/state-$group"
http:
  listen: ""
log:
  progress_interval_ms: 0
batch:
  max_rows: $max_rows
  max_bytes: $max_bytes
  max_latency_ms: $max_latency_ms
sinks:
  - topic: $topic
    table: public.$table
    mode: $mode
    primary_key: [id]
    columns:
      id:          {path: /id, type: bigint}
      device:      {path: /device, type: text}
      ts:          {path: /ts, type: timestamptz}
      temperature: {path: /temperature, type: double}
      site:        {path: /site, type: text}
      attrs:       {path: /attrs, type: jsonb}
EOF
  } >"$path"
}

# timed WHO MODE ROUND TIME_FILE COMMAND...: runs COMMAND under GNU time within run_timeout,
# with its output in a log; sets WALL_MICROS and STARTED_MICROS.
timed() {
  local who=$1 mode=$2 round=$3 time_file=$4
  shift 4
  local log=$TEST_DIR/$who-$mode-$round.log status=0
  [[ $who != daemon ]] || DAEMON_LOG=$log  # lib.sh's EXIT trap prints its tail on failure
  STARTED_MICROS=$(now_micros)
  timeout --kill-after=10 "$run_timeout" /usr/bin/time -f '%e %U %S %M' -o "$time_file" "$@" >"$log" 2>&1 ||
    status=$?
  WALL_MICROS=$(($(now_micros) - STARTED_MICROS))
  ((status != 124)) || fail "round $round, $mode mode, $who: did not finish within ${run_timeout}s"
  ((status != 0)) || return 0
  # The EXIT trap prints the tail of the daemon's log; psql's is shown here.
  if [[ $who == daemon ]]; then fail "round $round, $mode mode, daemon: exited with status $status"; fi
  fail "round $round, $mode mode, $who: exited with status $status; $log ends with:"$'\n'"$(tail -n 15 "$log")"
}

# first_commit_from_log LOG: "MICROS ROWS": microseconds from STARTED_MICROS to the first
# committed batch in LOG and that batch's rows (the daemon logs "first batch committed: N row(s)",
# the Python sink "first commit: N rows"); "-1 0" when the log has none.
first_commit_from_log() {
  local pattern='first (batch committed|commit): [0-9]+ row' committed rows
  committed=$(log_line_micros "$pattern" "$1")
  if [[ -z "$committed" ]]; then
    echo "-1 0"
    return
  fi
  rows=$(grep -m1 -E -- "$pattern" "$1" | sed -E 's/.*first (batch committed|commit): ([0-9]+) row.*/\2/')
  echo "$((committed - STARTED_MICROS)) $rows"
}

# record_time_file MODE ROUND SINK "FIRST_COMMIT_MICROS FIRST_ROWS" TIME_FILE: records the run just timed.
record_time_file() {
  local user system rss_kb first_micros first_rows
  read -r _ user system rss_kb < <(tail -n 1 "$5")
  read -r first_micros first_rows <<<"$4"
  record_result "$1" "$2" "$3" "$WALL_MICROS" "$first_micros" "$user" "$system" "$rss_kb" "$first_rows"
}

# run_daemon_round MODE ROUND POOL_SIZE
run_daemon_round() {
  local mode=$1 round=$2 pool=$3 group="kps-bench-$1-$2-pool$3"
  local config=$TEST_DIR/$group.yaml time_file=$TEST_DIR/$group.time
  prepare_table "$mode"
  write_daemon_config "$config" "$group" bench "bench_$mode" "$mode" "$pool" "${kafka_properties[@]}"
  timed daemon "$mode" "$round-pool$pool" "$time_file" "$KPS_BIN" --config "$config" --until-caught-up
  verify_table "$mode" "daemon (pool_size $pool)" "$round"
  record_time_file "$mode" "$round" "daemon/$pool" "$(first_commit_from_log "$DAEMON_LOG")" "$time_file"
}

# run_psql_round MODE ROUND
run_psql_round() {
  local mode=$1 round=$2 time_file=$TEST_DIR/psql-$1-$2.time
  prepare_table "$mode"
  if [[ $mode == insert ]]; then
    timed psql "$mode" "$round" "$time_file" "${PSQL[@]}" -d "$PG_DSN" \
      -c "\\copy bench_insert FROM '$CSV' WITH (FORMAT csv)"
  else
    cat >"$TEST_DIR/upsert-baseline.sql" <<SQL
CREATE TEMP TABLE bench_stage (LIKE bench_upsert);
\\copy bench_stage FROM '$CSV' WITH (FORMAT csv)
INSERT INTO bench_upsert SELECT * FROM bench_stage
ON CONFLICT (id) DO UPDATE SET device = EXCLUDED.device, ts = EXCLUDED.ts, temperature = EXCLUDED.temperature,
                               site = EXCLUDED.site, attrs = EXCLUDED.attrs;
SQL
    timed psql "$mode" "$round" "$time_file" "${PSQL[@]}" -d "$PG_DSN" -f "$TEST_DIR/upsert-baseline.sql"
  fi
  verify_table "$mode" psql "$round"
  record_time_file "$mode" "$round" psql "-1 0" "$time_file"
}

# run_python_round MODE ROUND: integration/python_sink.py, a new consumer group each run.
run_python_round() {
  local mode=$1 round=$2 group="kps-bench-python-$1-$2"
  local time_file=$TEST_DIR/$group.time
  prepare_table "$mode"
  timed python "$mode" "$round" "$time_file" "$KPS_BENCH_PYTHON" "$KPS_SOURCE_DIR/integration/python_sink.py" \
    --bootstrap "$KAFKA_BOOTSTRAP" --topic bench --group "$group" --dsn "$PG_URI" --table "bench_$mode" --mode "$mode"
  verify_table "$mode" python "$round"
  record_time_file "$mode" "$round" python "$(first_commit_from_log "$TEST_DIR/python-$mode-$round.log")" "$time_file"
}

# run_sink_round SINK MODE ROUND: SINK is daemon/POOL_SIZE, psql or python.
run_sink_round() {
  case $1 in
    daemon/*) run_daemon_round "$2" "$3" "${1#daemon/}" ;;
    psql) run_psql_round "$2" "$3" ;;
    python) run_python_round "$2" "$3" ;;
  esac
}

# record_result MODE ROUND SINK WALL_MICROS FIRST_COMMIT_MICROS USER_S SYSTEM_S RSS_KB FIRST_ROWS:
# appends the run to RESULTS and prints its line. FIRST_COMMIT_MICROS is -1 for psql (no Kafka)
# and for a Kafka sink whose log has no first-commit line; FIRST_ROWS: the rows of that batch,
# which the from-first-commit rate does not count.
record_result() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"
  awk -v mode="$1" -v round="$2" -v sink="$3" -v wall="$4" -v first="$5" -v user="$6" -v sys="$7" \
      -v rss="$8" -v first_rows="$9" -v n="$records" 'BEGIN {
    seconds = wall / 1e6
    label = sink
    sub(/^daemon\//, "daemon pool=", label)
    line = sprintf("round %d  %-6s  %-13s  %d rows in %6.2f s = %7.0f rows/s", round, mode, label, n, seconds, n / seconds)
    if (sink != "psql") {
      if (first >= 0) {
        line = line sprintf("; first commit (%d rows) after %.2f s, then %6.2f s = %7.0f rows/s",
                            first_rows, first / 1e6, (wall - first) / 1e6, (n - first_rows) / ((wall - first) / 1e6))
      } else {
        line = line "; (no first-commit line in its log)"
      }
    }
    line = line sprintf("; cpu %.2f s (user %.2f, sys %.2f), peak RSS %.0f MB", user + sys, user, sys, rss / 1024)
    print line
  }'
}

# The medians of the rounds, per mode and sink, then the issue 11 targets at the best pool size.
print_summary() {
  echo
  echo "== Summary: $records records, $rounds round(s), medians of the rounds (peak RSS: the largest)"
  echo "   e2e: start to exit; from commit: the rows after the first committed batch, from that commit to exit"
  echo "   (psql: its whole run)"
  echo "   vs psql, vs python: median of the per-round ratios of from-commit rows/s (the same round's runs);"
  echo "   vs psql e2e: the same, end to end"
  echo "   CPU (user+sys) and peak RSS: the sink's own process (psql: the client only, not PostgreSQL's)"
  awk -F'\t' -v n="$records" -v mode_order="$modes" -v sink_order="${sinks[*]}" -v floor="$librdkafka_cpu_per_million" '
    function median(values, count,    i, j, t) {
      for (i = 2; i <= count; i++) {
        t = values[i]
        for (j = i - 1; j >= 1 && values[j] > t; j--) values[j + 1] = values[j]
        values[j + 1] = t
      }
      return count % 2 ? values[(count + 1) / 2] : (values[count / 2] + values[count / 2 + 1]) / 2
    }
    function ratio_cell(value) { return value == "" ? "-" : sprintf("%.2f", value) }
    function verdict(met) { return met ? "met" : "NOT met" }
    {
      key = $1 SUBSEP $3 SUBSEP $2
      rounds_of[$1 SUBSEP $3] = rounds_of[$1 SUBSEP $3] " " $2
      e2e[key] = n / ($4 / 1e6)
      # psql has no join; a Kafka sink without a first-commit line has no from-commit figure.
      joined[key] = $3 == "psql" ? e2e[key] : ($5 >= 0 ? (n - $9) / (($4 - $5) / 1e6) : -1)
      cpu[key] = $6 + $7
      if ($8 > peak[$1 SUBSEP $3]) peak[$1 SUBSEP $3] = $8
    }
    # median_ratio MODE SINK OTHER USE_E2E: the median over the rounds both ran of SINK / OTHER,
    # "" when there is none or a from-commit figure is missing.
    function median_ratio(mode, sink, other, use_e2e,    count, list, i, k, a, b, values) {
      count = split(rounds_of[mode SUBSEP sink], list, " ")
      k = 0
      for (i = 1; i <= count; i++) {
        a = mode SUBSEP sink SUBSEP list[i]; b = mode SUBSEP other SUBSEP list[i]
        if (!(b in e2e)) continue
        if (use_e2e) { values[++k] = e2e[a] / e2e[b]; continue }
        if (joined[a] < 0 || joined[b] < 0) return ""
        values[++k] = joined[a] / joined[b]
      }
      return k == 0 ? "" : median(values, k)
    }
    END {
      printf "%-7s %-14s %11s %11s %8s %12s %10s %13s %12s\n", "mode", "sink", "e2e rows/s", "from commit",
             "vs psql", "vs psql e2e", "vs python", "CPU s/M rows", "peak RSS MB"
      mode_count = split(mode_order, modes_ordered, ",")
      sink_count = split(sink_order, sinks_ordered, " ")
      for (m = 1; m <= mode_count; m++) {
        mode = modes_ordered[m]
        best_rate = -1
        for (s = 1; s <= sink_count; s++) {
          sink = sinks_ordered[s]
          count = split(rounds_of[mode SUBSEP sink], list, " ")
          if (count == 0) continue
          unknown = 0
          for (i = 1; i <= count; i++) {
            key = mode SUBSEP sink SUBSEP list[i]
            r_e2e[i] = e2e[key]; r_joined[i] = joined[key]; r_cpu[i] = cpu[key] / n * 1e6
            if (joined[key] < 0) unknown = 1
          }
          label = sink
          sub(/^daemon\//, "daemon pool=", label)
          joined_median = unknown ? -1 : median(r_joined, count)
          vs_psql = sink == "psql" ? "" : median_ratio(mode, sink, "psql", 0)
          vs_psql_e2e = sink == "psql" ? "" : median_ratio(mode, sink, "psql", 1)
          vs_python = sink ~ /^daemon\// ? median_ratio(mode, sink, "python", 0) : ""
          printf "%-7s %-14s %11.0f %11s %8s %12s %10s %13s %12.0f\n", mode, label, median(r_e2e, count),
                 unknown ? "n/a" : sprintf("%.0f", joined_median), ratio_cell(vs_psql), ratio_cell(vs_psql_e2e),
                 ratio_cell(vs_python), sink == "psql" ? "-" : sprintf("%.2f", median(r_cpu, count)),
                 peak[mode SUBSEP sink] / 1024
          if (sink ~ /^daemon\// && joined_median > best_rate) {
            best_rate = joined_median; best[mode] = label
            best_vs_psql[mode] = vs_psql; best_vs_python[mode] = vs_python
            best_cpu[mode] = median(r_cpu, count); best_peak[mode] = peak[mode SUBSEP sink] / 1024
          }
        }
      }
      print ""
      print "== Targets (issue 11), the daemon at its best pool size per mode (by from-commit rows/s)"
      for (m = 1; m <= mode_count; m++) {
        mode = modes_ordered[m]
        if (!(mode in best)) continue
        line = sprintf("%-7s %-14s", mode, best[mode])
        if (best_vs_psql[mode] == "") line = line "  vs psql n/a"
        else line = line sprintf("  vs psql %.2f (>= 1.30: %s)", best_vs_psql[mode], verdict(best_vs_psql[mode] >= 1.3))
        if (best_vs_python[mode] == "") line = line "  vs python n/a"
        else line = line sprintf("  vs python %.2f (>= 4.00: %s)", best_vs_python[mode], verdict(best_vs_python[mode] >= 4))
        line = line sprintf("  CPU %.2f s/M rows (<= 0.80: %s)  peak RSS %.0f MB (< 300: %s)",
                            best_cpu[mode], verdict(best_cpu[mode] <= 0.8), best_peak[mode], verdict(best_peak[mode] < 300))
        print line
      }
      if (floor != "") printf "librdkafka alone (kps-bench-consume: the consumer settings of the daemon, records read and dropped): %.2f CPU s/M records\n", floor
    }' "$RESULTS"
}

# The latency probe: a daemon left running, records arriving at latency_rate, and a poller that
# stamps each row with the moment it first sees it.
run_latency_probe() {
  local topic=bench_latency table=bench_latency group=kps-bench-latency
  local latency_partitions=4 warmup=4 total=$((latency_rate * latency_seconds))
  echo
  echo "== Latency: $latency_rate records/s for ${latency_seconds} s into a running daemon" \
    "(insert mode, batch.max_latency_ms=$max_latency_ms, postgres.pool_size=${pool_size_list[0]}," \
    "fetch.wait.max.ms=10 unless set)"
  # visible_at is stamped by the poller; the partial index keeps each poll to the unseen rows.
  psql_q "SET client_min_messages = warning; DROP TABLE IF EXISTS $table;
          $(table_definition "$table" ", visible_at timestamptz");
          CREATE INDEX ON $table (id) WHERE visible_at IS NULL"
  # The mock cluster answers a fetch that finds no data only after fetch.wait.max.ms (500 ms by
  # default), even when records arrive meanwhile; a broker answers as soon as they arrive. A
  # 10 ms wait takes that artefact of the mock out of the figures, unless a property sets it.
  local properties=("${kafka_properties[@]}")
  [[ " ${properties[*]}" == *" fetch.wait.max.ms="* ]] || properties+=(fetch.wait.max.ms=10)
  write_daemon_config "$TEST_DIR/$group.yaml" "$group" "$topic" "$table" insert "${pool_size_list[0]}" \
    "${properties[@]}"
  start_daemon "$TEST_DIR/$group.yaml"

  # Records are produced only once the daemon consumes (group joined, partitions assigned), so
  # that the group join does not count as latency.
  "$KPS_BENCH_PRODUCE" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$topic" --partitions "$latency_partitions" \
    --records "$warmup" --first-id 1 >/dev/null || fail "could not produce the latency probe's warm-up records"
  wait_for "the daemon to apply the warm-up records" 60 sql_equals "SELECT count(*) FROM $table" "$warmup"

  # \watch repeats the statement every 10 ms in one session: a row's visible_at is at most one
  # poll (plus the statement's own time) after its commit became visible.
  printf '%s\n' "UPDATE $table SET visible_at = clock_timestamp() WHERE visible_at IS NULL" '\watch 0.01' \
    >"$TEST_DIR/latency-poller.sql"
  "${PSQL[@]}" -d "$PG_DSN" -f "$TEST_DIR/latency-poller.sql" >"$TEST_DIR/latency-poller.log" 2>&1 &
  local poller=$!
  track_pid "$poller"

  local produced_line
  produced_line=$(timeout $((latency_seconds * 3 + 30)) "$KPS_BENCH_PRODUCE" --bootstrap "$KAFKA_BOOTSTRAP" \
    --topic "$topic" --partitions "$latency_partitions" --records "$total" --first-id 1000 --rate "$latency_rate") ||
    fail "the latency probe's producer failed"
  echo "kafka: $produced_line"
  wait_for "every latency probe record to be visible" 60 sql_equals \
    "SELECT count(*) FROM $table WHERE id >= 1000 AND visible_at IS NOT NULL" "$total"
  process_alive "$poller" || fail "the latency poller stopped early: $(tail -n 5 "$TEST_DIR/latency-poller.log")"
  kill "$poller"
  stop_daemon TERM 30 || fail "the latency probe's daemon exited with status $? after SIGTERM"

  local stats
  stats=$(psql_q "SELECT count(*),
                         round(percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)::numeric, 1),
                         round(percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms)::numeric, 1),
                         round(max(latency_ms)::numeric, 1)
                  FROM (SELECT extract(epoch FROM visible_at - ts) * 1000 AS latency_ms
                        FROM $table WHERE id >= 1000) l")
  local count p50 p99 worst
  IFS=$'\t' read -r count p50 p99 worst <<<"$stats"
  printf '%-7s %10s %10s %10s %18s\n' "records" "p50 ms" "p99 ms" "max ms" "max_latency_ms"
  printf '%-7s %10s %10s %10s %18s\n' "$count" "$p50" "$p99" "$worst" "$max_latency_ms"
  echo "(produce -> visible to a 10 ms poller; the promise is max_latency_ms plus one transaction)"
}

# ---------------------------------------------------------------------------------------------

ensure_gnu_time
benchmark_started=$SECONDS

echo "== kafka-pg-sink benchmark: $records records, $rounds round(s), modes $modes, $partitions partitions"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'),"\
  "$(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
echo "daemon: $("$KPS_BIN" --version | paste -sd, - | sed 's/,/, /g')"
echo "daemon config: batch.max_rows=$max_rows batch.max_bytes=$max_bytes batch.max_latency_ms=$max_latency_ms" \
  "postgres.pool_size=$pool_sizes (one run each) kafka.properties: ${kafka_properties[*]}"
echo "baselines: ${baselines}"

start_postgres
# asyncpg takes a URI, not libpq's key=value string.
PG_URI="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
echo "postgres: $(psql_q "SELECT split_part(version(), ' on ', 1)"), $(psql_q "
  SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ' ' ORDER BY name) FROM pg_settings
  WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'max_wal_size', 'wal_level')")"
kafka_topics=("bench:$partitions")
((latency == 0)) || kafka_topics+=("bench_latency:4")
start_kafka "${kafka_topics[@]}"

# 1. The records, and the same rows as CSV.
produced_line=$("$KPS_BENCH_PRODUCE" --bootstrap "$KAFKA_BOOTSTRAP" --topic bench --partitions "$partitions" \
  --records "$records" --csv "$CSV") || fail "kps-bench-produce failed"
echo "kafka: $produced_line"
watermarks=$(timeout 30 "$KPS_MOCK_KAFKA" watermarks --bootstrap "$KAFKA_BOOTSTRAP" --topic bench) ||
  fail "could not read the watermarks of topic bench"
dropped=$(awk '$3 != 0 { printf " partition %s from offset %s", $2, $3 }' <<<"$watermarks")
[[ -z "$dropped" ]] ||
  fail "the mock cluster dropped the oldest records of$dropped (it keeps ~5 MB per partition): use more --partitions"
held=$(awk '{ sum += $4 - $3 } END { print sum + 0 }' <<<"$watermarks")
[[ "$held" == "$records" ]] || fail "topic bench holds $held records (sum of high - low watermarks), not $records"
echo "kafka: topic bench holds all $held records in $partitions partitions (lz4)"

psql_q "$(table_definition bench_expected)"
"${PSQL[@]}" -d "$PG_DSN" -c "\\copy bench_expected FROM '$CSV' WITH (FORMAT csv)" ||
  fail "loading $CSV into bench_expected failed"
psql_q "VACUUM (ANALYZE) bench_expected"

# The floor under the daemon's CPU: librdkafka consuming the same records with the daemon's
# consumer settings and doing nothing with them (integration/bench_consume.cpp), median of the rounds.
echo
echo "== librdkafka alone"
floor_runs=()
consume_properties=()
for property in "${kafka_properties[@]}"; do consume_properties+=(--property "$property"); done
for ((round = 1; round <= rounds; round++)); do
  floor_line=$(timeout "$run_timeout" "$KPS_BENCH_CONSUME" --bootstrap "$KAFKA_BOOTSTRAP" --topic bench \
    --records "$records" "${consume_properties[@]}" 2>&1) || fail "kps-bench-consume failed: $floor_line"
  echo "round $round  $floor_line"
  floor_runs+=("$(awk -v n="$records" '{ for (i = 1; i < NF; i++) if ($i == "cpu") print $(i + 1) / n * 1e6 }' <<<"$floor_line")")
done
librdkafka_cpu_per_million=$(printf '%s\n' "${floor_runs[@]}" | sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
echo "librdkafka alone: $librdkafka_cpu_per_million CPU s/M records (median of $rounds)"

# 2. The rounds. Reversing the order of the sinks every other round spreads any drift (caches,
# autovacuum) evenly.
echo
echo "== Runs"
: >"$RESULTS"
for ((round = 1; round <= rounds; round++)); do
  for mode in "${mode_list[@]}"; do
    if ((round % 2 == 1)); then
      for ((s = 0; s < ${#sinks[@]}; s++)); do run_sink_round "${sinks[s]}" "$mode" "$round"; done
    else
      for ((s = ${#sinks[@]} - 1; s >= 0; s--)); do run_sink_round "${sinks[s]}" "$mode" "$round"; done
    fi
  done
done

# 3. The medians.
print_summary

# 4. Latency at low load.
((latency == 0)) || run_latency_probe

echo
echo "benchmark finished in $((SECONDS - benchmark_started)) s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
