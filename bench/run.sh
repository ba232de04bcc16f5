#!/usr/bin/env bash
# The benchmark harness: one command that builds Portico, starts a small
# upstream, nginx as a plain keep-alive reverse proxy, a bare net/http
# reverse proxy (for reference), and Portico with API key auth and the
# access log on, then drives each with wrk on loopback and prints
# requests/s, p50 and p99, the machine's CPU time per request, the share
# of it the VM's host stole, and the ratios. A second pass measures
# latency at half of Portico's peak rate with h2load (nghttp2's load
# generator, in C, at a fixed rate), the targets taking turns in 2-second
# slices.
#
#   bench/run.sh                      # 3 rounds of 10 s per target
#   BENCH_ROUNDS=5 BENCH_DURATION=15 bench/run.sh
#
# Everything listens on 127.0.0.1 only, every load is bounded in time, and
# every process started here is stopped on exit. Results also go to
# bench/results/latest.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-50}
KEY=bench-key-0123456789abcdef
BIN=$PWD/bench/.bin
TMP=$(mktemp -d)
mkdir -p "$BIN" bench/results
# Installing what is missing, stopping what is started, stolen time and
# CPU per request: bench/lib.sh.
. bench/lib.sh
apt_need wrk wrk
apt_need nginx nginx-light
apt_need h2load nghttp2-client
apt_need redis-server redis-server

echo "building..." >&2
go build -o "$BIN/portico" ./cmd/portico
go build -o "$BIN/upstream" ./bench/upstream
go build -o "$BIN/stdproxy" ./bench/stdproxy
go build -o "$BIN/jwtgen" ./bench/jwtgen

trap stop_all EXIT

"$BIN/upstream" -addr 127.0.0.1:9901 & pids+=($!)
sed "s|PIDFILE|$TMP/nginx.pid|" bench/nginx.conf >"$TMP/nginx.conf"
# nginx in the foreground, in this script's session as every other process
# here: daemonized, it would be a session of its own, and with the kernel's
# autogroups (kernel.sched_autogroup_enabled) a scheduling group of its own
# — capped at its group's share of the CPU under saturation, first to run
# when it wakes at a low rate. docs/performance.md has what that changed.
nginx -p "$TMP" -c "$TMP/nginx.conf" -g 'daemon off;' & pids+=($!)
"$BIN/stdproxy" -addr 127.0.0.1:9903 -target http://127.0.0.1:9901 2>/dev/null & pids+=($!)
# gen N: bench/portico.yaml with N-1 more routes, ten per extra API, so
# that the benchmarked route is one of N.
gen() {
	awk -v n="$1" '
		/^consumers:/ && !done {
			for (i = 1; i < n; i++) {
				if (i % 10 == 1) printf "  - name: api%d\n    base_path: /api%d\n    upstream: orders\n    auth: [api_key]\n    routes:\n", i, i
				printf "      - name: r%d\n        methods: [GET]\n        path: /res%d/{id}\n", i, i
			}
			done = 1
		}
		{ print }' bench/portico.yaml
}
gen 10 >"$TMP/portico-10.yaml"
gen 10000 >"$TMP/portico-10k.yaml"
# The same 10 routes with usage records off: what metering costs.
{ cat "$TMP/portico-10.yaml"; printf 'analytics:\n  record: false\n'; } >"$TMP/portico-nousage.yaml"
"$BIN/portico" validate "$TMP/portico-10k.yaml" >/dev/null
"$BIN/portico" serve --config "$TMP/portico-10.yaml" --data-dir "$TMP/data" \
	--proxy-addr 127.0.0.1:9904 --admin-addr 127.0.0.1:9905 --portal-addr 127.0.0.1:9916 >"$TMP/portico.log" 2>&1 & pids+=($!)
"$BIN/portico" serve --config "$TMP/portico-10k.yaml" --data-dir "$TMP/data10k" \
	--proxy-addr 127.0.0.1:9906 --admin-addr 127.0.0.1:9907 --portal-addr 127.0.0.1:9917 >/dev/null 2>&1 & pids+=($!)
"$BIN/portico" serve --config "$TMP/portico-nousage.yaml" --data-dir "$TMP/datanousage" \
	--proxy-addr 127.0.0.1:9913 --admin-addr 127.0.0.1:9914 --portal-addr 127.0.0.1:9918 >/dev/null 2>&1 & pids+=($!)
