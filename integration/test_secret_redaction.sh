#!/usr/bin/env bash
# Secrets never reach the output: three sentinel passwords — one in the DSN (password=...), one
# in kafka.properties sasl.password through ${VAR}, one in PGPASSWORD — are given to the daemon
# on every path that prints: a run at log.level debug with librdkafka's own configuration dump
# on (debug: conf), its /metrics, /healthz and /readyz; an unreachable PostgreSQL (retries, then
# exit 1); a rejected password (exit 1); invalid configurations, with --check-config and without.
# No sentinel may appear in any of it, and each path must really have printed its errors.
source "$(dirname "$0")/lib.sh"

readonly dsn_sentinel="Dsn-S3ntinel-4f1d" sasl_sentinel="Sasl-S3ntinel-8b2e" env_sentinel="Env-S3ntinel-c7a0"
readonly sentinels=("$dsn_sentinel" "$sasl_sentinel" "$env_sentinel")
OUTPUTS=()

start_postgres
start_kafka "secrets:2"
psql_q "CREATE TABLE public.secrets (id bigint NOT NULL, name text NOT NULL)"
http_port=$(free_port)

# secret_config PATH DSN [EXTRA_YAML]: the sink, with the DSN given, SASL credentials through
# ${VAR}, librdkafka's configuration dump and every debug line on, and EXTRA_YAML appended.
secret_config() {
  write_config "$1" <<YAML
batch:
  max_rows: 20
  max_latency_ms: 20
retry:
  initial_backoff_ms: 50
  max_backoff_ms: 200
  give_up_after_ms: 1500
sinks:
  - topic: secrets
    table: public.secrets
    mode: insert
    columns:
      id:   {path: /id, type: bigint}
      name: {path: /name, type: text}
${3:-}
YAML
  sed -i -e "s|^  dsn: \".*\"$|  dsn: \"$2\"|" \
    -e "s|^    heartbeat.interval.ms: \"500\"$|&\n    sasl.username: \"sink\"\n    sasl.password: \"\${KPS_SASL_PASSWORD}\"\n    debug: \"conf,generic\"|" \
    -e "s|^  listen: \"\"$|  listen: \"127.0.0.1:$http_port\"|" \
    -e "s|^  progress_interval_ms: 0$|  level: debug\n  progress_interval_ms: 200|" "$1"
  grep -q 'sasl.password: "${KPS_SASL_PASSWORD}"' "$1" && grep -q "^  dsn: \"$2\"$" "$1" &&
    grep -q '^  level: debug$' "$1" || fail "could not write the secrets into $1"
}

# with_secrets COMMAND...: COMMAND with the SASL and PGPASSWORD sentinels in its environment.
with_secrets() {
  KPS_SASL_PASSWORD=$sasl_sentinel PGPASSWORD=$env_sentinel "$@"
}

# expect_output FILE ERE DESCRIPTION: FILE shows that the path under test was taken.
expect_output() {
  grep -Eq -- "$2" "$1" || fail "$3: no line of $1 matches /$2/"$'\n'"$(tail -n 20 "$1")"
}

# --- 1. a normal run, as verbose as it gets, and its HTTP endpoints ------------------------------
secret_config "$TEST_DIR/run.yaml" "$PG_DSN password=$dsn_sentinel"
for ((id = 1; id <= 100; id++)); do printf '%s\t{"id":%s,"name":"n%s"}\n' "$id" "$id" "$id"; done | produce secrets -1
with_secrets start_daemon "$TEST_DIR/run.yaml"
OUTPUTS+=("$DAEMON_LOG")
wait_for "the first rows" 30 rows_at_least public.secrets 1
wait_until_applied secrets 60
url="http://127.0.0.1:$http_port"
wait_for "/readyz to answer 200" 20 bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' $url/readyz) == 200 ]]"
for path in metrics healthz readyz; do
  curl -s -o "$TEST_DIR/http-$path.txt" "$url/$path" || fail "GET /$path failed"
  OUTPUTS+=("$TEST_DIR/http-$path.txt")
done
status=0
stop_daemon TERM 15 || status=$?
assert_eq 0 "$status" "exit status of the normal run"
assert_eq 100 "$(psql_q 'SELECT count(*) FROM public.secrets')" "rows written by the normal run"
expect_output "$DAEMON_LOG" "connected to PostgreSQL \(.*password=\*\*\*" "the DSN logged redacted"
expect_output "$DAEMON_LOG" "librdkafka CONF" "librdkafka's configuration dump (debug: conf)"
expect_output "$TEST_DIR/http-metrics.txt" '^kafka_pg_sink_records_consumed_total\{topic="secrets"\} 100$' "/metrics"

