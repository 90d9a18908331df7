#!/usr/bin/env bash
# errors.tolerance all: good and bad records mixed over several partitions. Every good record
# lands, every bad one is in the dead letter topic with its original key, value and headers plus
# the __connect.errors.* headers, and every partition's offset moves past all of them.
#   - decode stage: wrong JSON type, invalid JSON, a value that is not an object, too large;
#   - database stage, insert mode (binary COPY, located by the COPY error's line): check
#     violations at the first, a middle and the last offset of every partition — one batch holds
#     all of them, so they sit at its start, middle and end —, a value too long for varchar(10)
#     and a duplicate primary key;
#   - database stage, upsert mode (staging table + INSERT … ON CONFLICT, located by halving):
#     a foreign key violation, and a key whose last record is refused keeps its previous record.
# /metrics counts each bad record once in bad_records_total and dead_letters_total, by topic,
# stage and reason.
source "$(dirname "$0")/lib.sh"

start_postgres
start_kafka orders:3 accounts:1 orders.dlq:1

psql_q "CREATE TABLE public.orders (id bigint PRIMARY KEY, qty integer NOT NULL CHECK (qty > 0), note varchar(10))"
psql_q "CREATE TABLE public.regions (code text PRIMARY KEY); INSERT INTO public.regions VALUES ('eu'), ('us')"
psql_q "CREATE TABLE public.accounts (id bigint PRIMARY KEY, region text NOT NULL REFERENCES public.regions (code),
                                      balance integer NOT NULL CHECK (balance >= 0))"
write_config "$TEST_DIR/sink.yaml" <<'EOF'
batch:
  max_rows: 1000
  max_latency_ms: 1000
errors:
  tolerance: all
  dead_letter_topic: orders.dlq
  max_record_bytes: 2000
sinks:
  - topic: orders
    table: public.orders
    mode: insert
    columns:
      id:   {path: /id, type: bigint}
      qty:  {path: /qty, type: integer}
      note: {path: /note, type: text, nullable: true}
  - topic: accounts
    table: public.accounts
    mode: upsert
    primary_key: [id]
    columns:
      id:      {path: /id, type: bigint}
      region:  {path: /region, type: text}
      balance: {path: /balance, type: integer}
EOF

# orders: 20 records per partition; id = partition * 100 + offset.
declare -A bad_orders=()  # "partition/offset" -> stage
for p in 0 1 2; do
  for ((n = 0; n < 20; n++)); do
    id=$((p * 100 + n))
    value="{\"id\":$id,\"qty\":$((n + 1)),\"note\":\"n$n\"}"
    if ((n == 0 || n == 10 || n == 19)); then
      value="{\"id\":$id,\"qty\":-1}"; bad_orders[$p/$n]=database
    elif ((p == 0 && n == 3)); then
      value='{"id":"three","qty":1}'; bad_orders[$p/$n]=decode
    elif ((p == 1 && n == 7)); then
      value='{"id":107,"qty":'; bad_orders[$p/$n]=decode
    elif ((p == 1 && n == 5)); then
      value='{"id":105,"qty":1,"note":"far too long for ten"}'; bad_orders[$p/$n]=database
    elif ((p == 2 && n == 8)); then
      value='{"id":207,"qty":1}'; bad_orders[$p/$n]=database  # the key of offset 7 again
    elif ((p == 2 && n == 12)); then
      value='[1,2,3]'; bad_orders[$p/$n]=decode
    elif ((p == 2 && n == 15)); then
      value="{\"id\":215,\"qty\":1,\"note\":\"$(printf 'x%.0s' {1..2100})\"}"; bad_orders[$p/$n]=decode
    fi
    printf 'key-%s\t%s\n' "$id" "$value" >>"$TEST_DIR/orders-$p.txt"
  done
  produce orders "$p" <"$TEST_DIR/orders-$p.txt"
done
# One bad record carries a header of its own, which its dead letter must keep.
printf 'key-with-header\t{"id":"h"}\n' | produce orders 0 -H trace=t-42
bad_orders[0/20]=decode
# So does a record PostgreSQL refuses: its letter is read back from Kafka, headers and all.
printf 'key-db-header\t{"id":21,"qty":-1}\n' | produce orders 0 -H trace=t-db -H origin=billing
bad_orders[0/21]=database

