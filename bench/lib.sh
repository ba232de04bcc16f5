# shellcheck shell=bash
# Shared by the bench scripts (sourced, before they start anything): what
# they install when missing, how what they start is stopped, and readings
# of the VM's CPU time.
#
# cpu_times prints the steal, total and busy jiffies of all CPUs (busy:
# user, nice, system, irq and softirq); stolen_pct turns two readings into
# the share of the VM's CPU time the host gave to someone else. On a
# shared VM that share moves req/s and latency more than any target does,
# so every pass reports it. busy_pct turns them into the share the VM
# spent busy, every process together: the higher it is, the more often a
# thread that became ready waits for a core, which is what sets a p99
# below saturation. cpu_per_req turns two readings and a request
# count into the machine's CPU time per request, in µs: generator,
# upstream, proxy and kernel together. At saturation req/s is the CPU the
# VM got divided by that cost, so the ratio of two targets' costs is their
# throughput ratio with the stolen time taken out.
cpu_times() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print $9, t, $2 + $3 + $4 + $7 + $8}' /proc/stat; }
stolen_pct() { awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " "); d = y[2] - x[2]; printf "%.0f", (d > 0 ? 100 * (y[1] - x[1]) / d : 0)}'; }
busy_pct() { awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " "); d = y[2] - x[2]; printf "%.0f", (d > 0 ? 100 * (y[3] - x[3]) / d : 0)}'; }
cpu_per_req() { awk -v a="$1" -v b="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.1f", (n > 0 ? (y[3] - x[3]) * 1e6 / hz / n : 0)}'; }

# apt_need COMMAND PACKAGE installs PACKAGE from Debian's packages unless
# COMMAND is on the PATH.
apt_need() {
	command -v "$1" >/dev/null 2>&1 && return
	echo "installing $2 from Debian's packages..." >&2
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

# vegeta_need installs vegeta into $BIN from the Go module proxy unless it
# is there.
vegeta_need() {
	[ -x "$BIN/vegeta" ] && return
	echo "installing vegeta from the Go module proxy..." >&2
	GOBIN=$BIN go install github.com/tsenart/vegeta/v12@v12.13.0
}

# A script adds the pid of every process it starts to pids and calls
# stop_all on exit (trap stop_all EXIT): they are stopped, and $TMP goes.
pids=()
stop_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
