#!/usr/bin/env bash
# Every example configuration shipped in config/ is valid: `--check-config` accepts each
# config/*.yaml once the variables it names are in the environment (a new example is covered
# the day it is added). config/debezium-inventory.yaml needs the change-data-capture keys
# (format, table templates, schema_evolution, on_truncate).
source "$(dirname "$0")/lib.sh"

export KAFKA_BOOTSTRAP=broker-1:9092 PG_DSN="host=db dbname=app user=sink" \
  KAFKA_USER=sink KAFKA_PASSWORD=example-password
checked=0
for config in "$KPS_SOURCE_DIR"/config/*.yaml; do
  status=0
  run_daemon "$config" --check-config || status=$?
  ((status == 0)) ||
    fail "--check-config refuses $(basename "$config") (exit $status):"$'\n'"$(head -n 20 "$DAEMON_LOG")"
  assert_log_matches 'config ok' "--check-config does not print 'config ok' for $(basename "$config")"
  note "$(basename "$config"): config ok"
  checked=$((checked + 1))
done
((checked >= 3)) || fail "only $checked example(s) found in config/"
pass
