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
#   PG_BIN              PostgreSQL's server binaries (default /usr/lib/postgresql/15/bin)

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
    _print_tail "mock Kafka output" "$TEST_DIR/mock-kafka.log"
    _print_tail "PostgreSQL log" "$TEST_DIR/postgres.log"
  fi
  _stop_process "$DAEMON_PID" TERM 10
  local pid
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
  local port
  while true; do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

# Starts a throw-away cluster (fsync off: durability across an OS crash is not under test)
# listening on 127.0.0.1 and on a unix socket in the temp dir; exports PG_DSN. The server is a
# child of this shell, so even ctest's timeout kill takes it down.
start_postgres() {
  local pg_dir=$TEST_DIR/pg
  local pg_data=$pg_dir/data
  mkdir -p "$pg_dir"
  if ((EUID == 0)); then
    chmod 711 "$TEST_DIR"
    chown postgres: "$pg_dir"
  fi
  # cd: the postgres user may not be allowed into the caller's working directory.
  (cd "$pg_dir" && "${_AS_POSTGRES_OWNER[@]}" "$PG_BIN/initdb" -D "$pg_data" -U postgres \
    --auth=trust -E UTF8 --no-locale --no-sync) >"$TEST_DIR/initdb.log" 2>&1 ||
    fail "initdb failed: $(tail -n 5 "$TEST_DIR/initdb.log")"

  local attempt port deadline
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    (cd "$pg_dir" && exec "${_AS_POSTGRES_OWNER[@]}" "$PG_BIN/postgres" -D "$pg_data" -c port="$port" \
      -c listen_addresses=127.0.0.1 -c unix_socket_directories="$pg_dir" \
      -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c timezone=UTC) \
      >>"$TEST_DIR/postgres.log" 2>&1 &
    PG_PID=$!
    deadline=$((SECONDS + 30))
    while process_alive "$PG_PID" && ((SECONDS < deadline)); do
      if "$PG_BIN/pg_isready" -q -h "$pg_dir" -p "$port" -d postgres -U postgres; then
        export PG_DSN="host=127.0.0.1 port=$port dbname=postgres user=postgres"
        return 0
      fi
      sleep 0.2
    done
    _stop_process "$PG_PID" QUIT 5
    PG_PID=""
    # Only a lost race for the port is worth another try.
    grep -q "Address already in use" "$TEST_DIR/postgres.log" ||
      fail "PostgreSQL did not start on port $port (attempt $attempt)"
  done
  fail "PostgreSQL did not start: its port was taken 5 times"
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
# KAFKA_BOOTSTRAP.
start_kafka() {
  [[ -x "$KPS_MOCK_KAFKA" ]] || fail "no mock Kafka tool at $KPS_MOCK_KAFKA (build the kps-mock-kafka target)"
  local args=(serve --bootstrap-file "$TEST_DIR/kafka.bootstrap") spec
  for spec in "$@"; do args+=(--topic "$spec"); done
  "$KPS_MOCK_KAFKA" "${args[@]}" >"$TEST_DIR/mock-kafka.log" 2>&1 &
  MOCK_PID=$!
  wait_for "the mock Kafka cluster to write its bootstrap file" 15 _mock_kafka_ready
  KAFKA_BOOTSTRAP=$(<"$TEST_DIR/kafka.bootstrap")
  export KAFKA_BOOTSTRAP
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
