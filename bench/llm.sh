#!/usr/bin/env bash
# The LLM gateway's benchmark: what Portico adds to a chat completion,
# streamed and not, against a provider that answers at once (bench/llmmock),
# at a fixed rate with vegeta. Each pass runs the same load straight at the
# mock and through Portico, and prints p50/p99 of both and the difference;
# Portico's resident memory is read before and after.
#
#   bench/llm.sh                         # 1,000 req/s, 20 s per pass
#   LLM_RATE=1000 LLM_DURATION=600 bench/llm.sh   # the 10-minute memory run
#
# Loopback only, bounded in time; everything started here stops on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${LLM_RATE:-1000}
DURATION=${LLM_DURATION:-20}
KEY=bench-key-0123456789abcdef
BIN=$PWD/bench/.bin
TMP=$(mktemp -d)
mkdir -p "$BIN" bench/results
if [ ! -x "$BIN/vegeta" ]; then
	echo "installing vegeta from the Go module proxy..." >&2
	GOBIN=$BIN go install github.com/tsenart/vegeta/v12@v12.13.0
fi
go build -o "$BIN/portico" ./cmd/portico
go build -o "$BIN/llmmock" ./bench/llmmock

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

"$BIN/llmmock" -addr 127.0.0.1:9931 & pids+=($!)
cat >"$TMP/portico.yaml" <<YAML
version: 1
llm_providers:
  - {name: mock, type: openai_compatible, base_url: "http://127.0.0.1:9931/v1"}
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
YAML
"$BIN/portico" serve --config "$TMP/portico.yaml" --data-dir "$TMP/data" \
	--proxy-addr 127.0.0.1:9932 --admin-addr 127.0.0.1:9933 --portal-addr 127.0.0.1:9934 >"$TMP/portico.log" 2>&1 & ppid=$!
pids+=($ppid)
for _ in $(seq 50); do curl -fs -o /dev/null http://127.0.0.1:9933/readyz && break; sleep 0.1; done

rss() { awk '/VmRSS/ {print $2}' "/proc/$ppid/status"; }
pass() { # name url body
	printf 'POST %s\nContent-Type: application/json\nAuthorization: Bearer %s\n@%s\n' "$2" "$KEY" "$3" >"$TMP/target"
	"$BIN/vegeta" attack -targets="$TMP/target" -rate="$RATE" -duration="${DURATION}s" -max-workers 64 \
		| "$BIN/vegeta" report -type=json >"$TMP/$1.json"
	python3 - "$TMP/$1.json" "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("%-22s p50 %.3f ms  p99 %.3f ms  success %.4f" % (sys.argv[2], r["latencies"]["50th"]/1e6, r["latencies"]["99th"]/1e6, r["success"]))
PY
}
echo '{"model":"fast","messages":[{"role":"user","content":"Hi"}]}' >"$TMP/plain.json"
echo '{"model":"m","messages":[{"role":"user","content":"Hi"}]}' >"$TMP/plain-direct.json"
echo '{"model":"fast","stream":true,"messages":[{"role":"user","content":"Hi"}]}' >"$TMP/stream.json"
echo '{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}' >"$TMP/stream-direct.json"

before=$(rss)
{
	echo "Portico LLM gateway benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "machine: $(nproc) cores, $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}'), $(go version | cut -d' ' -f3)"
	echo "vegeta at $RATE req/s for ${DURATION}s per pass"
	pass direct http://127.0.0.1:9931/v1/chat/completions "$TMP/plain-direct.json"
	pass portico http://127.0.0.1:9932/ai/v1/chat/completions "$TMP/plain.json"
	pass direct-stream http://127.0.0.1:9931/v1/chat/completions "$TMP/stream-direct.json"
	pass portico-stream http://127.0.0.1:9932/ai/v1/chat/completions "$TMP/stream.json"
	python3 - "$TMP" <<'PY'
import json, sys
d = sys.argv[1]
def lat(n): r = json.load(open(f"{d}/{n}.json"))["latencies"]; return r["50th"]/1e6, r["99th"]/1e6
for a, b in (("direct", "portico"), ("direct-stream", "portico-stream")):
    (p50a, p99a), (p50b, p99b) = lat(a), lat(b)
    print("%-15s Portico adds p50 %.3f ms, p99 %.3f ms" % (b, p50b - p50a, p99b - p99a))
PY
	echo "portico RSS: $before kB before, $(rss) kB after"
} | tee bench/results/llm-latest.txt