# The jwt route: an RS256 token checked against a key set on disk, a rate
# limit per consumer (high enough never to refuse), and the access log.
TOKEN=$("$BIN/jwtgen" -jwks "$TMP/jwks.json")
sed "s|JWKS_FILE|$TMP/jwks.json|" bench/portico-jwt.yaml >"$TMP/portico-jwt.yaml"
"$BIN/portico" serve --config "$TMP/portico-jwt.yaml" --data-dir "$TMP/datajwt" \
	--proxy-addr 127.0.0.1:9908 --admin-addr 127.0.0.1:9909 --portal-addr 127.0.0.1:9919 >"$TMP/portico-jwt.log" 2>&1 & pids+=($!)
# The same route with its rate limit kept in a Redis of its own: one
# round trip per request.
redis-server --port 9910 --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP" >/dev/null & pids+=($!)
"$BIN/portico" serve --config "$TMP/portico-jwt.yaml" --data-dir "$TMP/dataredis" --redis redis://127.0.0.1:9910/0 \
	--proxy-addr 127.0.0.1:9911 --admin-addr 127.0.0.1:9912 --portal-addr 127.0.0.1:9920 >"$TMP/portico-redis.log" 2>&1 & pids+=($!)

declare -A URL=(
	[direct]=http://127.0.0.1:9901/7
	[nginx]=http://127.0.0.1:9902/7
	[net/http]=http://127.0.0.1:9903/7
	[portico]=http://127.0.0.1:9904/orders/7
	[portico-10k]=http://127.0.0.1:9906/orders/7
	[no-usage]=http://127.0.0.1:9913/orders/7
	[portico-jwt]=http://127.0.0.1:9908/orders/7
	[portico-redis]=http://127.0.0.1:9911/orders/7
)
# Portico's two variants on either side of it: on these VMs a target's
# req/s drifts by 10-20% over a round, so a comparison is fairest between
# neighbours in time.
TARGETS=(direct nginx net/http no-usage portico portico-10k portico-jwt portico-redis)
# auth_for TARGET prints the credential header a target needs.
auth_for() { case "$1" in portico-jwt | portico-redis) echo "Authorization: Bearer $TOKEN" ;; *) echo "X-API-Key: $KEY" ;; esac; }

for t in "${TARGETS[@]}"; do
	for _ in $(seq 50); do
		curl -fs -o /dev/null -H "$(auth_for "$t")" "${URL[$t]}" && break
		sleep 0.1
	done
	curl -fs -o /dev/null -H "$(auth_for "$t")" "${URL[$t]}" || { echo "$t is not answering" >&2; cat "$TMP/portico.log" "$TMP/portico-jwt.log" "$TMP/portico-redis.log" >&2; exit 1; }
done

# to_ms converts wrk's "1.23ms" / "456.00us" / "1.02s" to milliseconds.
to_ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else if (v ~ /s$/) printf "%.3f", v*1000 }'; }
median() { sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }


declare -A RPS P50 P99 STEAL CPU
for round in $(seq "$ROUNDS"); do
	for t in "${TARGETS[@]}"; do
		c0=$(cpu_times)
		out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H "$(auth_for "$t")" "${URL[$t]}")
		c1=$(cpu_times)
		st=$(stolen_pct "$c0" "$c1")
		cpu=$(cpu_per_req "$c0" "$c1" "$(awk '/requests in/ {print $1}' <<<"$out")")
		rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
		p50=$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
		p99=$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
		if grep -q "Non-2xx" <<<"$out"; then echo "$t answered errors:" >&2; echo "$out" >&2; exit 1; fi
		echo "round $round  $t: $rps req/s  p50 ${p50} ms  p99 ${p99} ms  stolen ${st}%  machine CPU/request ${cpu} µs" >&2
		RPS[$t]+="$rps "; P50[$t]+="$p50 "; P99[$t]+="$p99 "; STEAL[$t]+="$st "; CPU[$t]+="$cpu "
	done
done

