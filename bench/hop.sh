#!/usr/bin/env bash
# Where a proxied call's time goes at a low rate: the kernel's own record
# of one call after another, through nginx and through Portico (a plain
# proxied route and an LLM call passed through), in front of bench/llmmock
# at 1,000 calls/s (HOP_RATE). perf records, on every CPU, the writes and
# reads of the generator (vegeta), the proxy and the mock, and the
# scheduler's wake-ups and switches; the script follows each call through
# them and prints the median and p90 of each step:
#
#   client sends -> proxy has read it    the proxy's wake-up and read
#   read -> proxy sends upstream         the proxy's own work
#   sent upstream -> mock answers        the mock's turn
#   mock answers -> proxy has read it    the proxy's wake-up and read
#   read -> proxy sends the answer       the proxy's own work
#   answer sent -> client has read it    the client's wake-up and read
#
# and, for the proxy's threads, how long a wake-up waited for a CPU, and
# the share of calls whose steps all ran on one CPU. Needs root (for the
# tracepoints) and perf (Debian's linux-perf, installed here if missing).
# Loopback only, bounded in time; everything started here stops on exit.
#
#   bench/hop.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${HOP_RATE:-1000}
KEY=bench-key-0123456789abcdef
BIN=$PWD/bench/.bin
TMP=$(mktemp -d)
mkdir -p "$BIN"
. bench/lib.sh
apt_need perf linux-perf
apt_need nginx nginx-light
vegeta_need
go build -o "$BIN/portico" ./cmd/portico
go build -o "$BIN/llmmock" ./bench/llmmock

trap stop_all EXIT

"$BIN/llmmock" -addr 127.0.0.1:9951 & pids+=($!)
sed -e "s|PIDFILE|$TMP/nginx.pid|" -e 's|127.0.0.1:9901|127.0.0.1:9951|' -e 's|127.0.0.1:9902|127.0.0.1:9955|' \
	bench/nginx.conf >"$TMP/nginx.conf"
# In the foreground, in this script's session, as in bench/run.sh.
nginx -p "$TMP" -c "$TMP/nginx.conf" -g 'daemon off;' & pids+=($!)
cat >"$TMP/portico.yaml" <<YAML
version: 1
llm_providers:
  - {name: mock, type: openai_compatible, base_url: "http://127.0.0.1:9951/v1"}
llm_prices:
  - {provider: mock, model: m, input: 1, output: 2}
llm_models:
  - name: fast
    targets: [{provider: mock, model: m}]
consumers:
  - name: bench
    api_keys: [$KEY]
apis:
  - name: ai
    base_path: /ai
    auth: [api_key]
    llm: {models: [fast]}
  - name: raw
    base_path: /raw
    upstream: mock
    auth: [api_key]
    routes:
      - {name: chat, methods: [POST], path: /v1/chat/completions}
upstreams:
  - name: mock
    targets: [{url: "http://127.0.0.1:9951"}]
YAML
"$BIN/portico" serve --config "$TMP/portico.yaml" --data-dir "$TMP/data" \
	--proxy-addr 127.0.0.1:9952 --admin-addr 127.0.0.1:9953 --portal-addr 127.0.0.1:9954 >"$TMP/portico.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do curl -fs -o /dev/null http://127.0.0.1:9953/readyz && break; sleep 0.1; done
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:9955/ && break; sleep 0.1; done

