#!/usr/bin/env bash
# kafka-pg-sink's end-to-end benchmark: how fast the daemon drains a Kafka backlog into
# PostgreSQL, against PostgreSQL's own bulk loader (psql \copy) loading the same rows, on the
# same server, in the same run.
#
#   integration/benchmark.sh [--records N] [--rounds R] [--modes insert,upsert] [--partitions P]
#                            [--max-rows N] [--max-bytes N] [--max-latency-ms N] [--pool-size N]
#                            [--kafka-property NAME=VALUE]...
#                            [--latency] [--latency-rate N] [--latency-seconds S]
#
# Every flag has an environment equivalent, read first: KPS_BENCH_RECORDS (default 1000000),
# KPS_BENCH_ROUNDS (3), KPS_BENCH_MODES (insert,upsert), KPS_BENCH_PARTITIONS (16),
# KPS_BENCH_MAX_ROWS, KPS_BENCH_MAX_BYTES, KPS_BENCH_MAX_LATENCY_MS, KPS_BENCH_POOL_SIZE,
# KPS_BENCH_KAFKA_PROPERTIES (space-separated NAME=VALUE), KPS_BENCH_LATENCY (0/1),
# KPS_BENCH_LATENCY_RATE (5000), KPS_BENCH_LATENCY_SECONDS (10). Binaries: KPS_BIN,
# KPS_MOCK_KAFKA and KPS_BENCH_PRODUCE (default: build/...; build the kafka-pg-sink,
# kps-mock-kafka and kps-bench-produce targets).
#
# What it does:
#  1. starts its own PostgreSQL and mock Kafka cluster (integration/lib.sh, which stops them on
#     exit, however the run ends), and produces N records of 6 fields (~135 bytes of JSON each)
#     with kps-bench-produce, which also writes the same rows as CSV for the baselines; checks
#     that the cluster holds all N (it keeps only ~5 MB of batches per partition);
#  2. per round and mode, on a freshly created table (6 columns, PRIMARY KEY (id)):
#       insert: the daemon with --until-caught-up (a new consumer group each run) into the empty
#               table, against `psql -c "\copy ... CSV"` into the same empty table;
#       upsert: the table first holds every key with other values (loaded untimed), so every
#               record is an update; the daemon in upsert mode, against one psql session doing
#               \copy into a temp table and one INSERT ... ON CONFLICT (id) DO UPDATE;
#     after each run the table must hold exactly the produced rows (count and every value),
#     else the benchmark fails; the order of daemon and psql alternates between rounds;
#  3. prints one line per run and a table of medians per mode;
#  4. with --latency: runs the daemon (not --until-caught-up), produces records at
#     --latency-rate for --latency-seconds with the moment of producing in "ts", and reports
#     p50/p99/max of (visible in PostgreSQL - produced).
#
# How it measures: wall time from the daemon's start to its exit, taken by this shell;
# CPU (user+sys) and peak RSS of the daemon process by GNU time (`/usr/bin/time -f`), the
# least machinery that gives both (installed with apt-get when missing). "after join" is the
# time from the daemon's first partition assignment (its log line) to its exit: the mock
# cluster, like a broker's group.initial.rebalance.delay.ms, holds the first join of a new
# group for 3 s, and that wait is part of the end-to-end figure but not of the throughput.
# PostgreSQL runs as lib.sh starts it (fsync, synchronous_commit and full_page_writes off) for
# the daemon and psql alike; the header prints those settings.
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
pool_size=${KPS_BENCH_POOL_SIZE:-4}
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
    --kafka-property | --latency-rate | --latency-seconds)
      (($# >= 2)) || usage_error "$1 needs a value"
      case $1 in
        --records) records=$2 ;;
        --rounds) rounds=$2 ;;
        --modes) modes=$2 ;;
        --partitions) partitions=$2 ;;
        --max-rows) max_rows=$2 ;;
        --max-bytes) max_bytes=$2 ;;
        --max-latency-ms) max_latency_ms=$2 ;;
        --pool-size) pool_size=$2 ;;
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
positive_integer --pool-size "$pool_size"
positive_integer --latency-rate "$latency_rate"
positive_integer --latency-seconds "$latency_seconds"
[[ "$latency" == 0 || "$latency" == 1 ]] || usage_error "KPS_BENCH_LATENCY must be 0 or 1, got '$latency'"
IFS=, read -r -a mode_list <<<"$modes"
((${#mode_list[@]} > 0)) || usage_error "--modes names no mode"
for mode in "${mode_list[@]}"; do
  [[ "$mode" == insert || "$mode" == upsert ]] || usage_error "--modes takes insert and/or upsert, got '$mode'"
done
# From here on, lib.sh's EXIT trap stops whatever is started, however the run ends.
source "$(dirname "$0")/lib.sh"
KPS_BENCH_PRODUCE=${KPS_BENCH_PRODUCE:-$KPS_SOURCE_DIR/build/integration/kps-bench-produce}

[[ -x "$KPS_BIN" ]] || fail "no daemon binary at $KPS_BIN (build the kafka-pg-sink target, or set KPS_BIN)"
[[ -x "$KPS_BENCH_PRODUCE" ]] ||
  fail "no producer at $KPS_BENCH_PRODUCE (build the kps-bench-produce target, or set KPS_BENCH_PRODUCE)"

# A generous bound for any one load of N rows: 60 s plus 10 s per 100k rows (~10k rows/s).
run_timeout=$((60 + records / 10000))
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

# write_daemon_config PATH GROUP TOPIC TABLE MODE KAFKA_PROPERTY...
write_daemon_config() {
  local path=$1 group=$2 topic=$3 table=$4 mode=$5 property
  shift 5
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
  pool_size: $pool_size
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

# run_daemon_round MODE ROUND
run_daemon_round() {
  local mode=$1 round=$2 group="kps-bench-$1-$2"
  local config=$TEST_DIR/$group.yaml time_file=$TEST_DIR/$group.time
  prepare_table "$mode"
  write_daemon_config "$config" "$group" bench "bench_$mode" "$mode" "${kafka_properties[@]}"
  timed daemon "$mode" "$round" "$time_file" "$KPS_BIN" --config "$config" --until-caught-up
  verify_table "$mode" daemon "$round"

  local user system rss_kb
  read -r _ user system rss_kb < <(tail -n 1 "$time_file")
  local assigned join_micros=-1
  assigned=$(log_line_micros 'partition\(s\) assigned' "$DAEMON_LOG")
  [[ -z "$assigned" ]] || join_micros=$((assigned - STARTED_MICROS))
  record_result "$mode" "$round" daemon "$WALL_MICROS" "$join_micros" "$user" "$system" "$rss_kb"
}

# run_baseline_round MODE ROUND
run_baseline_round() {
  local mode=$1 round=$2 time_file=$TEST_DIR/psql-$1-$2.time
  prepare_table "$mode"
  if [[ $mode == insert ]]; then
    timed psql "$mode" "$round" "$time_file" "${PSQL[@]}" -d "$PG_DSN" \
      -c "\\copy bench_insert FROM '$CSV' WITH (FORMAT csv)"
  else
    cat >"$TEST_DIR/upsert-baseline.sql" <<EOF
CREATE TEMP TABLE bench_stage (LIKE bench_upsert);
\\copy bench_stage FROM '$CSV' WITH (FORMAT csv)
INSERT INTO bench_upsert SELECT * FROM bench_stage
ON CONFLICT (id) DO UPDATE SET device = EXCLUDED.device, ts = EXCLUDED.ts, temperature = EXCLUDED.temperature,
                               site = EXCLUDED.site, attrs = EXCLUDED.attrs;
EOF
    timed psql "$mode" "$round" "$time_file" "${PSQL[@]}" -d "$PG_DSN" -f "$TEST_DIR/upsert-baseline.sql"
  fi
  verify_table "$mode" psql "$round"
  local user system rss_kb
  read -r _ user system rss_kb < <(tail -n 1 "$time_file")
  record_result "$mode" "$round" psql "$WALL_MICROS" -1 "$user" "$system" "$rss_kb"
}

# record_result MODE ROUND WHO WALL_MICROS JOIN_MICROS USER_S SYSTEM_S RSS_KB: appends the run
# to RESULTS and prints its line.
record_result() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"
  awk -v mode="$1" -v round="$2" -v who="$3" -v wall="$4" -v join="$5" -v user="$6" -v sys="$7" \
      -v rss="$8" -v n="$records" 'BEGIN {
    seconds = wall / 1e6
    line = sprintf("round %d  %-6s  %-6s  %d rows in %6.2f s = %7.0f rows/s", round, mode, who, n, seconds, n / seconds)
    if (who == "daemon") {
      if (join >= 0) {
        line = line sprintf("; first assignment after %.2f s, %6.2f s = %7.0f rows/s from there",
                            join / 1e6, (wall - join) / 1e6, n / ((wall - join) / 1e6))
      } else {
        line = line "; (no assignment line in its log)"
      }
      line = line sprintf("; cpu %.2f s (user %.2f, sys %.2f), peak RSS %.0f MB", user + sys, user, sys, rss / 1024)
    }
    print line
  }'
}

# The medians of the rounds, per mode.
print_summary() {
  echo
  echo "== Summary: $records records, $rounds round(s), medians of the rounds (peak RSS: the largest)"
  echo "   daemon e2e: start to --until-caught-up exit; after join: from the first partition assignment"
  echo "   ratio: median of the per-round ratios daemon rows/s / psql rows/s"
  echo "   peak RSS and CPU (user+sys): the daemon process's own, not PostgreSQL's"
  awk -F'\t' -v n="$records" -v mode_order="$modes" '
    function median(values, count,    i, j, t) {
      for (i = 2; i <= count; i++) {
        t = values[i]
        for (j = i - 1; j >= 1 && values[j] > t; j--) values[j + 1] = values[j]
        values[j + 1] = t
      }
      return count % 2 ? values[(count + 1) / 2] : (values[count / 2] + values[count / 2 + 1]) / 2
    }
    $3 == "daemon" {
      key = $1 SUBSEP $2
      daemon_rate[key] = n / ($4 / 1e6)
      after_join_rate[key] = $5 >= 0 ? n / (($4 - $5) / 1e6) : -1
      cpu[key] = $6 + $7
      if ($8 > peak[$1]) peak[$1] = $8
    }
    $3 == "psql" { psql_rate[$1 SUBSEP $2] = n / ($4 / 1e6) }
    END {
      printf "%-7s %13s %13s %12s %9s %12s %12s %14s\n", "mode", "daemon rows/s", "after join", "psql rows/s",
             "ratio", "ratio (join)", "peak RSS MB", "CPU s/M rows"
      count = split(mode_order, ordered, ",")
      for (m = 1; m <= count; m++) {
        mode = ordered[m]
        k = 0
        join_unknown = 0
        for (key in daemon_rate) {
          split(key, parts, SUBSEP)
          if (parts[1] != mode || !(key in psql_rate)) continue
          k++
          d[k] = daemon_rate[key]; a[k] = after_join_rate[key]; p[k] = psql_rate[key]
          r[k] = daemon_rate[key] / psql_rate[key]; rj[k] = after_join_rate[key] / psql_rate[key]
          c[k] = cpu[key] / n * 1e6
          if (a[k] < 0) join_unknown = 1
        }
        if (k == 0) continue
        # Unknown when some run had no assignment line in its log.
        after_join = join_unknown ? "n/a" : sprintf("%.0f", median(a, k))
        ratio_after_join = join_unknown ? "n/a" : sprintf("%.2f", median(rj, k))
        printf "%-7s %13.0f %13s %12.0f %9.2f %12s %12.0f %14.2f\n", mode, median(d, k), after_join,
               median(p, k), median(r, k), ratio_after_join, peak[mode] / 1024, median(c, k)
      }
    }' "$RESULTS"
}

# The latency probe: a daemon left running, records arriving at latency_rate, and a poller that
# stamps each row with the moment it first sees it.
run_latency_probe() {
  local topic=bench_latency table=bench_latency group=kps-bench-latency
  local latency_partitions=4 warmup=4 total=$((latency_rate * latency_seconds))
  echo
  echo "== Latency: $latency_rate records/s for ${latency_seconds} s into a running daemon" \
    "(insert mode, batch.max_latency_ms=$max_latency_ms, fetch.wait.max.ms=10 unless set)"
  # visible_at is stamped by the poller; the partial index keeps each poll to the unseen rows.
  psql_q "SET client_min_messages = warning; DROP TABLE IF EXISTS $table;
          $(table_definition "$table" ", visible_at timestamptz");
          CREATE INDEX ON $table (id) WHERE visible_at IS NULL"
  # The mock cluster answers a fetch that finds no data only after fetch.wait.max.ms (500 ms by
  # default), even when records arrive meanwhile; a broker answers as soon as they arrive. A
  # 10 ms wait takes that artefact of the mock out of the figures, unless a property sets it.
  local properties=("${kafka_properties[@]}")
  [[ " ${properties[*]}" == *" fetch.wait.max.ms="* ]] || properties+=(fetch.wait.max.ms=10)
  write_daemon_config "$TEST_DIR/$group.yaml" "$group" "$topic" "$table" insert "${properties[@]}"
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
  "postgres.pool_size=$pool_size kafka.properties: ${kafka_properties[*]}"

start_postgres
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

# 2. The rounds. Alternating who goes first spreads any drift (caches, autovacuum) evenly.
echo
echo "== Runs"
: >"$RESULTS"
for ((round = 1; round <= rounds; round++)); do
  for mode in "${mode_list[@]}"; do
    if ((round % 2 == 1)); then
      run_daemon_round "$mode" "$round"
      run_baseline_round "$mode" "$round"
    else
      run_baseline_round "$mode" "$round"
      run_daemon_round "$mode" "$round"
    fi
  done
done

# 3. The medians.
print_summary

# 4. Latency at low load.
((latency == 0)) || run_latency_probe

echo
echo "benchmark finished in $((SECONDS - benchmark_started)) s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