med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | median; }
# by_round LABEL NUMS DENS prints the median and range of the ratios of
# two lists' values taken pairwise, round by round.
by_round() {
	paste <(tr ' ' '\n' <<<"$2" | grep -v '^$') <(tr ' ' '\n' <<<"$3" | grep -v '^$') |
		awk '$2 > 0 {print $1 / $2}' | sort -g |
		awk -v t="$1" '{r[NR] = $1} END {n = NR; m = (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
			printf "%s: median %.2f, range %.2f-%.2f\n", t, m, r[1], r[n]}'
}
{
	echo "Portico benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}')"
	echo "$(go version | cut -d' ' -f3), $(nginx -v 2>&1 | cut -d' ' -f3), wrk -t1 -c$CONNS -d${DURATION}s, median of $ROUNDS rounds"
	echo
	printf "%-14s %12s %10s %10s %10s %12s\n" target "req/s" "p50 ms" "p99 ms" "stolen %" "CPU/req µs"
	for t in "${TARGETS[@]}"; do
		printf "%-14s %12.0f %10s %10s %10.0f %12s\n" "$t" "$(med "${RPS[$t]}")" "$(med "${P50[$t]}")" "$(med "${P99[$t]}")" "$(med "${STEAL[$t]}")" "$(med "${CPU[$t]}")"
	done
	echo
	d=$(med "${RPS[direct]}"); n=$(med "${RPS[nginx]}"); s=$(med "${RPS[net/http]}"); p=$(med "${RPS[portico]}"); k=$(med "${RPS[portico-10k]}"); u=$(med "${RPS[no-usage]}"); j=$(med "${RPS[portico-jwt]}"); r=$(med "${RPS[portico-redis]}")
	awk -v d="$d" -v n="$n" -v s="$s" -v p="$p" -v k="$k" -v u="$u" -v j="$j" -v r="$r" 'BEGIN {
		printf "portico/nginx        %.2f\nportico/direct       %.2f\nnginx/direct         %.2f\nnet/http/nginx       %.2f\n10k routes/10 routes %.2f\njwt+limit/nginx      %.2f\njwt+redis limit/nginx %.2f\nusage on/usage off   %.2f\n", p/n, p/d, n/d, s/n, k/p, j/n, r/n, p/u }'
	# The same ratios round by round (each round runs every target in
	# turn, so a neighbour's burst on this VM weighs on one round's pair,
	# not on one target's median): their median and range. By req/s, and
	# by machine CPU per request (nginx's over the target's: the
	# throughput ratio without the stolen time).
	for t in portico portico-jwt; do
		by_round "$t/nginx by round" "${RPS[$t]}" "${RPS[nginx]}"
		by_round "$t/nginx by CPU per request" "${CPU[nginx]}" "${CPU[$t]}"
	done
	by_round "10k routes/10 routes by round" "${RPS[portico-10k]}" "${RPS[portico]}"
	by_round "usage on/usage off by round" "${RPS[portico]}" "${RPS[no-usage]}"
} | tee "$TMP/summary.txt"

# Latency at half of Portico's peak rate, Portico against the upstream
# alone: what the gateway adds when it is not saturated. A neighbour's
# burst on a shared VM lasts seconds and moves a 10-second pass's p99 by
# several milliseconds, so the targets take turns in 2-second slices,
# ROUNDS*DURATION seconds each in all, and each target's percentiles come
# from all of its slices together: every target sees the same weather.
#
# The generator is h2load: FIXED_CLIENTS keep-alive connections, each
# sending rate/FIXED_CLIENTS requests a second on its own timer. The
# connections open one a millisecond, so their timers tick out of phase
# and the requests arrive spread evenly, not in bursts. A Go generator
# (vegeta) needed most of a core at this rate on these 2-core machines and
# its own wait set the p99 of every target (docs/performance.md). h2load
# times a request from when it is sent: a connection whose previous answer
# is late sends the next one late, so a stall longer than a connection's
# interval (FIXED_CLIENTS/rate s, 5.5 ms at 18,000 req/s) is only partly
# seen — the same for every target.
FIXED_CLIENTS=${BENCH_FIXED_CLIENTS:-100}
peak=$(med "${RPS[portico]}")
per=$(awk -v p="$peak" -v c="$FIXED_CLIENTS" 'BEGIN {printf "%d", p/2/c}')
[ "$per" -ge 1 ] || per=1
rate=$((per * FIXED_CLIENTS))
slices=$((ROUNDS * DURATION / 2))
[ "$slices" -ge 1 ] || slices=1
echo >&2
echo "fixed-rate pass: ${rate} req/s, ${slices} slices of 2 s per target in turn (h2load)..." >&2
URL[nginx]=http://127.0.0.1:9902/7
declare -A VSTEAL VBUSY
# The runtime's own view of Portico's wait for a core during the pass:
# goroutine wake-ups sampled into go_sched_latencies_seconds, and how
# many of them waited longer than 0.92 ms (a bucket boundary).
sched_waits() {
	curl -fs http://127.0.0.1:9905/metrics | awk '/^go_sched_latencies_seconds_bucket\{le="0.0009175/ {b = $2} /^go_sched_latencies_seconds_count/ {n = $2} END {print n + 0, n - b}'
}
read -r sched_n0 sched_slow0 < <(sched_waits)
for slice in $(seq "$slices"); do
	for t in direct nginx portico; do
		c0=$(cpu_times)
		h2load --h1 -t1 -c"$FIXED_CLIENTS" -r1 --rate-period=1ms --rps="$per" -n $((rate * 2)) -H "X-API-Key: $KEY" \
			--log-file="$TMP/h2load-$t-$slice.log" "${URL[$t]}" >"$TMP/h2load-$t-$slice.out" 2>&1 ||
			{ echo "h2load failed against $t:" >&2; cat "$TMP/h2load-$t-$slice.out" >&2; exit 1; }
		c1=$(cpu_times)
		VSTEAL[$t]+="$(stolen_pct "$c0" "$c1") "
		VBUSY[$t]+="$(busy_pct "$c0" "$c1") "
	done
