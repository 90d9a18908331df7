#!/usr/bin/env bash
# The README's first command: from a fresh Debian 12 machine to Kafka records in PostgreSQL.
# Installs the missing packages, builds the daemon in build/, starts a throw-away PostgreSQL
# and a mock Kafka cluster with topic `events` (4 partitions), produces QUICKSTART_EVENTS
# sample events (default 200000; the mock keeps about 5 MB per partition, so stay below ~500000)
# and streams them into public.events with config/quickstart.yaml. Everything it started is
# stopped when it ends, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${QUICKSTART_EVENTS:-200000}

step() { printf '\n==> %s\n' "$*"; }

step "Checking the Debian packages"
bash integration/install-deps.sh

step "Building kafka-pg-sink in build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target kafka-pg-sink kps-mock-kafka

# From here on, lib.sh's EXIT trap stops whatever was started.
source integration/lib.sh

step "Starting PostgreSQL"
start_postgres
echo "PostgreSQL is listening: $PG_DSN"

step "Starting a mock Kafka cluster with topic events (4 partitions)"
start_kafka events:4
echo "Kafka bootstrap servers: $KAFKA_BOOTSTRAP"

step "Producing $events sample events (keyed by device, lz4-compressed)"
# Sensor readings: every device's events go to one partition (key = device id), in time order.
# One in 97 has no temperature (a nullable column).
psql_q "SELECT format('sensor-%s', lpad((id % 250)::text, 3, '0')),
               json_build_object(
                 'id', id,
                 'device', json_build_object('id', format('sensor-%s', lpad((id % 250)::text, 3, '0')),
                                             'site', (ARRAY['berlin', 'lisbon', 'osaka', 'toronto'])[1 + id % 4]),
                 'ts', timestamptz '2024-05-01 00:00:00+00' + id * interval '250 milliseconds',
                 'temperature', CASE WHEN id % 97 = 0 THEN NULL
                                     ELSE round((21 + 6 * sin(id / 400.0) + (id % 7) * 0.1)::numeric, 2) END,
                 'payload', json_build_object('firmware', format('1.%s.2', id % 5), 'battery', 100 - id % 100,
                                              'tags', json_build_array('indoor', 'rev-b')))
        FROM generate_series(1, $events) AS id" | produce events -1 -z lz4
timeout 30 "$KPS_MOCK_KAFKA" watermarks --bootstrap "$KAFKA_BOOTSTRAP" --topic events |
  awk '{ printf "  partition %s: %s events\n", $2, $4 - $3 }'

# config/quickstart.yaml reads these.
STATE_DIR=$TEST_DIR/state
HTTP_PORT=$(free_port)
export STATE_DIR HTTP_PORT

step "Running kafka-pg-sink --config config/quickstart.yaml --until-caught-up"
echo "(metrics at http://127.0.0.1:$HTTP_PORT/metrics while it runs)"
started=$SECONDS
"$KPS_BIN" --config config/quickstart.yaml --until-caught-up
echo "kafka-pg-sink caught up and exited 0 after $((SECONDS - started)) s"

step "Rows in public.events"
psql_q "SELECT count(*) FROM public.events"

step "SELECT * FROM public.events ORDER BY id LIMIT 5"
PGTZ=UTC "$PG_BIN/psql" -X -P pager=off -d "$PG_DSN" -c "SELECT * FROM public.events ORDER BY id LIMIT 5"

step "Done: stopping PostgreSQL and the mock Kafka cluster"
