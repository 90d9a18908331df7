#!/usr/bin/env bash
# log.format: json writes one JSON object per line, with time, level and message, on every line
# the daemon prints (librdkafka's own log lines included), and logs decisions, never records:
# 5000 records streamed, then SIGTERM, make a few dozen lines at most. A second run stopped by a
# bad record shows that an error is a JSON line too.
source "$(dirname "$0")/lib.sh"

readonly records=5000 partitions=3 max_lines_per_run=60

start_postgres
start_kafka "jsonlogs:$partitions"
create_sink_table public.jsonlogs
write_fault_config "$TEST_DIR/sink.yaml" jsonlogs public.jsonlogs 500 50
# write_config's log section turns the progress line off; this test wants it on, as JSON.
sed -i 's/^  progress_interval_ms: 0$/  format: json\n  progress_interval_ms: 1000/' "$TEST_DIR/sink.yaml"
grep -q '^  format: json$' "$TEST_DIR/sink.yaml" || fail "could not set log.format: json in the test config"

# check_json_lines LOG: every line of LOG is a JSON object with a UTC ISO 8601 "time", a known
# "level" and a non-empty "message"; prints the number of lines and the messages, one per line.
check_json_lines() {
  python3 - "$1" "$TEST_DIR/messages.txt" <<'PYTHON' || fail "$1 is not JSON lines (the offending lines are above)"
import json, re, sys

log_path, messages_path = sys.argv[1], sys.argv[2]
time_format = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
problems, messages = [], []
with open(log_path, encoding="utf-8") as log:
    lines = log.read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
for number, line in enumerate(lines, 1):
    try:
        entry = json.loads(line)
    except ValueError as error:
        problems.append(f"line {number} is not JSON ({error}): {line!r}")
        continue
    if not isinstance(entry, dict):
        problems.append(f"line {number} is not a JSON object: {line!r}")
        continue
    if not isinstance(entry.get("time"), str) or not time_format.match(entry["time"]):
        problems.append(f"line {number} has no ISO 8601 UTC time: {line!r}")
    if entry.get("level") not in ("debug", "info", "warn", "error"):
        problems.append(f"line {number} has no known level: {line!r}")
    if not isinstance(entry.get("message"), str) or not entry["message"]:
        problems.append(f"line {number} has no message: {line!r}")
    else:
        messages.append(f"{entry.get('level')} {entry['message']}")
for problem in problems:
    print(problem, file=sys.stderr)
with open(messages_path, "w", encoding="utf-8") as out:
    out.write("".join(message.replace("\n", "\\n") + "\n" for message in messages))
print(len(lines))
sys.exit(1 if problems or not lines else 0)
PYTHON
}

# assert_message LEVEL ERE DESCRIPTION: a line of the last checked log has that level and a
# message matching ERE.
assert_message() {
  grep -Eq -- "^$1 $2" "$TEST_DIR/messages.txt" ||
    fail "$3: no $1 line matches /$2/ in"$'\n'"$(cat "$TEST_DIR/messages.txt")"
}

create_expected_table expected 1 "$records"
produce_records jsonlogs 1 "$records"
start_daemon "$TEST_DIR/sink.yaml"
wait_for "the first rows" 30 rows_at_least public.jsonlogs 1
wait_until_applied jsonlogs 60
# One progress period, so that a progress line is among the lines checked.
wait_for "a progress line" 10 grep -q '"message":"progress: ' "$DAEMON_LOG"
status=0
stop_daemon TERM 15 || status=$?
assert_eq 0 "$status" "exit status after SIGTERM"
assert_exactly_once public.jsonlogs expected

lines=$(check_json_lines "$DAEMON_LOG")
note "run 1: $lines JSON lines for $records records"
((lines <= max_lines_per_run)) ||
  fail "$lines log lines for $records records: more than $max_lines_per_run, so something logs per record"$'\n'"$(
    sort "$TEST_DIR/messages.txt" | uniq -c | sort -rn | head -n 5)"
assert_message info "kafka-pg-sink .* starting" "the start"
# The start names the simdjson kernel that runtime dispatch picked for this CPU.
assert_message info "kafka-pg-sink .* starting: .*, simdjson kernel (icelake|haswell|westmere|fallback)\$" \
  "the simdjson kernel in the start line"
assert_message info "connected to PostgreSQL \(host=127\.0\.0\.1 " "the connection"
assert_message info "consuming as group $KPS_GROUP " "the subscription"
assert_message info "assigned topic=jsonlogs partition=[0-9]+ " "each assignment"
assigned=$(grep -Ec "^info assigned topic=jsonlogs partition=[0-9]+ " "$TEST_DIR/messages.txt" || true)
assert_eq "$partitions" "$assigned" "assignment lines (one per partition)"
assert_message info "progress: consumed=[0-9]+ " "the progress line"
assert_message info "totals: consumed=$records " "the totals at exit"
assert_message info "stopped cleanly" "the clean stop"
# Per-record facts never reach the log: no line names a record's offset or content.
if grep -Eq 'record-[0-9]+' "$TEST_DIR/messages.txt"; then
  fail "a record's content reached the log: $(grep -E 'record-[0-9]+' "$TEST_DIR/messages.txt" | head -n 3)"
fi

# A bad record: the stop is decided once, logged once as an error line, in JSON.
printf 'bad\t{"id":"not a number","name":"x","amount":1}\n' | produce jsonlogs 0
status=0
run_daemon "$TEST_DIR/sink.yaml" --until-caught-up || status=$?
assert_eq 1 "$status" "exit status at a bad record"
lines=$(check_json_lines "$DAEMON_LOG")
note "run 2: $lines JSON lines"
((lines <= max_lines_per_run)) || fail "$lines log lines for one bad record"
assert_message error "stopping .*topic=jsonlogs partition=0 offset=[0-9]+" "the bad record's stop"
errors=$(grep -c '^error ' "$TEST_DIR/messages.txt" || true)
((errors >= 1 && errors <= 3)) || fail "$errors error lines for one bad record"
pass
