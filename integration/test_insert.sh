#!/usr/bin/env bash
# Mode insert into an existing table with one column of each of the 15 contract types, from a
# topic with 3 partitions: every value arrives exactly as PostgreSQL itself would hold it, and
# each partition's applied offset is stored in PostgreSQL and committed to Kafka.
source "$(dirname "$0")/lib.sh"

readonly partitions=3
start_postgres
start_kafka "all_types:$partitions"

# The oracle: `expected` holds what the sink must end up holding. Each record's JSON is made
# from its row, so the test needs no second implementation of any type's encoding. Values cover
# negatives, more digits than a double holds (numeric), dates before 1970 and 2000 (the Unix and
# PostgreSQL epochs), escapes and control characters in text, empty bytea, JSON null and a
# missing field for nullable columns.
psql_q <<'SQL'
CREATE TABLE public.all_types (
  id            bigint PRIMARY KEY,
  c_smallint    smallint NOT NULL,
  c_integer     integer NOT NULL,
  c_real        real NOT NULL,
  c_double      double precision NOT NULL,
  c_numeric     numeric NOT NULL,
  c_boolean     boolean NOT NULL,
  c_text        text,
  c_uuid        uuid NOT NULL,
  c_date        date NOT NULL,
  c_timestamp   timestamp NOT NULL,
  c_timestamptz timestamptz NOT NULL,
  c_json        json,
  c_jsonb       jsonb NOT NULL,
  c_bytea       bytea NOT NULL
);

CREATE TABLE expected AS
SELECT i,
       i * 30000000007 - 4000000000000                                        AS id,
       ((i % 200 - 100) * 327)::smallint                                      AS c_smallint,
       (i * 7000003 - 1000000000)::integer                                    AS c_integer,
       (i - 150 + 0.25)::real                                                 AS c_real,
       (i - 150) * 1.234567890123e-5::double precision                        AS c_double,
       (CASE WHEN i % 2 = 0 THEN '' ELSE '-' END
         || '1234567890123456789.' || lpad(i::text, 3, '0'))::numeric          AS c_numeric,
       i % 2 = 0                                                              AS c_boolean,
       CASE WHEN i % 10 = 9 THEN NULL
            ELSE format(E'caf\u00e9 "quoted" \\ tab\t ctl\x01 \u2713 #%s', i) END AS c_text,
       md5(i::text)::uuid                                                     AS c_uuid,
       date '1970-01-01' + (i * 97 - 10000)                                   AS c_date,
       timestamp '2000-01-01' + (i - 150) * interval '1 day 1 hour 1 minute 1.000001 second'
                                                                              AS c_timestamp,
       timestamptz '2024-03-31 00:30:00+00' + i * interval '7 hours 13 minutes 17.654321 seconds'
                                                                              AS c_timestamptz,
       CASE WHEN i % 10 = 8 THEN NULL
            ELSE json_build_object('n', i, 'tags', json_build_array('a', i % 5, null, true),
                                   'nested', json_build_object('deep', json_build_array(1.5, -2e-3)))
       END                                                                    AS c_json,
       CASE (i / 3) % 3 WHEN 0 THEN jsonb_build_object('name', 'ü' || i, 'list', jsonb_build_array(i, i * 2))
                  WHEN 1 THEN to_jsonb(i)
                  ELSE to_jsonb('plain string ' || i) END                     AS c_jsonb,
       CASE WHEN i = 7 THEN ''::bytea ELSE decode(md5(i::text), 'hex') || int4send(i) END AS c_bytea
FROM generate_series(0, 299) AS i;
SQL

