# shellcheck shell=bash
# Harness for the end-to-end tests: sourced by every integration/test_*.sh (and by
# quickstart.sh). Each test gets its own temp dir, its own PostgreSQL and its own mock Kafka
# cluster on free loopback ports, so tests can run in parallel; everything started here is
# stopped by the EXIT trap, on success and on failure alike.
#
# Environment (CMake sets the first three for ctest; the defaults suit a manual run after
# `cmake -S . -B build && cmake --build build`):
#   KPS_BIN             the daemon binary
#   KPS_MOCK_KAFKA      the kps-mock-kafka tool
#   KPS_SOURCE_DIR      the repository root
#   KPS_TEST_TMP        where per-test temp dirs go (default /tmp); must be traversable by the
#                       `postgres` user when the tests run as root
#   KPS_KEEP_TMP=1      keep the temp dir (logs, data dirs) after the test
#   KPS_DAEMON_TIMEOUT  seconds one run_daemon may take (default 60)
#   KPS_MOCK_BROKERS    brokers in the mock cluster start_kafka starts (default 1)
#   PG_BIN              PostgreSQL's server binaries (default /usr/lib/postgresql/15/bin)
#
# The fault tests (test_fault_*.sh) add: fault injection into the mock cluster (mock_control),
# PostgreSQL restarts (restart_postgres_immediate), records of known content and the table they
# must produce (create_expected_table, produce_records, start_producer), the exactly-once checker
# (check_exactly_once, assert_exactly_once), and several daemons at once (start_instance).

set -euo pipefail

KPS_SOURCE_DIR=${KPS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
KPS_BIN=${KPS_BIN:-$KPS_SOURCE_DIR/build/kafka-pg-sink}
KPS_MOCK_KAFKA=${KPS_MOCK_KAFKA:-$KPS_SOURCE_DIR/build/integration/kps-mock-kafka}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
KPS_DAEMON_TIMEOUT=${KPS_DAEMON_TIMEOUT:-60}

TEST_NAME=$(basename "$0" .sh)
TEST_DIR=$(mktemp -d "${KPS_TEST_TMP:-/tmp}/kps-$TEST_NAME.XXXXXX")
# Each test has its own consumer group (and its own cluster): nothing is shared between runs.
KPS_GROUP="kps-$TEST_NAME"
export KPS_SOURCE_DIR KPS_BIN KPS_MOCK_KAFKA TEST_DIR KPS_GROUP

DAEMON_PID=""
DAEMON_LOG=""
DAEMON_RUNS=0
# Daemons running side by side (start_instance), by name: the running ones, and the logs of
# all that ever ran.
declare -A INSTANCE_PIDS=()
declare -A INSTANCE_LOGS=()
MOCK_PID=""
PG_PID=""
BACKGROUND_PIDS=()

# ---------------------------------------------------------------------------------------------
# Assertions and reporting

# Prints the message and ends the test; the EXIT trap then prints the log tails.
fail() {
  echo "FAIL $TEST_NAME: $*" >&2
  _FAILURE_REPORTED=1
  exit 1
}

pass() {
  echo "PASS $TEST_NAME"
}

# note MESSAGE: a timestamped line in the test's output, so a failure's log can be read
# against the daemon's.
note() {
  echo "[$(date +%T.%3N)] $*"
}

assert_eq() {
  local expected=$1 actual=$2 message=$3
  if [[ "$expected" != "$actual" ]]; then
    fail "$message"$'\n'"--- expected:"$'\n'"$expected"$'\n'"--- actual:"$'\n'"$actual"
  fi
}

# assert_log_matches ERE MESSAGE: the latest daemon run's output has a line matching ERE.
assert_log_matches() {
  grep -Eq -- "$1" "$DAEMON_LOG" || fail "$2 (no line of $DAEMON_LOG matches /$1/)"
}

# wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local description=$1 timeout_seconds=$2
  shift 2
  local deadline=$((SECONDS + timeout_seconds))
  until "$@"; do
    ((SECONDS < deadline)) || fail "timed out after ${timeout_seconds}s waiting for $description"
    sleep 0.2
  done
}

