#!/usr/bin/env bash
# create_table: true creates the (schema-qualified) table from `columns`, with each contract type
# mapped to its PostgreSQL type, the column names as written (quoted, case kept) and the
# primary key in primary_key order; records then flow into it, and a second start finds the
# table already there.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka readings:1
psql_q "CREATE SCHEMA sink"

write_config "$TEST_DIR/sink.yaml" <<'EOF'
sinks:
  - topic: readings
    table: sink.created
    mode: upsert
    primary_key: [tenant, id]
    create_table: true
    columns:
      tenant:        {path: /tenant, type: text}
      id:            {path: /id, type: bigint}
      c_smallint:    {path: /c_smallint, type: smallint, nullable: true}
      c_integer:     {path: /c_integer, type: integer, nullable: true}
      c_real:        {path: /c_real, type: real, nullable: true}
      c_double:      {path: /c_double, type: double, nullable: true}
      c_numeric:     {path: /c_numeric, type: numeric, nullable: true}
      c_boolean:     {path: /c_boolean, type: boolean, nullable: true}
      DeviceId:      {path: /device/id, type: text, nullable: true}
      c_uuid:        {path: /c_uuid, type: uuid, nullable: true}
      c_date:        {path: /c_date, type: date, nullable: true}
      c_timestamp:   {path: /c_timestamp, type: timestamp, nullable: true}
      c_timestamptz: {path: /c_timestamptz, type: timestamptz, nullable: true}
      c_json:        {path: /c_json, type: json, nullable: true}
      c_jsonb:       {path: /c_jsonb, type: jsonb, nullable: true}
      c_bytea:       {path: /c_bytea, type: bytea, nullable: true}
EOF

assert_eq NULL "$(psql_q "SELECT to_regclass('sink.created')")" "the table before the first run (it must not exist yet)"

produce readings 0 <<'EOF'
a-1	{"tenant":"a","id":1,"c_smallint":1,"device":{"id":"dev-1"},"c_bytea":"AAEC"}
b-1	{"tenant":"b","id":1,"c_integer":2,"c_uuid":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}
a-2	{"tenant":"a","id":2,"c_date":"2024-02-29","c_json":{"k":[1,2]},"c_jsonb":{"k":"v"}}
a-1	{"tenant":"a","id":1,"c_real":1.5,"c_double":-2.25,"c_numeric":10.01,"c_boolean":true,"c_timestamp":"2024-02-29T12:00:00","c_timestamptz":"2024-02-29T12:00:00Z"}
EOF
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the daemon exited with status $? instead of 0"

expected_columns=$(cat <<'EOF'
DeviceId	text
c_boolean	boolean
c_bytea	bytea
c_date	date
c_double	double precision
c_integer	integer
c_json	json
c_jsonb	jsonb
c_numeric	numeric
c_real	real
c_smallint	smallint
c_timestamp	timestamp without time zone
c_timestamptz	timestamp with time zone
c_uuid	uuid
id	bigint
tenant	text
EOF
)
assert_eq "$expected_columns" "$(psql_q "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
                                         WHERE attrelid = 'sink.created'::regclass AND attnum > 0 AND NOT attisdropped
                                         ORDER BY attname COLLATE \"C\"")" \
  "columns of the created table (name, type)"
assert_eq "tenant,id" "$(psql_q "SELECT string_agg(a.attname, ',' ORDER BY array_position(i.indkey::int2[], a.attnum))
                                 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                                 WHERE i.indrelid = 'sink.created'::regclass AND i.indisprimary")" \
  "primary key of the created table, in order"

# The four records upserted by (tenant, id): a-1 twice, so three rows, a-1 holding the last
# record's values only.
expected_rows=$(cat <<'EOF'
a	1	NULL	NULL	t	10.01	2024-02-29 12:00:00+00	NULL
a	2	NULL	NULL	NULL	NULL	NULL	2024-02-29
b	1	NULL	2	NULL	NULL	NULL	NULL
EOF
)
assert_eq "$expected_rows" "$(psql_q "SELECT tenant, id, c_smallint, c_integer, c_boolean, c_numeric, c_timestamptz, c_date
                                      FROM sink.created ORDER BY tenant, id")" \
  "rows in the created table (tenant, id, c_smallint, c_integer, c_boolean, c_numeric, c_timestamptz, c_date)"

# A second start: the table exists already, which is no reason to stop.
produce readings 0 <<<$'b-2\t{"tenant":"b","id":2}'
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the second run, with the table present, exited with status $?"
assert_eq 4 "$(psql_q 'SELECT count(*) FROM sink.created')" "rows after the second run"
assert_eq $'0\t5' "$(stored_offsets readings)" "next offset stored in PostgreSQL"

pass