# The JSON of each record: the row itself, with bytea in base64 and timestamptz written three
# ways (+00:00, Z, +05:30); c_json is left out entirely (not null) where it is NULL.
record_lines() {
  psql_q "SELECT i, (to_jsonb(e) - 'i' - 'c_bytea' - 'c_timestamptz'
                      - CASE WHEN c_json IS NULL THEN 'c_json' ELSE '' END
                    || jsonb_build_object(
                         'c_bytea', encode(c_bytea, 'base64'),
                         'c_timestamptz', CASE (i / 3) % 3
                           WHEN 0 THEN to_jsonb(c_timestamptz)
                           WHEN 1 THEN to_jsonb(to_char(c_timestamptz, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))
                           ELSE to_jsonb(to_char(c_timestamptz AT TIME ZONE 'Asia/Kolkata',
                                                 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+05:30') END))::text
    FROM expected e WHERE i % $partitions = $1 ORDER BY i"
}
for ((partition = 0; partition < partitions; partition++)); do
  record_lines "$partition" | produce all_types "$partition"
done

write_config "$TEST_DIR/sink.yaml" <<'EOF'
batch:
  max_rows: 50
sinks:
  - topic: all_types
    table: public.all_types
    mode: insert
    columns:
      id:            {path: /id, type: bigint}
      c_smallint:    {path: /c_smallint, type: smallint}
      c_integer:     {path: /c_integer, type: integer}
      c_real:        {path: /c_real, type: real}
      c_double:      {path: /c_double, type: double}
      c_numeric:     {path: /c_numeric, type: numeric}
      c_boolean:     {path: /c_boolean, type: boolean}
      c_text:        {path: /c_text, type: text, nullable: true}
      c_uuid:        {path: /c_uuid, type: uuid}
      c_date:        {path: /c_date, type: date}
      c_timestamp:   {path: /c_timestamp, type: timestamp}
      c_timestamptz: {path: /c_timestamptz, type: timestamptz}
      c_json:        {path: /c_json, type: json, nullable: true}
      c_jsonb:       {path: /c_jsonb, type: jsonb}
      c_bytea:       {path: /c_bytea, type: bytea}
EOF
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || fail "the daemon exited with status $? instead of 0"

assert_eq "$(psql_q 'SELECT count(*) FROM expected')" "$(psql_q 'SELECT count(*) FROM public.all_types')" "row count"

# Every column of every row, compared with the oracle; a difference is reported per column.
differences=$(psql_q "
  SELECT column_name, count(*), min(e.i)
  FROM expected e LEFT JOIN public.all_types a USING (id),
  LATERAL (VALUES
    ('c_smallint',    a.c_smallint    IS DISTINCT FROM e.c_smallint),
    ('c_integer',     a.c_integer     IS DISTINCT FROM e.c_integer),
    ('c_real',        a.c_real        IS DISTINCT FROM e.c_real),
    ('c_double',      a.c_double      IS DISTINCT FROM e.c_double),
    ('c_numeric',     a.c_numeric     IS DISTINCT FROM e.c_numeric),
    ('c_boolean',     a.c_boolean     IS DISTINCT FROM e.c_boolean),
    ('c_text',        a.c_text        IS DISTINCT FROM e.c_text),
    ('c_uuid',        a.c_uuid        IS DISTINCT FROM e.c_uuid),
    ('c_date',        a.c_date        IS DISTINCT FROM e.c_date),
    ('c_timestamp',   a.c_timestamp   IS DISTINCT FROM e.c_timestamp),
    ('c_timestamptz', a.c_timestamptz IS DISTINCT FROM e.c_timestamptz),
    ('c_json',        a.c_json::jsonb IS DISTINCT FROM e.c_json::jsonb),
    ('c_jsonb',       a.c_jsonb       IS DISTINCT FROM e.c_jsonb),
    ('c_bytea',       a.c_bytea       IS DISTINCT FROM e.c_bytea)
  ) AS d(column_name, differs)
  WHERE differs
  GROUP BY column_name ORDER BY column_name")
assert_eq "" "$differences" "columns whose values differ from the produced ones (column, rows, first record)"

per_partition=$(psql_q "SELECT i % $partitions, count(*) FROM expected GROUP BY 1 ORDER BY 1")
assert_eq "$per_partition" "$(stored_offsets all_types)" "next offsets stored in PostgreSQL"
assert_eq "$per_partition" "$(committed_offsets all_types)" "offsets committed to Kafka"

pass