# --- 2. PostgreSQL unreachable: connection errors, retries, then exit 1 ----------------------------
secret_config "$TEST_DIR/unreachable.yaml" "host=127.0.0.1 port=$(free_port) dbname=postgres user=postgres password=$dsn_sentinel"
status=0
with_secrets run_daemon "$TEST_DIR/unreachable.yaml" || status=$?
OUTPUTS+=("$DAEMON_LOG")
assert_eq 1 "$status" "exit status with PostgreSQL unreachable"
expect_output "$DAEMON_LOG" "PostgreSQL unavailable .*Connection refused" "the connection errors"

# --- 3. the password rejected: an authentication error, exit 1 ------------------------------------
# A role that must give its password over TCP (the harness trusts everyone else).
psql_q "CREATE ROLE kps_secret LOGIN PASSWORD 'the-right-password'"
sed -i "1i host all kps_secret 127.0.0.1/32 scram-sha-256" "$PG_DATA/pg_hba.conf"
psql_q "SELECT pg_reload_conf()" >/dev/null
secret_config "$TEST_DIR/rejected.yaml" "host=127.0.0.1 port=$PG_PORT dbname=postgres user=kps_secret password=$dsn_sentinel"
status=0
with_secrets run_daemon "$TEST_DIR/rejected.yaml" || status=$?
OUTPUTS+=("$DAEMON_LOG")
assert_eq 1 "$status" "exit status with the password rejected"
expect_output "$DAEMON_LOG" "password authentication failed" "the authentication error"

# --- 4. invalid configurations holding the secrets -----------------------------------------------
# A misspelt key whose value is a secret, beside the DSN and SASL secrets.
secret_config "$TEST_DIR/bad-key.yaml" "$PG_DSN password=$dsn_sentinel"
sed -i "s|^state:$|  passwrd: \"$dsn_sentinel\"\n&|" "$TEST_DIR/bad-key.yaml"
# A misspelt secret property of librdkafka's: its value must not be echoed either.
secret_config "$TEST_DIR/bad-property.yaml" "$PG_DSN password=$dsn_sentinel"
sed -i 's|^    sasl.password: "${KPS_SASL_PASSWORD}"$|    sasl.passwrod: "${KPS_SASL_PASSWORD}"|' "$TEST_DIR/bad-property.yaml"
# A bad value beside the secrets: every problem is listed, no secret with it.
secret_config "$TEST_DIR/bad-value.yaml" "$PG_DSN password=$dsn_sentinel"
sed -i 's|^  max_rows: 20$|  max_rows: many|' "$TEST_DIR/bad-value.yaml"
for name in bad-key bad-property bad-value; do
  for flags in --check-config ""; do
    status=0
    # shellcheck disable=SC2086  # no flags is no argument
    with_secrets run_daemon "$TEST_DIR/$name.yaml" $flags || status=$?
    OUTPUTS+=("$DAEMON_LOG")
    assert_eq 2 "$status" "exit status of $name ${flags:-(a normal start)}"
    expect_output "$DAEMON_LOG" "^invalid configuration " "the report of $name"
  done
done
expect_output "$TEST_DIR/daemon-4.log" "postgres.passwrd: unknown key" "the misspelt key named"
expect_output "$TEST_DIR/daemon-6.log" "sasl.passwrod" "the misspelt property named"
expect_output "$TEST_DIR/daemon-8.log" "batch.max_rows" "the bad value named"

# --- nowhere a sentinel --------------------------------------------------------------------------
# The search itself finds a sentinel where there is one: the config files hold them.
grep -qF -- "$dsn_sentinel" "$TEST_DIR/run.yaml" || fail "negative control: the DSN sentinel is not in run.yaml"
for file in "${OUTPUTS[@]}"; do
  for sentinel in "${sentinels[@]}"; do
    if grep -qF -- "$sentinel" "$file"; then
      fail "a secret reached $(basename "$file"):"$'\n'"$(grep -F -- "$sentinel" "$file" | head -n 5)"
    fi
  done
done
note "checked ${#OUTPUTS[@]} outputs ($(cat "${OUTPUTS[@]}" | wc -l) lines) for ${#sentinels[@]} sentinels"
pass
