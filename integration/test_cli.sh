#!/usr/bin/env bash
# The command line (contract, "Command line"): --version names every library, --help and
# usage errors, and --check-config, which validates without connecting to anything and
# lists every problem with its YAML key path (exit 2).
source "$(dirname "$0")/lib.sh"

# Runs the binary directly (no config needed) with its stdout+stderr in $output, status in $status.
run_cli() {
  status=0
  output=$(timeout 10 "$KPS_BIN" "$@" 2>&1) || status=$?
}

# A valid config. Nothing listens on port 1: a connection attempt could only fail. The state
# dir must not be created either: --check-config opens nothing.
export KPS_TEST_CLIENT_ID=cli-test KPS_TEST_PG_PASSWORD=hunter2-never-printed
unset KPS_TEST_UNSET_GROUP KPS_TEST_UNSET_DSN
cat >"$TEST_DIR/valid.yaml" <<EOF
kafka:
  bootstrap_servers: "127.0.0.1:1"
  group_id: "\${KPS_TEST_UNSET_GROUP:-cli-check}"
  properties:
    client.id: "\${KPS_TEST_CLIENT_ID}"
postgres:
  dsn: "host=127.0.0.1 port=1 dbname=nowhere user=nobody password=\${KPS_TEST_PG_PASSWORD}"
state:
  dir: "$TEST_DIR/state-never-created"
http:
  listen: ""
sinks:
  - topic: events
    table: public.events
    mode: upsert
    primary_key: [id]
    columns:
      id:      {path: /id, type: bigint}
      ts:      {path: /ts, type: timestamptz}
      payload: {path: /payload, type: jsonb, nullable: true}
      source:  {path: "@topic", type: text}
EOF

# --- --version: the daemon's version and the four libraries' -------------------------------
run_cli --version
assert_eq 0 "$status" "--version exit status"
project_version=$(sed -nE 's/^project\(kafka-pg-sink VERSION ([0-9.]+).*/\1/p' "$KPS_SOURCE_DIR/CMakeLists.txt")
grep -Eq "kafka-pg-sink.*${project_version//./\\.}" <<<"$output" ||
  fail "--version does not show kafka-pg-sink $project_version: $output"
rdkafka_version=$(pkg-config --modversion rdkafka)
grep -Eiq "librdkafka.*${rdkafka_version//./\\.}" <<<"$output" ||
  fail "--version does not show librdkafka $rdkafka_version: $output"
for library in libpq simdjson RocksDB; do
  grep -Eiq "$library.*[0-9]+\.[0-9]+" <<<"$output" || fail "--version does not show the $library version: $output"
done

# --- --help and usage errors ------------------------------------------------------------------
run_cli --help
assert_eq 0 "$status" "--help exit status"
for flag in --config --check-config --until-caught-up --version --help; do
  grep -q -- "$flag" <<<"$output" || fail "--help does not mention $flag: $output"
done

run_cli
assert_eq 2 "$status" "exit status without any argument"
grep -q -- --config <<<"$output" || fail "running without arguments does not say --config is needed: $output"

run_cli --config "$TEST_DIR/valid.yaml" --no-such-flag
assert_eq 2 "$status" "exit status with an unknown flag"
grep -q -- --no-such-flag <<<"$output" || fail "the unknown flag is not named: $output"

run_cli --config "$TEST_DIR/missing.yaml" --check-config
assert_eq 2 "$status" "exit status for a config file that does not exist"
grep -qF "$TEST_DIR/missing.yaml" <<<"$output" || fail "the missing config file is not named: $output"

# --- --check-config on a valid file: `config ok`, and nothing is connected to or created -------
status=0
run_daemon "$TEST_DIR/valid.yaml" --check-config || status=$?
assert_eq 0 "$status" "--check-config exit status on a valid file"
assert_log_matches 'config ok' "--check-config does not print 'config ok' on a valid file"
[[ ! -e "$TEST_DIR/state-never-created" ]] || fail "--check-config created the state dir"
! grep -q hunter2 "$DAEMON_LOG" || fail "--check-config printed the PostgreSQL password"

# --- --check-config lists every problem with its key path --------------------------------------
cat >"$TEST_DIR/invalid.yaml" <<EOF
kafka:
  group_id: no-bootstrap-servers
postgres:
  dsn: "host=127.0.0.1 port=1 user=nobody password=hunter2-never-printed"
state:
  dir: "$TEST_DIR/state-never-created"
batch:
  max_rows: lots
errors:
  tolerance: all
sinks:
  - topic: events
    table: public.events
    mode: merge
    columns:
      id: {path: /id, type: bigint}
      ts: {path: /ts, type: varchar2}
  - topic: others
    table: public.others
    mode: upsert
    columns:
      id: {path: /id, type: bigint}
EOF
status=0
run_daemon "$TEST_DIR/invalid.yaml" --check-config || status=$?
assert_eq 2 "$status" "--check-config exit status on a file with several problems"
for key_path in kafka.bootstrap_servers 'batch.max_rows' errors.dead_letter_topic 'sinks[0].mode' \
  'sinks[0].columns.ts.type' 'sinks[1].primary_key'; do
  grep -qF -- "$key_path" "$DAEMON_LOG" || fail "--check-config does not report the problem at $key_path"
done
! grep -q 'config ok' "$DAEMON_LOG" || fail "--check-config printed 'config ok' for an invalid file"
! grep -q hunter2 "$DAEMON_LOG" || fail "--check-config printed the PostgreSQL password"

# --- an unset ${VAR} without default is a config error naming the variable and the key --------
# shellcheck disable=SC2016 # the ${...} are for the daemon's interpolation, not the shell
sed 's/\${KPS_TEST_PG_PASSWORD}/${KPS_TEST_UNSET_DSN}/' "$TEST_DIR/valid.yaml" >"$TEST_DIR/unset-variable.yaml"
status=0
run_daemon "$TEST_DIR/unset-variable.yaml" --check-config || status=$?
assert_eq 2 "$status" "--check-config exit status when a \${VAR} is unset"
assert_log_matches 'KPS_TEST_UNSET_DSN' "the unset variable is not named"
assert_log_matches 'postgres\.dsn' "the key holding the unset variable is not named"

# --- the shipped example config is valid once its secrets are in the environment --------------
export KAFKA_USER=sink KAFKA_PASSWORD=example-password
status=0
run_daemon "$KPS_SOURCE_DIR/config/example.yaml" --check-config || status=$?
assert_eq 0 "$status" "--check-config exit status on config/example.yaml"
assert_log_matches 'config ok' "--check-config does not accept config/example.yaml"

pass
