#!/usr/bin/env bash
# Columns filled from the record rather than its value: @key, @topic, @partition, @offset,
# @timestamp and @header:NAME (a header that is absent gives NULL in a nullable column).
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka telemetry:2

psql_q "CREATE TABLE public.telemetry (
          id bigint NOT NULL, k text NOT NULL, t text NOT NULL, p integer NOT NULL, o bigint NOT NULL,
          ts timestamptz NOT NULL, trace text NOT NULL, absent text)"

write_config "$TEST_DIR/sink.yaml" <<'EOF'
sinks:
  - topic: telemetry
    table: public.telemetry
    mode: insert
    columns:
      id:     {path: /id, type: bigint}
      k:      {path: "@key", type: text}
      t:      {path: "@topic", type: text}
      p:      {path: "@partition", type: integer}
      o:      {path: "@offset", type: bigint}
      ts:     {path: "@timestamp", type: timestamptz}
      trace:  {path: "@header:trace", type: text}
      absent: {path: "@header:absent", type: text, nullable: true}
EOF

# kcat stamps each record with the time it produces it (CreateTime) and puts -H on every record.
before_producing=$(psql_q "SELECT now()")
produce telemetry 0 -H trace=trace-of-p0 <<'EOF'
key-a	{"id":1}
key-b	{"id":2}
key-c	{"id":3}
EOF
produce telemetry 1 -H trace=trace-of-p1 <<'EOF'
key-d	{"id":4}
key-e	{"id":5}
EOF
after_producing=$(psql_q "SELECT now()")

run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the daemon exited with status $? instead of 0"

expected_rows=$(cat <<'EOF'
1	key-a	telemetry	0	0	trace-of-p0	NULL
2	key-b	telemetry	0	1	trace-of-p0	NULL
3	key-c	telemetry	0	2	trace-of-p0	NULL
4	key-d	telemetry	1	0	trace-of-p1	NULL
5	key-e	telemetry	1	1	trace-of-p1	NULL
EOF
)
assert_eq "$expected_rows" "$(psql_q 'SELECT id, k, t, p, o, trace, absent FROM public.telemetry ORDER BY p, o')" \
  "rows (id, @key, @topic, @partition, @offset, @header:trace, @header:absent)"
# Record timestamps have millisecond resolution: allow that much on each side.
assert_eq 0 "$(psql_q "SELECT count(*) FROM public.telemetry
                       WHERE ts NOT BETWEEN timestamptz '$before_producing' - interval '1 millisecond'
                                        AND timestamptz '$after_producing' + interval '1 millisecond'")" \
  "rows whose @timestamp is not the time kcat produced them (between $before_producing and $after_producing)"

pass