process_alive() {
  [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null
}

_process_exited() {
  ! process_alive "$1"
}

# Keeps a background helper (a producer loop, ...) on the list the EXIT trap stops.
track_pid() {
  BACKGROUND_PIDS+=("$1")
}

# ---------------------------------------------------------------------------------------------
# Cleanup

# Sends SIGNAL to PID, then SIGKILL if it is still alive after GRACE seconds.
_stop_process() {
  local pid=$1 signal=$2 grace=$3
  process_alive "$pid" || return 0
  kill "-$signal" "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + grace))
  while process_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  if process_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

_print_tail() {
  local title=$1 file=$2
  [[ -s "$file" ]] || return 0
  echo "----- $title ($file), last 40 lines -----" >&2
  tail -n 40 "$file" >&2
}

_cleanup() {
  local status=$?
  set +e
  trap - EXIT INT TERM
  if ((status != 0)); then
    [[ -n "${_FAILURE_REPORTED:-}" ]] || echo "FAIL $TEST_NAME: a command failed (exit status $status)" >&2
    _print_tail "daemon output" "$DAEMON_LOG"
    local name
    for name in "${!INSTANCE_LOGS[@]}"; do _print_tail "instance $name output" "${INSTANCE_LOGS[$name]}"; done
    _print_tail "mock Kafka output" "$TEST_DIR/mock-kafka.log"
    _print_tail "PostgreSQL log" "$TEST_DIR/postgres.log"
  fi
  _stop_process "$DAEMON_PID" TERM 10
  local pid
  # SIGCONT first: a stopped instance would not act on SIGTERM.
  for pid in "${INSTANCE_PIDS[@]}"; do kill -CONT "$pid" 2>/dev/null; _stop_process "$pid" TERM 10; done
  for pid in "${BACKGROUND_PIDS[@]}"; do _stop_process "$pid" TERM 2; done
  _stop_process "$MOCK_PID" TERM 5
  # SIGQUIT is PostgreSQL's immediate shutdown: the cluster is thrown away anyway.
  _stop_process "$PG_PID" QUIT 10
  if [[ "${KPS_KEEP_TMP:-0}" == 1 ]]; then
    echo "kept $TEST_DIR" >&2
  else
    rm -rf "$TEST_DIR"
    ((status == 0)) || echo "(set KPS_KEEP_TMP=1 to keep the test's temp dir)" >&2
  fi
  exit "$status"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# PostgreSQL

# initdb and postgres refuse to run as root: as root, run them as the `postgres` system user
# that the postgresql package creates. setpriv rather than runuser: it execs instead of forking
# a watcher, so the PID we hold is the postmaster's own and a signal reaches it directly.
if ((EUID == 0)); then
  _AS_POSTGRES_OWNER=(setpriv --reuid=postgres --regid=postgres --init-groups)
else
  _AS_POSTGRES_OWNER=()
fi

# A port nothing listens on right now. Another process may still take it before we do,
# which start_postgres handles by trying again.
free_port() {
  # Below the kernel's ephemeral range: a port picked there can be taken, before the daemon binds
  # it, by the local end of any outgoing connection (libpq, librdkafka) or a mock broker's listener
  # — which made a parallel test fail with "Address already in use".
  local ephemeral_start port
  read -r ephemeral_start _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || ephemeral_start=32768
  ((ephemeral_start > 12000)) || ephemeral_start=32768
  while true; do
    port=$((10000 + RANDOM % (ephemeral_start - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

# Starts a throw-away cluster (fsync off: durability across an OS crash is not under test)
# listening on 127.0.0.1 and on a unix socket in the temp dir; exports PG_DSN, PG_DATA and
# PG_PORT. The server is a child of this shell, so even ctest's timeout kill takes it down.
start_postgres() {
  PG_DIR=$TEST_DIR/pg
  PG_DATA=$PG_DIR/data
  export PG_DIR PG_DATA
  mkdir -p "$PG_DIR"
  if ((EUID == 0)); then
    chmod 711 "$TEST_DIR"
    chown postgres: "$PG_DIR"
  fi
  # cd: the postgres user may not be allowed into the caller's working directory.
  (cd "$PG_DIR" && "${_AS_POSTGRES_OWNER[@]}" "$PG_BIN/initdb" -D "$PG_DATA" -U postgres \
    --auth=trust -E UTF8 --no-locale --no-sync) >"$TEST_DIR/initdb.log" 2>&1 ||
    fail "initdb failed: $(tail -n 5 "$TEST_DIR/initdb.log")"

  local attempt
  for attempt in 1 2 3 4 5; do
    _launch_postgres "$(free_port)" && return 0
    # Only a lost race for the port is worth another try.
    grep -q "Address already in use" "$TEST_DIR/postgres.log" ||
      fail "PostgreSQL did not start on port $PG_PORT (attempt $attempt)"
  done
  fail "PostgreSQL did not start: its port was taken 5 times"
}

# _launch_postgres PORT: starts the server of PG_DATA on PORT and waits until it accepts
# connections; returns 1 if it died or did not answer within 30 s.
_launch_postgres() {
  PG_PORT=$1
  (cd "$PG_DIR" && exec "${_AS_POSTGRES_OWNER[@]}" "$PG_BIN/postgres" -D "$PG_DATA" -c port="$PG_PORT" \
    -c listen_addresses=127.0.0.1 -c unix_socket_directories="$PG_DIR" \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c timezone=UTC) \
    >>"$TEST_DIR/postgres.log" 2>&1 &
  PG_PID=$!
  local deadline=$((SECONDS + 30))
  while process_alive "$PG_PID" && ((SECONDS < deadline)); do
    if "$PG_BIN/pg_isready" -q -h "$PG_DIR" -p "$PG_PORT" -d postgres -U postgres; then
      export PG_PORT PG_DSN="host=127.0.0.1 port=$PG_PORT dbname=postgres user=postgres"
      return 0
    fi
    sleep 0.2
  done
  _stop_process "$PG_PID" QUIT 5
  PG_PID=""
  return 1
}

# stop_postgres_immediate: `pg_ctl stop -m immediate`, PostgreSQL's crash-like stop (no
# checkpoint, every backend killed; the next start runs crash recovery).
stop_postgres_immediate() {
  (cd "$PG_DIR" && "${_AS_POSTGRES_OWNER[@]}" "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m immediate -w -t 30) \
    >>"$TEST_DIR/postgres.log" 2>&1 || fail "pg_ctl stop -m immediate failed"
  wait "$PG_PID" 2>/dev/null || true
  PG_PID=""
}

# start_postgres_again: starts the stopped server again, on the same port and data.
start_postgres_again() {
  local attempt
  for attempt in 1 2 3 4 5; do
    _launch_postgres "$PG_PORT" && return 0
    # The old server's port may linger for a moment.
    sleep 0.5
  done
  fail "PostgreSQL did not start again on port $PG_PORT"
}

# restart_postgres_immediate [SECONDS_DOWN]: the equivalent of `pg_ctl restart -m immediate`,
# with the server kept down for SECONDS_DOWN (default 0) in between. The new server is started
# the way start_postgres starts it (not by pg_ctl) so that it stays a child of this shell.
restart_postgres_immediate() {
  stop_postgres_immediate
  sleep "${1:-0}"
  start_postgres_again
}

# psql_q [SQL]: runs SQL (or stdin when no argument) and prints unaligned, tuples-only rows,
# fields separated by a tab, NULL as `NULL`, times in UTC. Any SQL error fails the call.
psql_q() {
  local source=(-f -)
  (($# == 0)) || source=(-c "$1")
  PGTZ=UTC timeout 60 "$PG_BIN/psql" -XAtq -v ON_ERROR_STOP=1 -F $'\t' -P null=NULL -d "$PG_DSN" "${source[@]}"
}

# sql_equals SQL EXPECTED: for wait_for.
sql_equals() {
  [[ "$(psql_q "$1")" == "$2" ]]
}

# The offsets the daemon stored for TOPIC under this test's group, one "PARTITION<TAB>NEXT" line
# per partition.
stored_offsets() {
  psql_q "SELECT \"partition\", next_offset FROM kafka_pg_sink_offsets
          WHERE group_id = '$KPS_GROUP' AND topic = '$1' ORDER BY 1"
}

# ---------------------------------------------------------------------------------------------
# Kafka

_mock_kafka_ready() {
  process_alive "$MOCK_PID" || fail "the mock Kafka cluster exited: $(tail -n 5 "$TEST_DIR/mock-kafka.log")"
  [[ -s "$TEST_DIR/kafka.bootstrap" ]]
}

# start_kafka TOPIC:PARTITIONS...: starts a mock cluster holding those topics; exports
# KAFKA_BOOTSTRAP. KPS_MOCK_BROKERS (default 1) sets the number of brokers, numbered from 1.
# The cluster takes fault-injection commands through mock_control.
start_kafka() {
  [[ -x "$KPS_MOCK_KAFKA" ]] || fail "no mock Kafka tool at $KPS_MOCK_KAFKA (build the kps-mock-kafka target)"
  MOCK_CONTROL=$TEST_DIR/mock-control
  MOCK_CONTROL_LOG=$TEST_DIR/mock-control.log
  local args=(serve --brokers "${KPS_MOCK_BROKERS:-1}" --bootstrap-file "$TEST_DIR/kafka.bootstrap"
              --control "$MOCK_CONTROL" --control-log "$MOCK_CONTROL_LOG") spec
  for spec in "$@"; do args+=(--topic "$spec"); done
  "$KPS_MOCK_KAFKA" "${args[@]}" >"$TEST_DIR/mock-kafka.log" 2>&1 &
  MOCK_PID=$!
  wait_for "the mock Kafka cluster to write its bootstrap file" 15 _mock_kafka_ready
  KAFKA_BOOTSTRAP=$(<"$TEST_DIR/kafka.bootstrap")
  export KAFKA_BOOTSTRAP
}

# recreate_kafka TOPIC:PARTITIONS...: replaces the mock cluster by an empty one holding these
# topics, as if every topic had been deleted and created again (the mock cluster cannot delete
# a topic). Exports the new KAFKA_BOOTSTRAP: configs written before still name the old one.
recreate_kafka() {
  _stop_process "$MOCK_PID" TERM 5
  rm -f "$TEST_DIR/kafka.bootstrap" "$MOCK_CONTROL" "$MOCK_CONTROL_LOG"
  start_kafka "$@"
}

_control_acknowledged() {
  process_alive "$MOCK_PID" || fail "the mock Kafka cluster exited: $(tail -n 5 "$TEST_DIR/mock-kafka.log")"
  grep -Eq "^(ok|error) $1 " "$MOCK_CONTROL_LOG"
}

# mock_control COMMAND [ARGS...]: applies a fault to the mock cluster and returns once it is in
# place; fails the test if the cluster rejects it. Commands (see mock_kafka.cpp):
#   broker-down ID, broker-up ID, rtt ID MS, coordinator group GROUP ID,
#   leader TOPIC PARTITION ID, errors APIKEY COUNT ERRNAME..., errors-clear APIKEY,
#   create-topic NAME:PARTITIONS, ping
mock_control() {
  local lock line_number
  # The line number identifies the acknowledgement: append and count under one lock, since a
  # background helper may send commands too.
  exec {lock}>>"$MOCK_CONTROL.lock"
  flock "$lock"
  printf '%s\n' "$*" >>"$MOCK_CONTROL"
  line_number=$(wc -l <"$MOCK_CONTROL")
  flock -u "$lock"
  exec {lock}>&-
  wait_for "the mock cluster to apply '$*'" 10 _control_acknowledged "$line_number"
  local outcome
  outcome=$(grep -E "^(ok|error) $line_number " "$MOCK_CONTROL_LOG")
  [[ "$outcome" == ok* ]] || fail "the mock cluster rejected '$*': ${outcome#"error $line_number "}"
  note "mock cluster: $*"
}

# produce TOPIC PARTITION [kcat options...]: produces one record per stdin line `KEY<TAB>VALUE`.
# What kcat 1.7.1 does with each line (checked against the mock cluster):
#   - the line is split at its first tab: key before, value after;
#   - with -Z an empty value is a NULL value (a tombstone) and an empty key a NULL key;
#     without -Z both would be empty byte strings;
#   - a line without a tab becomes a record with a NULL key and the whole line as value.
# PARTITION -1 leaves the choice to the partitioner (by key hash). Extra options go to kcat,
# e.g. -H "name=value", which puts that header on every record of the call.
produce() {
  local topic=$1 partition=$2
  shift 2
  timeout 60 kcat -P -b "$KAFKA_BOOTSTRAP" -t "$topic" -p "$partition" -K $'\t' -Z "$@" ||
    fail "kcat could not produce to topic $topic partition $partition"
}

# The offsets the Kafka group of this test committed for TOPIC, as "PARTITION<TAB>OFFSET"
# lines (-1001: nothing committed).
committed_offsets() {
  timeout 30 "$KPS_MOCK_KAFKA" committed --bootstrap "$KAFKA_BOOTSTRAP" --group "$KPS_GROUP" --topic "$1" |
    awk '{ print $2 "\t" $3 }'
}

# ---------------------------------------------------------------------------------------------
# The daemon

# write_config PATH: writes the sections every test shares (this test's cluster, database,
# group and state dir; HTTP and progress lines off; shutdown_timeout_ms 10000), then appends
# stdin, which holds the test's own `batch`, `errors` and `sinks` sections.
# The short session timeout is for the mock cluster: after a member leaves, it holds the next
# join for the leaver's session.timeout.ms minus 1 s (44 s by default) before assigning.
write_config() {
  {
    cat <<EOF
kafka:
  bootstrap_servers: "$KAFKA_BOOTSTRAP"
  group_id: "$KPS_GROUP"
  properties:
    session.timeout.ms: "3000"
    heartbeat.interval.ms: "500"
postgres:
  dsn: "$PG_DSN"
state:
  dir: "$TEST_DIR/state"
http:
  listen: ""
log:
  progress_interval_ms: 0
shutdown_timeout_ms: 10000
EOF
    cat
  } >"$1"
}

_next_daemon_log() {
  [[ -x "$KPS_BIN" ]] || fail "no daemon binary at $KPS_BIN (build the kafka-pg-sink target)"
  DAEMON_RUNS=$((DAEMON_RUNS + 1))
  DAEMON_LOG=$TEST_DIR/daemon-$DAEMON_RUNS.log
}

# run_daemon CONFIG [flags...]: runs the daemon to completion (at most KPS_DAEMON_TIMEOUT
# seconds) with its output in DAEMON_LOG, and returns its exit code. Call it as
# `run_daemon ... || status=$?` when a non-zero exit is expected.
run_daemon() {
  local config=$1
  shift
  _next_daemon_log
  local status=0
  timeout --kill-after=10 "$KPS_DAEMON_TIMEOUT" "$KPS_BIN" --config "$config" "$@" >"$DAEMON_LOG" 2>&1 ||
    status=$?
  ((status != 124)) || fail "the daemon did not exit within ${KPS_DAEMON_TIMEOUT}s"
  return "$status"
}

# start_daemon CONFIG [flags...]: starts the daemon in the background; its PID is DAEMON_PID.
start_daemon() {
  local config=$1
  shift
  _next_daemon_log
  "$KPS_BIN" --config "$config" "$@" >"$DAEMON_LOG" 2>&1 &
  DAEMON_PID=$!
}

# wait_daemon_exit TIMEOUT_SECONDS: waits for the background daemon to exit by itself and
# returns its exit code; fails the test if it is still running after the timeout.
_daemon_exited() {
  ! process_alive "$DAEMON_PID"
}

wait_daemon_exit() {
  wait_for "the daemon to exit" "$1" _daemon_exited
  local pid=$DAEMON_PID status=0
  DAEMON_PID=""
  wait "$pid" || status=$?
  return "$status"
}

# stop_daemon SIGNAL TIMEOUT_SECONDS: signals the background daemon, waits for it to exit and
# returns its exit code; fails the test if it is still running after the timeout.
stop_daemon() {
  local signal=$1 timeout_seconds=$2
  kill "-$signal" "$DAEMON_PID"
  local deadline=$((SECONDS + timeout_seconds))
  while process_alive "$DAEMON_PID"; do
    ((SECONDS < deadline)) || fail "the daemon was still running ${timeout_seconds}s after SIG$signal"
    sleep 0.1
  done
  local pid=$DAEMON_PID status=0
  DAEMON_PID=""
  wait "$pid" || status=$?
  return "$status"
}

# start_daemon_timing_assignment CONFIG PARTITIONS LIMIT_SECONDS: starts the daemon (HTTP on), keeps
# probing /healthz (start_healthz_probe), and waits until it has been assigned all PARTITIONS;
# fails unless that happened within LIMIT_SECONDS of the start, and notes the time it took.
start_daemon_timing_assignment() {
  local config=$1 expected=$2 limit=$3 started_at elapsed deadline
  started_at=$EPOCHREALTIME
  start_daemon "$config"
  wait_for "the HTTP server" 15 grep -q "serving /metrics" "$DAEMON_LOG"
  start_healthz_probe "$HTTP_PORT"
  deadline=$((SECONDS + 60))
  until grep -q "rebalance: $expected partition(s) assigned" "$DAEMON_LOG"; do
    process_alive "$DAEMON_PID" || fail "the daemon exited during the assignment"
    ((SECONDS < deadline)) || fail "no assignment of the $expected partitions within 60 s"
    sleep 0.05
  done
  elapsed=$(awk -v a="$started_at" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
  note "measured: the assignment of $expected partitions completed ${elapsed} s after the start"
  awk -v e="$elapsed" -v limit="$limit" 'BEGIN { exit !(e < limit) }' ||
    fail "the assignment took ${elapsed} s (limit ${limit} s)"
}

# ---------------------------------------------------------------------------------------------
# Fault tests: records with a known content, several daemons, and the exactly-once checker

# The records of the fault tests: record I has key I and the value
#   {"id":I,"name":"record-I","amount":(I*7919)%100003}
# so the table they must end up in can be generated in SQL (create_expected_table).
_record_lines() {
  awk -v first="$1" -v last="$2" 'BEGIN {
    for (i = first; i <= last; i++)
      printf "%d\t{\"id\":%d,\"name\":\"record-%d\",\"amount\":%d}\n", i, i, i, (i * 7919) % 100003
  }'
}

# create_expected_table TABLE FIRST LAST: the rows records FIRST..LAST must produce.
create_expected_table() {
  psql_q "CREATE TABLE $1 AS
          SELECT i::bigint AS id, 'record-' || i AS name, (i::bigint * 7919) % 100003 AS amount
          FROM generate_series($2, $3) AS i"
}

# create_sink_table TABLE: where the daemon writes the records, with no unique key, so that a
# record applied twice shows as a second row. p and o (the source partition and offset) are
# there to tell where a duplicate came from.
create_sink_table() {
  psql_q "CREATE TABLE $1 (id bigint NOT NULL, name text NOT NULL, amount bigint NOT NULL,
                           p integer NOT NULL, o bigint NOT NULL)"
}

# write_fault_config PATH TOPIC TABLE [MAX_ROWS [MAX_LATENCY_MS]]: insert mode from TOPIC into
# TABLE (made by create_sink_table); small batches (default 300 rows, 50 ms) so that a fault
# lands between and inside many transactions; reconnect backoff capped at 1 s so that a test
# waits little once the database is back.
write_fault_config() {
  write_config "$1" <<CONFIG
batch:
  max_rows: ${4:-300}
  max_latency_ms: ${5:-50}
retry:
  initial_backoff_ms: 100
  max_backoff_ms: 1000
  give_up_after_ms: 60000
sinks:
  - topic: $2
    table: $3
    mode: insert
    columns:
      id:     {path: /id, type: bigint}
      name:   {path: /name, type: text}
      amount: {path: /amount, type: bigint}
      p:      {path: "@partition", type: integer}
      o:      {path: "@offset", type: bigint}
CONFIG
}

# The producer of the fault tests (kps-mock-kafka produce) is idempotent, so that its own
# retries never put a record into the log twice, rides out broker outages (kcat gives up once
# every broker is down), and partitions by key.
# produce_records TOPIC FIRST LAST: records FIRST..LAST, spread over TOPIC's partitions by key.
produce_records() {
  _record_lines "$2" "$3" | timeout 90 "$KPS_MOCK_KAFKA" produce --bootstrap "$KAFKA_BOOTSTRAP" --topic "$1" ||
    fail "could not produce records $2..$3 to topic $1"
}

# _paced_record_lines FIRST LAST CHUNK PAUSE_SECONDS
_paced_record_lines() {
  local first=$1 last=$2 chunk=$3 pause=$4 start
  for ((start = first; start <= last; start += chunk)); do
    _record_lines "$start" $((start + chunk - 1 < last ? start + chunk - 1 : last))
    sleep "$pause"
  done
}

# start_producer TOPIC FIRST LAST CHUNK PAUSE_SECONDS: produces records FIRST..LAST in the
# background through one producer process, CHUNK records at a time with a pause after each; its PID is
# PRODUCER_PID (wait_producer waits for it).
start_producer() {
  timeout 120 "$KPS_MOCK_KAFKA" produce --bootstrap "$KAFKA_BOOTSTRAP" --topic "$1" \
    < <(_paced_record_lines "$2" "$3" "$4" "$5") >"$TEST_DIR/producer.log" 2>&1 &
  PRODUCER_PID=$!
  track_pid "$PRODUCER_PID"
  note "producing records $2..$3 to $1 in the background ($4 every $5 s)"
}

# wait_producer TIMEOUT_SECONDS: waits for start_producer's process and checks that it succeeded.
_producer_exited() {
  ! process_alive "$PRODUCER_PID"
}

wait_producer() {
  wait_for "the producer to finish" "$1" _producer_exited
  local status=0
  wait "$PRODUCER_PID" || status=$?
  ((status == 0)) || fail "the producer failed (status $status): $(tail -n 5 "$TEST_DIR/producer.log")"
  note "the producer finished"
}

# log_end_offsets TOPIC: "PARTITION<TAB>HIGH_WATERMARK" per partition.
log_end_offsets() {
  timeout 30 "$KPS_MOCK_KAFKA" watermarks --bootstrap "$KAFKA_BOOTSTRAP" --topic "$1" |
    awk '{ print $2 "\t" $4 }'
}

# assert_log_holds TOPIC COUNT: the log holds exactly COUNT records, so that whatever the
# checker finds is the daemon's doing, never the producer's.
assert_log_holds() {
  local total
  total=$(log_end_offsets "$1" | awk '{ sum += $2 } END { print sum + 0 }')
  assert_eq "$2" "$total" "records in the log of topic $1 (sum of the high watermarks)"
}

_stored_offsets_at_log_end() {
  [[ "$(stored_offsets "$1")" == "$(log_end_offsets "$1")" ]]
}

# wait_until_applied TOPIC TIMEOUT_SECONDS: waits until the offsets stored in PostgreSQL reach
# the end of every partition of TOPIC.
wait_until_applied() {
  wait_for "the stored offsets of topic $1 to reach the end of the log" "$2" _stored_offsets_at_log_end "$1"
}

# wait_committed_matches_stored TOPIC TIMEOUT_SECONDS: the offsets committed to Kafka catch up
# with the ones stored in PostgreSQL.
wait_committed_matches_stored() {
  local deadline=$((SECONDS + $2))
  until [[ "$(committed_offsets "$1")" == "$(stored_offsets "$1")" ]]; do
    if ((SECONDS >= deadline)); then
      fail "the offsets committed to Kafka did not match the stored ones within $2 s"$'\n'"--- stored:"$'\n'"$(
        stored_offsets "$1")"$'\n'"--- committed:"$'\n'"$(committed_offsets "$1")"
    fi
    sleep 0.5
  done
}

# check_exactly_once TABLE EXPECTED_TABLE: compares what the daemon wrote with what was
# produced, on EXPECTED_TABLE's columns (which must include id): row count, distinct ids, an
# md5 of the ordered rows, and the duplicated, missing, unexpected and altered ids by name.
# Prints the report; returns 0 when TABLE holds each row of EXPECTED_TABLE exactly once and
# nothing else, 1 otherwise.
check_exactly_once() {
  local table=$1 expected=$2 columns
  columns=$(psql_q "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
                    WHERE attrelid = '$expected'::regclass AND attnum > 0 AND NOT attisdropped")
  local summary
  summary=$(psql_q "
    WITH actual AS (SELECT $columns FROM $table), wanted AS (SELECT $columns FROM $expected)
    SELECT (SELECT count(*) FROM actual),
           (SELECT count(DISTINCT id) FROM actual),
           (SELECT md5(coalesce(string_agg(a::text, E'\n' ORDER BY a::text), '')) FROM actual a),
           (SELECT count(*) FROM wanted),
           (SELECT md5(coalesce(string_agg(w::text, E'\n' ORDER BY w::text), '')) FROM wanted w),
           (SELECT count(*) FROM (SELECT id FROM actual GROUP BY id HAVING count(*) > 1) d),
           (SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM actual GROUP BY id) d),
           (SELECT count(*) FROM (SELECT id FROM wanted EXCEPT SELECT id FROM actual) m),
           (SELECT count(*) FROM (SELECT id FROM actual EXCEPT SELECT id FROM wanted) u),
           (SELECT count(*) FROM (SELECT * FROM actual EXCEPT SELECT * FROM wanted) x
             WHERE id IN (SELECT id FROM wanted))")
  local rows distinct_ids checksum expected_rows expected_checksum
  local duplicated_ids extra_rows missing unexpected altered
  IFS=$'\t' read -r rows distinct_ids checksum expected_rows expected_checksum \
    duplicated_ids extra_rows missing unexpected altered <<<"$summary"
  echo "exactly-once check of $table against $expected:"
  echo "  rows $rows (expected $expected_rows), distinct ids $distinct_ids," \
    "checksum $checksum (expected $expected_checksum)"
  local holds=1
  if ((duplicated_ids > 0)); then
    holds=0
    echo "  DUPLICATES: $extra_rows extra row(s) for $duplicated_ids id(s); the first ones, every copy as a row:"
    psql_q "SELECT 'id ' || id || ' x' || count(*) || ': ' || string_agg(t::text, ' ' ORDER BY t::text)
            FROM $table t WHERE id IN (SELECT id FROM $table GROUP BY id HAVING count(*) > 1)
            GROUP BY id ORDER BY id LIMIT 10" | sed 's/^/    /'
  fi
  if ((missing > 0)); then
    holds=0
    echo "  MISSING: $missing id(s); the first ones: $(psql_q "SELECT string_agg(id::text, ' ')
      FROM (SELECT id FROM $expected EXCEPT SELECT id FROM $table ORDER BY 1 LIMIT 20) m")"
  fi
  if ((unexpected > 0)); then
    holds=0
    echo "  UNEXPECTED: $unexpected id(s) never produced; the first ones: $(psql_q "SELECT string_agg(id::text, ' ')
      FROM (SELECT id FROM $table EXCEPT SELECT id FROM $expected ORDER BY 1 LIMIT 20) u")"
  fi
  if ((altered > 0)); then
    holds=0
    echo "  ALTERED: $altered row(s) whose content differs from the produced record"
  fi
  # The totals and the checksum catch whatever the itemised checks above would not.
  if [[ "$rows" != "$expected_rows" || "$distinct_ids" != "$expected_rows" ||
        "$checksum" != "$expected_checksum" ]]; then
    holds=0
  fi
  if ((holds)); then
    echo "  holds: every produced record is there once, and nothing else"
    return 0
  fi
  echo "  DOES NOT HOLD"
  return 1
}

# assert_exactly_once TABLE EXPECTED_TABLE: check_exactly_once, failing the test with the
# report when the check does not hold.
assert_exactly_once() {
  local report status=0
  report=$(check_exactly_once "$1" "$2") || status=$?
  echo "$report"
  ((status == 0)) || fail "$1 does not hold each record of $2 exactly once"
}

# start_instance NAME CONFIG [flags...]: starts one more daemon in the background, for tests
# that run several at once (one consumer group); its output goes to $TEST_DIR/NAME.log.
start_instance() {
  local name=$1 config=$2
  shift 2
  [[ -x "$KPS_BIN" ]] || fail "no daemon binary at $KPS_BIN (build the kafka-pg-sink target)"
  INSTANCE_LOGS[$name]=$TEST_DIR/$name.log
  # Each instance gets a process group of its own (in the same session): a process stopped
  # with SIGSTOP inside an orphaned process group makes the kernel send SIGHUP to the whole
  # group when a member exits, and under a CI runner that group would be every test running.
  perl -e 'setpgrp(0, 0); exec @ARGV or die "exec: $!"' -- "$KPS_BIN" --config "$config" "$@" \
    >>"${INSTANCE_LOGS[$name]}" 2>&1 &
  INSTANCE_PIDS[$name]=$!
  note "started instance $name (pid ${INSTANCE_PIDS[$name]})"
}

instance_alive() {
  process_alive "${INSTANCE_PIDS[$1]:-}"
}

# signal_instance NAME SIGNAL: sends SIGNAL (STOP, CONT, ...) and returns at once.
signal_instance() {
  kill "-$2" "${INSTANCE_PIDS[$1]}"
  note "sent SIG$2 to instance $1 (pid ${INSTANCE_PIDS[$1]})"
}

# stop_instance NAME SIGNAL TIMEOUT_SECONDS: signals the instance, waits for it to exit and
# returns its exit code (137 after SIGKILL); fails the test if it is still running after the
# timeout.
stop_instance() {
  local name=$1 signal=$2 timeout_seconds=$3
  local pid=${INSTANCE_PIDS[$name]}
  note "sending SIG$signal to instance $name (pid $pid)"
  kill "-$signal" "$pid"
  local deadline=$((SECONDS + timeout_seconds))
  while process_alive "$pid"; do
    ((SECONDS < deadline)) || fail "instance $name was still running ${timeout_seconds}s after SIG$signal"
    sleep 0.1
  done
  unset "INSTANCE_PIDS[$name]"
  local status=0
  wait "$pid" || status=$?
  return "$status"
}

# wait_instance_exit NAME TIMEOUT_SECONDS: waits for the instance to exit by itself and
# returns its exit code.
wait_instance_exit() {
  local name=$1 pid=${INSTANCE_PIDS[$1]}
  wait_for "instance $name to exit" "$2" _process_exited "$pid"
  unset "INSTANCE_PIDS[$name]"
  local status=0
  wait "$pid" || status=$?
  return "$status"
}

# log_lines_at_least LOG ERE COUNT: for wait_for.
log_lines_at_least() {
  (($(grep -Ec -- "$2" "$1" || true) >= $3))
}

# assignments_in LOG: how many times the daemon that wrote LOG was given partitions.
assignments_in() {
  grep -c "partition(s) assigned" "$1" || true
}

# rows_at_least TABLE COUNT: for wait_for.
rows_at_least() {
  (($(psql_q "SELECT count(*) FROM $1") >= $2))
}

# write_instance_config PATH NAME TOPIC TABLE [MAX_ROWS [MAX_LATENCY_MS]]: write_fault_config
# for one of several instances in the test's group: the same group and sink, its own state dir.
write_instance_config() {
  local path=$1 name=$2
  shift 2
  write_fault_config "$path" "$@"
  sed -i "s|^  dir: \"$TEST_DIR/state\"\$|  dir: \"$TEST_DIR/state-$name\"|" "$path"
  grep -q "state-$name" "$path" || fail "could not give instance $name its own state dir in $path"
}

# owned_partitions LOG: how many partitions the daemon that wrote LOG owns, by its latest
# rebalance line (0 before the first).
owned_partitions() {
  { grep -Eo "[0-9]+ owned" "$1" || echo 0; } | tail -n 1 | grep -Eo "^[0-9]+"
}

# owns_partitions LOG [COUNT]: for wait_for: the daemon that wrote LOG owns COUNT partitions
# (without COUNT: at least one).
owns_partitions() {
  local owned
  owned=$(owned_partitions "$1")
  if (($# > 1)); then ((owned == $2)); else ((owned > 0)); fi
}

# owned_partitions_list LOG: the partitions the daemon that wrote LOG owns, comma-separated
# (one topic).
owned_partitions_list() {
  grep -Eo "assigned topic=[^ ]+ partition=[0-9]+" "$1" | tail -n "$(owned_partitions "$1")" |
    grep -Eo "[0-9]+$" | paste -sd,
}

# start_healthz_probe PORT: probes the daemon's /healthz every 0.1 s in the background, one
# "TIME STATUS" line per probe in $TEST_DIR/healthz.codes (000: no answer within 2 s), until
# stop_healthz_probe. The line is written by the loop, after curl returned, so a probe cut
# short by the stop is never recorded.
start_healthz_probe() {
  local port=$1
  : >"$TEST_DIR/healthz.codes"
  (
    while true; do
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/healthz" || true)
      echo "$(date +%T.%3N) ${code:-000}" >>"$TEST_DIR/healthz.codes"
      sleep 0.1
    done
  ) &
  HEALTHZ_PROBE_PID=$!
  track_pid "$HEALTHZ_PROBE_PID"
}

# stop_healthz_probe: stops the probe and fails the test unless it ran at least 3 probes and
# every one of them answered 200.
stop_healthz_probe() {
  kill "$HEALTHZ_PROBE_PID" 2>/dev/null || true
  wait "$HEALTHZ_PROBE_PID" 2>/dev/null || true
  local probes bad
  probes=$(wc -l <"$TEST_DIR/healthz.codes")
  bad=$(grep -vc ' 200$' "$TEST_DIR/healthz.codes" || true)
  note "/healthz: $probes probe(s), $bad not 200"
  ((probes >= 3)) || fail "only $probes /healthz probe(s) ran"
  assert_eq 0 "$bad" "/healthz answers other than 200: $(grep -v ' 200$' "$TEST_DIR/healthz.codes" | tr '\n' ' ')"
}

# enable_http CONFIG: turns on the daemon's HTTP server on a free port, exported as HTTP_PORT.
enable_http() {
  HTTP_PORT=$(free_port)
  sed -i "s|^  listen: \"\"$|  listen: \"127.0.0.1:$HTTP_PORT\"|" "$1"
  grep -q "127.0.0.1:$HTTP_PORT" "$1" || fail "could not enable HTTP in $1"
  export HTTP_PORT
}
