#!/usr/bin/env bash
# Replicating a database with Debezium, without the schema wrapper (JsonConverter with
# schemas.enable=false, decimal.handling.mode=string): the tables are pre-created, values are read
# by their column's type (epoch days, microsecond timestamps, ISO timestamptz, numeric strings),
# and the field that appears mid-stream (`phone`) is not added but ignored and counted
# (kafka_pg_sink_ignored_fields_total). The tables end exactly as the source's state without
# `phone`. See debezium_inventory_case.sh.
DEBEZIUM_CASE=no_schemas
source "$(dirname "$0")/debezium_inventory_case.sh"
