#!/usr/bin/env bash
# The LLM gateway's benchmark: what Portico adds to a chat completion,
# streamed and not, against a provider that answers at once (bench/llmmock),
# at a fixed rate with vegeta. Each pass runs the same load straight at the
# mock and through Portico, and prints p50/p99 of both and the difference —
# passed through (an OpenAI client, an OpenAI provider) and translated (an
# OpenAI client, an Anthropic provider) — and the same call through a
# plain proxied route, for what any route's hop costs, and through nginx
# as a plain keep-alive proxy (streams unbuffered), for what the best hop
# costs on the same machine at the same rate; for the LLM gateway's passes
# also Portico's own time, from the X-Portico-Overhead-Ms header of every
# answer, so what the gateway's work is of what the hop adds shows; Portico's
# resident memory is read before and after.
#
#   bench/llm.sh                         # 1,000 req/s, 3 rounds of 10 s passes
#                                        # (LLM_RATE, LLM_ROUNDS, LLM_DURATION)
#   LLM_SOAK=600 bench/llm.sh            # the 10-minute memory run: the four
#                                        # kinds of call in turn through Portico
#                                        # at LLM_RATE, RSS read every 30 s
#
# Loopback only, bounded in time; everything started here stops on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${LLM_RATE:-1000}
DURATION=${LLM_DURATION:-10}
ROUNDS=${LLM_ROUNDS:-3}
KEY=bench-key-0123456789abcdef
BIN=$PWD/bench/.bin
TMP=$(mktemp -d)
mkdir -p "$BIN" bench/results
# Installing what is missing, stopping what is started, stolen time per
# pass: bench/lib.sh.
. bench/lib.sh
vegeta_need
apt_need nginx nginx-light
go build -o "$BIN/portico" ./cmd/portico
go build -o "$BIN/llmmock" ./bench/llmmock

trap stop_all EXIT

"$BIN/llmmock" -addr 127.0.0.1:9931 & pids+=($!)
# nginx in front of the mock, configured as in bench/run.sh: what the best
# plain keep-alive hop costs at this rate on this machine; and on 9936 the
# same with proxy_buffering off, as a stream must be relayed (each event
# sent on as it arrives).
sed -e "s|PIDFILE|$TMP/nginx.pid|" -e 's|127.0.0.1:9901|127.0.0.1:9931|' -e 's|127.0.0.1:9902|127.0.0.1:9935|' \
	-e '$ d' bench/nginx.conf >"$TMP/nginx.conf"
