#!/usr/bin/env bash
# Hostile HTTP clients against the real daemon while records stream in (issue 10, case 5):
#   1. a chunked POST to /metrics streamed as fast as loopback allows (up to 2 GiB in 10 s,
#      reconnecting whenever the server cuts it off): the daemon's resident memory stays below
#      100 MB and it keeps writing rows;
#   2. 64 clients that send half a request line and wait (each one replaced as soon as the server
#      drops it) for 12 s: every /healthz probe meanwhile answers 200 within 1 s, and the server
#      is seen answering the slow clients 408;
#   3. afterwards the daemon is healthy and ready, and the table holds every record exactly once.
# Loopback only; every loop is bounded in time.
source "$(dirname "$0")/lib.sh"

readonly records=9000
readonly rss_limit_kib=$((100 * 1024))

start_postgres
start_kafka abuse:2
create_sink_table public.abuse
create_expected_table expected 1 "$records"
write_fault_config "$TEST_DIR/sink.yaml" abuse public.abuse 300 50
port=$(free_port)
sed -i "s|^  listen: \"\"|  listen: \"127.0.0.1:$port\"|" "$TEST_DIR/sink.yaml"
grep -q "127.0.0.1:$port" "$TEST_DIR/sink.yaml" || fail "could not enable HTTP in the test config"
url="http://127.0.0.1:$port"

# ~20 s of records, so that both attacks run while the daemon is writing.
start_producer abuse 1 "$records" 100 0.2
start_daemon "$TEST_DIR/sink.yaml"
wait_for "/healthz to answer 200" 20 bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' $url/healthz) == 200 ]]"
wait_for "the daemon to write its first rows" 30 rows_at_least public.abuse 100

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status"; }
row_count() { psql_q "SELECT count(*) FROM public.abuse"; }

# ---------------------------------------------------------------------------------------------
# 1. A body without end.
cat >"$TEST_DIR/chunked_post.py" <<'PY'
import socket, sys, time
port, seconds, limit = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
chunk = b"100000\r\n" + b"x" * 0x100000 + b"\r\n"  # 1 MiB per chunk
deadline = time.monotonic() + seconds
sent = connections = 0
answers = {}
while time.monotonic() < deadline and sent < limit:
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    connections += 1
    try:
        s.sendall(b"POST /metrics HTTP/1.1\r\nHost: sink\r\nTransfer-Encoding: chunked\r\n\r\n")
        while time.monotonic() < deadline and sent < limit:
            s.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass  # cut off by the server: start again
    try:
        status = s.recv(12).decode(errors="replace")[9:12] or "none"
    except OSError:
        status = "reset"
    answers[status] = answers.get(status, 0) + 1
    s.close()
print(f"sent {sent} bytes on {connections} connection(s); answers {answers}", flush=True)
PY
rows_before=$(row_count)
rss_before=$(rss_kib)
python3 "$TEST_DIR/chunked_post.py" "$port" 10 $((2 * 1024 * 1024 * 1024)) >"$TEST_DIR/chunked_post.log" 2>&1 &
attacker=$!
track_pid "$attacker"
rss_max=$rss_before
while process_alive "$attacker"; do
  rss=$(rss_kib) || fail "the daemon died during the chunked POST"
  ((rss > rss_max)) && rss_max=$rss
  if ((rss >= rss_limit_kib)); then
    kill "$attacker" 2>/dev/null || true
    fail "the daemon's resident memory reached ${rss} KiB (limit ${rss_limit_kib}) during the chunked POST"
  fi
  sleep 0.1
done
wait "$attacker" || fail "the chunked POST client failed: $(cat "$TEST_DIR/chunked_post.log")"
rows_after=$(row_count)
note "chunked POST: $(cat "$TEST_DIR/chunked_post.log"); VmRSS ${rss_before} KiB before, at most ${rss_max} KiB during;" \
  "rows $rows_before -> $rows_after"
grep -qE '^sent [0-9]{9,} bytes' "$TEST_DIR/chunked_post.log" || fail "the attack sent less than 100 MB"
process_alive "$DAEMON_PID" || fail "the daemon exited during the chunked POST"
((rows_after > rows_before)) || fail "the daemon wrote no rows during the chunked POST ($rows_before -> $rows_after)"

# ---------------------------------------------------------------------------------------------
# 2. Slow clients and the liveness probe.
cat >"$TEST_DIR/half_request_lines.py" <<'PY'
import select, socket, sys, time
port, count, seconds, ready_file = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
def open_one():
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.sendall(b"GET /metr")
    return s
held = [open_one() for _ in range(count)]
opened, dropped, most_held, answers = count, 0, count, {}
open(ready_file, "w").close()
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    readable, _, _ = select.select(held, [], [], 0.2)
    for s in readable:  # answered or closed by the server: replace it
        try:
            status = s.recv(12).decode(errors="replace")[9:12] or "closed"
        except OSError:
            status = "reset"
        answers[status] = answers.get(status, 0) + 1
        held.remove(s)
        s.close()
        dropped += 1
        held.append(open_one())
        opened += 1
    most_held = max(most_held, len(held))
print(f"opened {opened}, dropped by the server {dropped}, held at most {most_held}; answers {answers}", flush=True)
PY
python3 "$TEST_DIR/half_request_lines.py" "$port" 64 12 "$TEST_DIR/slow.ready" >"$TEST_DIR/slow.log" 2>&1 &
slow_clients=$!
track_pid "$slow_clients"
wait_for "64 slow clients to connect" 20 test -e "$TEST_DIR/slow.ready"
probes=0
while process_alive "$slow_clients"; do
  probe=$(curl -s -o /dev/null --max-time 2 -w '%{http_code} %{time_total}' "$url/healthz" || true)
  read -r code took <<<"$probe"
  [[ "$code" == 200 ]] || fail "a /healthz probe with 64 slow clients connected answered '${probe}' instead of 200"
  awk -v took="$took" 'BEGIN { exit !(took < 1.0) }' || fail "a /healthz probe took ${took} s (limit 1 s)"
  probes=$((probes + 1))
  sleep 0.2
done
wait "$slow_clients" || fail "the slow clients failed: $(cat "$TEST_DIR/slow.log")"
note "slow clients: $(cat "$TEST_DIR/slow.log"); $probes /healthz probes, each 200 within 1 s"
((probes >= 10)) || fail "only $probes probes ran during the slow-client attack"
grep -q 'held at most 64;' "$TEST_DIR/slow.log" || fail "the slow clients did not hold 64 connections"
grep -qE "answers \{'408': [0-9]+\}$" "$TEST_DIR/slow.log" ||
  fail "the server did not answer every slow client 408: $(cat "$TEST_DIR/slow.log")"

# ---------------------------------------------------------------------------------------------
# 3. Unharmed.
wait_producer 60
assert_log_holds abuse "$records"
wait_until_applied abuse 60
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "$url/healthz")" "/healthz after the attacks"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" "/readyz after the attacks"
# Read whole before grep: `curl | grep -q` under pipefail fails when grep stops reading early.
metrics=$(curl -s "$url/metrics")
grep -q '^kafka_pg_sink_up 1$' <<<"$metrics" || fail "/metrics after the attacks lacks kafka_pg_sink_up 1"
note "VmRSS after the attacks: $(rss_kib) KiB"
stop_daemon TERM 15 || fail "the daemon exited with status $? after SIGTERM instead of 0"
assert_exactly_once public.abuse expected
pass
