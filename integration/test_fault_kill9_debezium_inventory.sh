#!/usr/bin/env bash
# Replicating a database with Debezium survives kill -9: the daemon is killed as soon as the first
# transaction of the stream is stored (batches of 5 records: creates, ALTERs, truncates and offsets
# share transactions), the rest of the stream is produced, and a restart with --until-caught-up
# ends with the source's exact state. See debezium_inventory_case.sh.
DEBEZIUM_CASE=kill9
source "$(dirname "$0")/debezium_inventory_case.sh"
