#!/usr/bin/env bash
# A DSN libpq cannot parse must not print a piece of the password: an unquoted password with a
# space (password=First Second) makes libpq's parser fail with `missing "=" after "Second"`,
# and the daemon printed that message, the second half of the password, on every retry. Such a
# DSN can never work, so it is a configuration error: --check-config and a normal start both
# exit 2 naming postgres.dsn, at once, without echoing any part of the DSN's password.
source "$(dirname "$0")/lib.sh"

readonly first_half="First-S3ntinel-1a2b" second_half="Second-S3ntinel-3c4d"

start_postgres
start_kafka "typo:1"
write_config "$TEST_DIR/sink.yaml" <<'YAML'
retry:
  initial_backoff_ms: 50
  max_backoff_ms: 200
  give_up_after_ms: 2000
sinks:
  - topic: typo
    table: public.typo
    mode: insert
    columns:
      id: {path: /id, type: bigint}
YAML
sed -i "s|^  dsn: \"\(.*\)\"$|  dsn: \"\1 password=$first_half $second_half\"|" "$TEST_DIR/sink.yaml"
grep -q "password=$first_half $second_half\"" "$TEST_DIR/sink.yaml" || fail "could not write the DSN"

for flags in --check-config ""; do
  status=0
  # shellcheck disable=SC2086  # no flags is no argument
  run_daemon "$TEST_DIR/sink.yaml" $flags || status=$?
  for sentinel in "$first_half" "$second_half"; do
    if grep -qF -- "$sentinel" "$DAEMON_LOG"; then
      fail "part of the password reached the output of ${flags:-a normal start}:"$'\n'"$(grep -F -- "$sentinel" "$DAEMON_LOG" | head -n 3)"
    fi
  done
  assert_eq 2 "$status" "exit status of ${flags:-a normal start} with a DSN libpq cannot parse"
  assert_log_matches "postgres\.dsn" "the problem is reported under postgres.dsn"
done
pass
