#!/usr/bin/env bash
# Replicating a database with Debezium, with the schema wrapper on keys and values: one sink
# entry (pattern + template, format debezium, create_table, schema_evolution add_columns,
# on_truncate apply) creates replica.customers/products/orders from the first events' schemas,
# adds `phone` when it appears, keeps TOASTed values, applies deletes, the primary-key change and
# the truncate, and ends with exactly the source's state; the change-event and truncate counters
# and the routed/created/altered log lines match the stream. See debezium_inventory_case.sh.
DEBEZIUM_CASE=schemas
source "$(dirname "$0")/debezium_inventory_case.sh"
