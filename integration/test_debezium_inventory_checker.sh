#!/usr/bin/env bash
# The checks of the Debezium replication tests are proven without the daemon: the generator's
# expected state, loaded into PostgreSQL, reads back byte for byte and passes them (so the CSV
# the generator writes is what COPY prints: timestamps, doubles, numerics, NULLs, quoted commas
# and line breaks), and they fail, saying why, on a TOAST placeholder written over a value, on
# a column of another type and on a wrong counter. See debezium_inventory_case.sh.
DEBEZIUM_CASE=checker
source "$(dirname "$0")/debezium_inventory_case.sh"