done
read -r sched_n1 sched_slow1 < <(sched_waits)
declare -A VP50 VP99
for t in direct nginx portico; do
	# The log's columns: start (µs since the epoch), status (-1: failed),
	# µs until the end of the answer.
	cat "$TMP"/h2load-"$t"-*.log >"$TMP/h2load-$t.log"
	read -r n bad < <(awk -F'\t' 'NF >= 3 {if ($2 == 200) n++; else bad++} END {print n + 0, bad + 0}' "$TMP/h2load-$t.log")
	[ "$bad" -eq 0 ] && [ "$n" -eq $((rate * 2 * slices)) ] ||
		{ echo "$t: $bad failed and $n answered of $((rate * 2 * slices)) at the fixed rate" >&2; exit 1; }
	read -r p50 p99 < <(awk -F'\t' 'NF >= 3 {print $3}' "$TMP/h2load-$t.log" | sort -n |
		awk '{v[NR] = $1} END {printf "%.3f %.3f\n", v[int(NR * 0.50) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000}')
	VP50[$t]=$p50; VP99[$t]=$p99
done
{
	echo
	echo "at ${rate} req/s (half of Portico's peak), h2load -c$FIXED_CLIENTS, ${slices} slices of 2 s per target in turn:"
	printf "%-10s %10s %10s %10s %10s\n" target "p50 ms" "p99 ms" "stolen %" "busy %"
	for t in direct nginx portico; do printf "%-10s %10s %10s %10.0f %10.0f\n" "$t" "${VP50[$t]}" "${VP99[$t]}" "$(med "${VSTEAL[$t]}")" "$(med "${VBUSY[$t]}")"; done
	awk -v a="${VP99[portico]}" -v n="${VP99[nginx]}" -v b="${VP99[direct]}" \
		'BEGIN {printf "portico adds %.3f ms at p99, nginx adds %.3f ms\n", a-b, n-b}'
	awk -v n=$((sched_n1 - sched_n0)) -v s=$((sched_slow1 - sched_slow0)) \
		'BEGIN {printf "portico goroutine wake-ups (runtime sample) waiting over 0.92 ms for a thread: %.2f%% of %d\n", (n > 0 ? 100 * s / n : 0), n}'
	echo
	echo "access log lines written by portico: $(grep -c '"request_id"' "$TMP/portico.log")"
	m=$(curl -fs http://127.0.0.1:9905/metrics)
	echo "usage records written by portico: $(awk '/^portico_usage_records_total\{outcome="written"\}/ {printf "%d", $2}' <<<"$m"), dropped: $(awk '/^portico_usage_records_total\{outcome="dropped"\}/ {d=$2} END {printf "%d", d}' <<<"$m")"
} | tee -a "$TMP/summary.txt"
cp "$TMP/summary.txt" bench/results/latest.txt
