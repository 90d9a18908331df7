#!/usr/bin/env bash
# Issue 10, case 6: every connection is set to client_encoding UTF8 (records are UTF-8), whatever
# the database's encoding and whatever the DSN's own `options` say. In a LATIN1 database, "é" must
# be stored as the one LATIN1 character é (not as the two characters "Ã©" that UTF-8's bytes make
# in LATIN1), and a character LATIN1 cannot hold ("€", "漢") is a bad record (SQLSTATE 22P05),
# dead-lettered under tolerance all, never a stop. Insert and upsert sinks both. The sessions are
# also set to TimeZone UTC and the configured timeouts, over the database's and the DSN's defaults.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka names:1 keyed:1 names.dlq:1
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres -E LATIN1 -T template0 --locale=C latin1db ||
  fail "could not create the LATIN1 database"
LATIN1_DSN="host=127.0.0.1 port=$PG_PORT dbname=latin1db user=postgres"
latin1_q() { PG_DSN=$LATIN1_DSN psql_q "$@"; }
latin1_q "CREATE TABLE public.names (id bigint NOT NULL, name text NOT NULL);
          CREATE TABLE public.keyed (id bigint PRIMARY KEY, name text NOT NULL)"
# What the daemon's sessions are set to, seen from inside them: a trigger notes the settings of
# every statement that writes the tables. The database's own defaults say otherwise.
latin1_q "CREATE TABLE public.session_seen (tz text, enc text, lock_timeout text, statement_timeout text);
          CREATE FUNCTION public.note_session() RETURNS trigger LANGUAGE plpgsql AS \$\$
          BEGIN
            INSERT INTO public.session_seen VALUES (current_setting('TimeZone'), current_setting('client_encoding'),
                                                    current_setting('lock_timeout'), current_setting('statement_timeout'));
            RETURN NULL;
          END \$\$;
          CREATE TRIGGER note_session AFTER INSERT ON public.names FOR EACH STATEMENT EXECUTE FUNCTION public.note_session();
          CREATE TRIGGER note_session AFTER INSERT ON public.keyed FOR EACH STATEMENT EXECUTE FUNCTION public.note_session();
          ALTER DATABASE latin1db SET TimeZone = 'Asia/Tokyo';
          ALTER DATABASE latin1db SET lock_timeout = 0;"
# The DSN asks for LATIN1 itself: the daemon's settings must win.
sed_dsn="$LATIN1_DSN options='-c client_encoding=LATIN1 -c TimeZone=America/New_York'"
write_config "$TEST_DIR/sink.yaml" <<'CONFIG'
batch:
  max_rows: 100
  max_latency_ms: 50
errors:
  tolerance: all
  dead_letter_topic: names.dlq
sinks:
  - topic: names
    table: public.names
    mode: insert
    columns:
      id:   {path: /id, type: bigint}
      name: {path: /name, type: text}
  - topic: keyed
    table: public.keyed
    mode: upsert
    primary_key: [id]
    columns:
      id:   {path: /id, type: bigint}
      name: {path: /name, type: text}
CONFIG
sed -i "s|^  dsn: .*|  dsn: \"$sed_dsn\"|" "$TEST_DIR/sink.yaml"
grep -q "dbname=latin1db" "$TEST_DIR/sink.yaml" || fail "could not point the config at the LATIN1 database"

for topic in names keyed; do
  printf '%s\n' '1	{"id":1,"name":"café"}' '2	{"id":2,"name":"price 5€"}' '3	{"id":3,"name":"漢字"}' \
    '4	{"id":4,"name":"naïve Ångström"}' | produce "$topic" 0
done

status=0
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || status=$?
assert_eq 0 "$status" "exit status of --until-caught-up"
for table in names keyed; do
  # convert_to(..., 'UTF8') shows what the LATIN1 text is: "é" is c3a9 once converted, where a
  # mis-decoded "Ã©" would be c383c2a9.
  assert_eq $'1\t4\t636166c3a9\n4\t14\t6e61c3af766520c3856e67737472c3b66d' \
    "$(latin1_q "SELECT id, length(name), encode(convert_to(name, 'UTF8'), 'hex') FROM public.$table ORDER BY id")" \
    "rows of public.$table (id, characters, UTF-8 bytes)"
done
assert_eq $'UTC\tUTF8\t30s\t5min' "$(latin1_q "SELECT DISTINCT * FROM public.session_seen")" \
  "TimeZone, client_encoding, lock_timeout and statement_timeout of the daemon's writing sessions"
assert_eq 4 "$(log_end_offsets names.dlq | awk '{ sum += $2 } END { print sum + 0 }')" \
  "dead letters (the € and 漢 records of both topics)"
assert_eq 4 "$(grep -c 'sent to the dead letter topic.*SQLSTATE 22P05' "$DAEMON_LOG" || true)" \
  "dead letters logged with SQLSTATE 22P05"
pass