cat >>"$TMP/nginx.conf" <<'NGINX'
    server {
        listen 127.0.0.1:9936;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
NGINX
# In the foreground, in this script's session, as in bench/run.sh.
nginx -p "$TMP" -c "$TMP/nginx.conf" -g 'daemon off;' & pids+=($!)
cat >"$TMP/portico.yaml" <<YAML
version: 1
llm_providers:
  - {name: mock, type: openai_compatible, base_url: "http://127.0.0.1:9931/v1"}
  - {name: claude, type: anthropic, base_url: "http://127.0.0.1:9931"}
llm_prices:
  - {provider: mock, model: m, input: 1, output: 2}
  - {provider: claude, model: m, input: 1, output: 2}
llm_models:
  - name: fast
    targets: [{provider: mock, model: m}]
  - name: translated
    targets: [{provider: claude, model: m}]
consumers:
  - name: bench
    api_keys: [$KEY]
apis:
  - name: ai
    base_path: /ai
    auth: [api_key]
    llm: {models: [fast, translated]}
  - name: raw
    base_path: /raw
    upstream: mock
    auth: [api_key]
    routes:
      - {name: chat, methods: [POST], path: /v1/chat/completions}
upstreams:
  - name: mock
    targets: [{url: "http://127.0.0.1:9931"}]
YAML
"$BIN/portico" serve --config "$TMP/portico.yaml" --data-dir "$TMP/data" \
	--proxy-addr 127.0.0.1:9932 --admin-addr 127.0.0.1:9933 --portal-addr 127.0.0.1:9934 >"$TMP/portico.log" 2>&1 & ppid=$!
pids+=("$ppid")
for _ in $(seq 50); do curl -fs -o /dev/null http://127.0.0.1:9933/readyz && break; sleep 0.1; done
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:9935/ && break; sleep 0.1; done

rss() { awk '/VmRSS/ {print $2}' "/proc/$ppid/status"; }
# What the runtime holds, next to the RSS: the Go heap in use and the
# goroutines — a leak shows in them before the RSS, and an RSS that moves
# while they stay flat is the allocator's and the OS's, not Portico's.
heap() {
	curl -fs http://127.0.0.1:9933/metrics | awk '/^go_memstats_heap_inuse_bytes / {h = $2} /^go_goroutines / {g = $2}
		END {printf "Go heap in use %.1f MB, %d goroutines", h / 1e6, g}'
}
pass() { # name url body: one pass, $TMP/name-round.json
	# The key both ways: LLM APIs take the bearer token, plain routes X-API-Key.
	printf 'POST %s\nContent-Type: application/json\nAuthorization: Bearer %s\nX-API-Key: %s\n@%s\n' "$2" "$KEY" "$KEY" "$3" >"$TMP/target"
	local c0
	c0=$(cpu_times)
	"$BIN/vegeta" attack -targets="$TMP/target" -rate="$RATE" -duration="${DURATION}s" -max-workers 64 >"$TMP/results.bin"
	"$BIN/vegeta" report -type=json <"$TMP/results.bin" >"$TMP/$1-$round.json"
	# Portico's own time, as its X-Portico-Overhead-Ms header says (the
	# LLM gateway's answers carry it): what the gateway's work is of what
	# the hop adds, the rest being the hop itself (the kernel, the wake-ups).
	"$BIN/vegeta" encode -to json <"$TMP/results.bin" | python3 -c '
import json, sys
v = sorted(float(h[0]) for h in (json.loads(l).get("headers", {}).get("X-Portico-Overhead-Ms") for l in sys.stdin) if h)
json.dump({"n": len(v), "50th": v[len(v) // 2] if v else 0, "99th": v[len(v) * 99 // 100] if v else 0}, open(sys.argv[1], "w"))' "$TMP/$1-$round.own.json"
	python3 - "$TMP/$1-$round.json" "$1" "$round" "$(stolen_pct "$c0" "$(cpu_times)")" "$TMP/$1-$round.own.json" <<'PY' >&2
import json, sys
r = json.load(open(sys.argv[1]))
own = json.load(open(sys.argv[5]))
line = "round %s  %-24s p50 %.3f ms  p99 %.3f ms  success %.4f  stolen %s%%" % (sys.argv[3], sys.argv[2], r["latencies"]["50th"]/1e6, r["latencies"]["99th"]/1e6, r["success"], sys.argv[4])
if own["n"]:
    line += "  Portico's own p50 %.3f p99 %.3f ms" % (own["50th"], own["99th"])
print(line)
if r["success"] != 1:
    sys.exit("%s: not every call succeeded" % sys.argv[2])
PY
}
echo '{"model":"fast","messages":[{"role":"user","content":"Hi"}]}' >"$TMP/plain.json"
echo '{"model":"m","messages":[{"role":"user","content":"Hi"}]}' >"$TMP/plain-direct.json"
echo '{"model":"fast","stream":true,"messages":[{"role":"user","content":"Hi"}]}' >"$TMP/stream.json"
echo '{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}' >"$TMP/stream-direct.json"
echo '{"model":"translated","messages":[{"role":"user","content":"Hi"}]}' >"$TMP/tplain.json"
echo '{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":"Hi"}]}' >"$TMP/tplain-direct.json"
echo '{"model":"translated","stream":true,"messages":[{"role":"user","content":"Hi"}]}' >"$TMP/tstream.json"
echo '{"model":"m","max_tokens":4096,"stream":true,"messages":[{"role":"user","content":"Hi"}]}' >"$TMP/tstream-direct.json"

if [ -n "${LLM_SOAK:-}" ]; then
	: >"$TMP/targets"
	for f in plain stream tplain tstream; do
		printf 'POST http://127.0.0.1:9932/ai/v1/chat/completions\nContent-Type: application/json\nAuthorization: Bearer %s\n@%s\n\n' "$KEY" "$TMP/$f.json" >>"$TMP/targets"
	done
	{
		echo "Portico LLM gateway soak — $(date -u +%Y-%m-%dT%H:%MZ), ${LLM_SOAK}s at $RATE req/s (plain, stream, translated, translated stream in turn)"
		echo "machine: $(nproc) cores, $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}'), $(go version | cut -d' ' -f3)"
		echo "RSS at start: $(rss) kB; $(heap)"
		( for i in $(seq 30 30 "$LLM_SOAK"); do sleep 30; echo "RSS at ${i}s: $(rss) kB; $(heap)"; done ) &
		sampler=$!
		"$BIN/vegeta" attack -targets="$TMP/targets" -rate="$RATE" -duration="${LLM_SOAK}s" -max-workers 64 \
			| "$BIN/vegeta" report -type=json >"$TMP/soak.json"
		wait "$sampler" 2>/dev/null || true
		python3 - "$TMP/soak.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("requests %d, success %.4f, p50 %.3f ms, p99 %.3f ms" % (r["requests"], r["success"], r["latencies"]["50th"]/1e6, r["latencies"]["99th"]/1e6))
PY
		echo "RSS at end: $(rss) kB; $(heap)"
	} | tee bench/results/llm-soak-latest.txt
	exit 0
fi

before=$(rss)
{
	echo "Portico LLM gateway benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "machine: $(nproc) cores, $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}'), $(go version | cut -d' ' -f3)"
	echo "vegeta at $RATE req/s, ${DURATION}s per pass, the passes in turn, median of $ROUNDS rounds"
	for round in $(seq "$ROUNDS"); do
		pass direct http://127.0.0.1:9931/v1/chat/completions "$TMP/plain-direct.json"
		pass portico http://127.0.0.1:9932/ai/v1/chat/completions "$TMP/plain.json"
		# The same call through a plain proxied route: what any route's hop costs.
		pass proxy http://127.0.0.1:9932/raw/v1/chat/completions "$TMP/plain-direct.json"
		pass nginx http://127.0.0.1:9935/v1/chat/completions "$TMP/plain-direct.json"
		pass direct-stream http://127.0.0.1:9931/v1/chat/completions "$TMP/stream-direct.json"
		pass portico-stream http://127.0.0.1:9932/ai/v1/chat/completions "$TMP/stream.json"
		pass nginx-stream http://127.0.0.1:9936/v1/chat/completions "$TMP/stream-direct.json"
		if [ -z "${LLM_PASSTHROUGH_ONLY:-}" ]; then
			pass direct-anthropic http://127.0.0.1:9931/v1/messages "$TMP/tplain-direct.json"
			pass translated http://127.0.0.1:9932/ai/v1/chat/completions "$TMP/tplain.json"
			pass direct-anthropic-stream http://127.0.0.1:9931/v1/messages "$TMP/tstream-direct.json"
			pass translated-stream http://127.0.0.1:9932/ai/v1/chat/completions "$TMP/tstream.json"
		fi
	done
	python3 - "$TMP" "$ROUNDS" <<'PY'
import json, os, statistics, sys
d, rounds = sys.argv[1], int(sys.argv[2])
def lat(n):
    rs = [json.load(open(f"{d}/{n}-{i}.json"))["latencies"] for i in range(1, rounds + 1)]
    return statistics.median(r["50th"] for r in rs) / 1e6, statistics.median(r["99th"] for r in rs) / 1e6
names = ["direct", "portico", "proxy", "nginx", "direct-stream", "portico-stream", "nginx-stream",
         "direct-anthropic", "translated", "direct-anthropic-stream", "translated-stream"]
for n in names:
    if os.path.exists(f"{d}/{n}-1.json"):
        print("%-24s p50 %.3f ms  p99 %.3f ms" % ((n,) + lat(n)))
for a, b in (("direct", "nginx"), ("direct", "proxy"), ("direct", "portico"), ("direct-stream", "nginx-stream"), ("direct-stream", "portico-stream"), ("direct-anthropic", "translated"), ("direct-anthropic-stream", "translated-stream")):
    if not os.path.exists(f"{d}/{b}-1.json"):
        continue
    (p50a, p99a), (p50b, p99b) = lat(a), lat(b)
    who = "nginx" if b.startswith("nginx") else "Portico"
    # Each round's own difference too: the spread says how far one run's
    # figure can be trusted.
    rounds50 = ", ".join("%.3f" % ((json.load(open(f"{d}/{b}-{i}.json"))["latencies"]["50th"] -
                                    json.load(open(f"{d}/{a}-{i}.json"))["latencies"]["50th"]) / 1e6) for i in range(1, rounds + 1))
    print("%-17s %s adds p50 %.3f ms, p99 %.3f ms (p50 by round: %s)" % (b, who, p50b - p50a, p99b - p99a, rounds50))
for n in names:
    own = [json.load(open(f"{d}/{n}-{i}.own.json")) for i in range(1, rounds + 1) if os.path.exists(f"{d}/{n}-{i}.own.json")]
    if own and all(o["n"] for o in own):
        print("%-17s Portico's own time (X-Portico-Overhead-Ms) p50 %.3f ms, p99 %.3f ms" % (n, statistics.median(o["50th"] for o in own), statistics.median(o["99th"] for o in own)))
PY
	echo "portico RSS: $before kB before, $(rss) kB after"
} | tee bench/results/llm-latest.txt