# accounts: 1 and 2 are updated; 3 names a region that does not exist (23503); 1's last
# record is refused (23514), so its previous record is what the table keeps.
{
  printf '1\t{"id":1,"region":"eu","balance":10}\n'
  printf '2\t{"id":2,"region":"us","balance":20}\n'
  printf '3\t{"id":3,"region":"mars","balance":30}\n'
  printf '1\t{"id":1,"region":"eu","balance":11}\n'
  printf '2\t{"id":2,"region":"us","balance":21}\n'
  printf '1\t{"id":1,"region":"eu","balance":-5}\n'
} | produce accounts 0

port=$(free_port)
sed -i "s|^  listen: \"\"$|  listen: \"127.0.0.1:$port\"|" "$TEST_DIR/sink.yaml"
grep -q "127.0.0.1:$port" "$TEST_DIR/sink.yaml" || fail "could not enable HTTP in the test config"
start_daemon "$TEST_DIR/sink.yaml"
all_applied() { [[ "$(stored_offsets orders)" == $'0\t22\n1\t20\n2\t20' && "$(stored_offsets accounts)" == $'0\t6' ]]; }
wait_for "every offset to be stored" 60 all_applied
curl -sf "http://127.0.0.1:$port/metrics" >"$TEST_DIR/metrics.txt" || fail "cannot read /metrics"
stop_daemon TERM 20 || fail "the daemon exited with status $? after SIGTERM"

# /metrics counts every bad record once, by topic, stage and reason, and each as a dead letter.
metric() { awk -v series="$1" '$1 == series { print $2 }' "$TEST_DIR/metrics.txt"; }
for family in bad_records_total dead_letters_total; do
  for expected in 'orders database 23514 10' 'orders database 22001 1' 'orders database 23505 1' \
                  'orders decode wrong_type 2' 'orders decode invalid_json 1' 'orders decode not_an_object 1' \
                  'orders decode too_large 1' 'accounts database 23503 1' 'accounts database 23514 1'; do
    read -r topic stage reason count <<<"$expected"
    series="kafka_pg_sink_${family}{topic=\"$topic\",stage=\"$stage\",reason=\"$reason\"}"
    assert_eq "$count" "$(metric "$series")" "$series"
  done
done

# The table holds exactly the good orders.
expected_ids=$(for p in 0 1 2; do for ((n = 0; n < 20; n++)); do
  if [[ -z "${bad_orders[$p/$n]:-}" ]]; then echo $((p * 100 + n)); fi; done; done | sort -n)
assert_eq "$expected_ids" "$(psql_q 'SELECT id FROM public.orders ORDER BY id')" "ids of the good orders"
assert_eq $'1\teu\t11\n2\tus\t21' "$(psql_q 'SELECT id, region, balance FROM public.accounts ORDER BY id')" \
  "accounts: the refused last record of key 1 leaves its previous one"

assert_eq $'0\t22\n1\t20\n2\t20' "$(stored_offsets orders)" "orders: offsets stored past every bad record"
assert_eq $'0\t22\n1\t20\n2\t20' "$(committed_offsets orders)" "orders: offsets committed to Kafka"
assert_eq $'0\t6' "$(stored_offsets accounts)" "accounts: offset stored past the refused records"

# The dead letter topic: one letter per bad record, each with its origin and reason.
timeout 30 kcat -C -b "$KAFKA_BOOTSTRAP" -t orders.dlq -e -q -J >"$TEST_DIR/letters.json" ||
  fail "cannot read the dead letter topic"
