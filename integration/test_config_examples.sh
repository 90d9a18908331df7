#!/usr/bin/env bash
# Every example configuration shipped in config/ is valid: `--check-config` accepts each
# config/*.yaml once the variables it names are in the environment (a new example is covered
# the day it is added). config/debezium-inventory.yaml needs the change-data-capture keys
# (format, table templates, schema_evolution, on_truncate).
source "$(dirname "$0")/lib.sh"

export KAFKA_BOOTSTRAP=broker-1:9092 PG_DSN="host=db dbname=app user=sink" \
  KAFKA_USER=sink KAFKA_PASSWORD=example-password
checked=0 refused=""
for config in "$KPS_SOURCE_DIR"/config/*.yaml; do
  status=0
  run_daemon "$config" --check-config || status=$?
  if ((status == 0)) && grep -q 'config ok' "$DAEMON_LOG"; then
    note "$(basename "$config"): config ok"
  else
    refused+=$'\n'"$(basename "$config") (exit $status):"$'\n'"$(head -n 20 "$DAEMON_LOG")"
  fi
  checked=$((checked + 1))
done
[[ -z "$refused" ]] || fail "--check-config refuses example configs:$refused"
((checked >= 3)) || fail "only $checked example(s) found in config/"
pass