echo '{"model":"m","messages":[{"role":"user","content":"Hi"}]}' >"$TMP/direct.json"
echo '{"model":"fast","messages":[{"role":"user","content":"Hi"}]}' >"$TMP/llm.json"
trace() { # name proxy-comm url body
	printf 'POST %s\nContent-Type: application/json\nAuthorization: Bearer %s\nX-API-Key: %s\n@%s\n' "$3" "$KEY" "$KEY" "$4" >"$TMP/target"
	"$BIN/vegeta" attack -targets="$TMP/target" -rate="$RATE" -duration=3s -max-workers 64 >/dev/null &
	local load=$!
	sleep 0.7
	perf record -q -a -o "$TMP/$1.data" -e syscalls:sys_enter_write -e syscalls:sys_enter_writev \
		-e syscalls:sys_exit_read -e syscalls:sys_exit_recvfrom -e sched:sched_switch -e sched:sched_wakeup \
		-- sleep 1.5 >/dev/null
	wait "$load"
	perf script -i "$TMP/$1.data" -F comm,tid,cpu,time,event,trace 2>/dev/null >"$TMP/$1.txt"
	python3 - "$TMP/$1.txt" "$1" "$2" <<'PY'
import re, statistics, sys
path, name, proxy = sys.argv[1:]
line = re.compile(r"\s*(\S+)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)")
def role(comm):
    if comm.startswith("vegeta"): return "V"
    if comm.startswith("llmmock"): return "M"
    if comm.startswith(proxy): return "P"
    return None
events, woke, waits = [], {}, []
for l in open(path):
    m = line.match(l)
    if not m:
        continue
    comm, tid, cpu, t, ev, rest = m.groups()
    t = float(t) * 1e6
    if ev == "sched:sched_wakeup":
        w = re.search(r"comm=(\S+) pid=(\d+)", rest)
        if w and w.group(1).startswith(proxy):
            woke[w.group(2)] = t
        continue
    if ev == "sched:sched_switch":
        n = re.search(r"next_pid=(\d+)", rest)
        if n and n.group(1) in woke:
            waits.append(t - woke.pop(n.group(1)))
        continue
    r = role(comm)
    if r is None:
        continue
    if "enter_write" in ev:
        fd = re.search(r"fd: (0x[0-9a-f]+)", rest)
        if fd and int(fd.group(1), 16) <= 2:
            continue  # a log line
        events.append((t, r + "w", cpu))
    elif "exit_read" in ev or "exit_recvfrom" in ev:
        v = rest.strip()
        n = int(v, 16) if v.startswith("0x") else int(v)
        if 0 < n < 1 << 31:
            events.append((t, r + "r", cpu))
events.sort()
steps = ["Vw", "Pr", "Pw", "Mw", "Pr", "Pw", "Vr"]
calls, cur = [], None
for t, k, cpu in events:
    if k == "Vw":
        cur = [(t, cpu)]  # a call sent before the last one ended drops it
    elif cur is not None and k == steps[len(cur)]:
        cur.append((t, cpu))
        if len(cur) == len(steps):
            calls.append(cur)
            cur = None
labels = ["client sends -> proxy has read it", "read -> proxy sends upstream", "sent upstream -> mock answers",
          "mock answers -> proxy has read it", "read -> proxy sends the answer", "answer sent -> client has read it"]
def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * q))] if v else 0
print("%s: %d calls followed" % (name, len(calls)))
if not calls:
    sys.exit(0)
for i, label in enumerate(labels):
    d = [c[i + 1][0] - c[i][0] for c in calls]
    print("  %-36s p50 %6.1f  p90 %6.1f us" % (label, statistics.median(d), pct(d, 0.9)))
own = [(c[2][0] - c[1][0]) + (c[5][0] - c[4][0]) for c in calls]
total = [c[6][0] - c[0][0] for c in calls]
one = sum(1 for c in calls if len({cpu for _, cpu in c}) == 1)
print("  %-36s p50 %6.1f  p90 %6.1f us" % ("the proxy's own work, both steps", statistics.median(own), pct(own, 0.9)))
print("  %-36s p50 %6.1f  p90 %6.1f us" % ("client sends -> client has the answer", statistics.median(total), pct(total, 0.9)))
print("  %-36s p50 %6.1f  p90 %6.1f us (%d wake-ups)" % ("a proxy thread's wake-up -> it runs", pct(waits, 0.5), pct(waits, 0.9), len(waits)))
print("  calls whose every step ran on one CPU: %.0f%%" % (100 * one / len(calls)))
PY
}

echo "bench/hop.sh — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}'), $(uname -r), vegeta at $RATE calls/s"
trace nginx nginx http://127.0.0.1:9955/v1/chat/completions "$TMP/direct.json"
trace route portico http://127.0.0.1:9952/raw/v1/chat/completions "$TMP/direct.json"
trace llm portico http://127.0.0.1:9952/ai/v1/chat/completions "$TMP/llm.json"