python3 - "$TEST_DIR/letters.json" >"$TEST_DIR/letters.txt" <<'PYTHON' || fail "unexpected dead letters (above)"
import json, sys
for line in open(sys.argv[1]):
    letter = json.loads(line)
    raw = letter.get("headers") or []
    headers = dict(zip(raw[0::2], raw[1::2]))
    print("\t".join([headers.get("__connect.errors.topic", "-"), headers.get("__connect.errors.partition", "-"),
                     headers.get("__connect.errors.offset", "-"), headers.get("__connect.errors.stage", "-"),
                     headers.get("__connect.errors.sqlstate", "-"), headers.get("__connect.errors.column", "-"),
                     "reason" if headers.get("__connect.errors.exception.message") else "no-reason",
                     headers.get("trace", "-") + ("," + headers["origin"] if "origin" in headers else ""),
                     letter.get("key") or "-", (letter.get("payload") or "-")[:60]]))
PYTHON
sort -t $'\t' -k1,1 -k2,2n -k3,3n "$TEST_DIR/letters.txt" | uniq >"$TEST_DIR/letters.sorted"
note "dead letters:"; cut -f1-8 "$TEST_DIR/letters.sorted" >&2

letter() {  # topic partition offset -> its line's fields 4.. (stage sqlstate column reason trace key value)
  awk -F'\t' -v t="$1" -v p="$2" -v o="$3" '$1 == t && $2 == p && $3 == o { $1 = $2 = $3 = ""; print substr($0, 4) }' \
    OFS='\t' "$TEST_DIR/letters.sorted"
}
assert_eq $((${#bad_orders[@]} + 2)) "$(wc -l <"$TEST_DIR/letters.sorted")" "dead letters (orders' bad records + 2 accounts)"
for key in "${!bad_orders[@]}"; do
  fields=$(letter orders "${key%/*}" "${key#*/}")
  [[ -n "$fields" ]] || fail "no dead letter for orders partition ${key%/*} offset ${key#*/}"
  [[ "$fields" == "${bad_orders[$key]}"$'\t'* ]] || fail "orders ${key}: expected stage ${bad_orders[$key]}, got: $fields"
  [[ "$fields" == *$'\t'reason$'\t'* ]] || fail "orders ${key}: no __connect.errors.exception.message: $fields"
done
# PostgreSQL names no column for a check, unique or foreign key violation; COPY does for a bad value.
assert_eq $'database\t23514\t-\treason\t-\tkey-0\t{"id":0,"qty":-1}' "$(letter orders 0 0)" \
  "letter of orders 0/0: check violation at the start of the batch"
assert_eq $'database\t23514\t-\treason\t-\tkey-219\t{"id":219,"qty":-1}' "$(letter orders 2 19)" \
  "letter of orders 2/19: check violation at the end of the batch"
assert_eq $'database\t22001\tnote\treason\t-\tkey-105\t{"id":105,"qty":1,"note":"far too long for ten"}' \
  "$(letter orders 1 5)" "letter of orders 1/5: value too long"
assert_eq $'database\t23505\t-\treason\t-\tkey-208\t{"id":207,"qty":1}' "$(letter orders 2 8)" \
  "letter of orders 2/8: duplicate key"
assert_eq $'decode\t-\tid\treason\t-\tkey-3\t{"id":"three","qty":1}' "$(letter orders 0 3)" \
  "letter of orders 0/3: wrong type"
assert_eq $'decode\t-\t-\treason\t-\tkey-107\t{"id":107,"qty":' "$(letter orders 1 7)" "letter of orders 1/7: invalid JSON"
assert_eq $'decode\t-\tid\treason\tt-42\tkey-with-header\t{"id":"h"}' "$(letter orders 0 20)" \
  "letter of orders 0/20 keeps its original header"
assert_eq $'database\t23514\t-\treason\tt-db,billing\tkey-db-header\t{"id":21,"qty":-1}' "$(letter orders 0 21)" \
  "letter of orders 0/21: a database-refused record keeps its original headers"
assert_eq $'database\t23503\t-\treason\t-\t3\t{"id":3,"region":"mars","balance":30}' "$(letter accounts 0 2)" \
  "letter of accounts 0/2: foreign key violation"
assert_eq $'database\t23514\t-\treason\t-\t1\t{"id":1,"region":"eu","balance":-5}' "$(letter accounts 0 5)" \
  "letter of accounts 0/5: check violation"

assert_log_matches 'sent to the dead letter topic orders.dlq: topic=orders partition=1 offset=5 column=note' "the dead letter is logged"
pass
