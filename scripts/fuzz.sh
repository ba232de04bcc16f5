#!/usr/bin/env bash
# Runs every fuzz target in the module for $FUZZTIME (default 10s) each.
# New crashers are written to the package's testdata/fuzz/ by go test, and
# from then on run as regression tests with the rest of the suite.
#
# Go 1.26's fuzz coordinator can report a bare "context deadline exceeded"
# when -fuzztime ends while a worker is mid-input on a loaded machine
# (go.dev/issue/75804, fixed in Go 1.27). A real finding always prints
# "Failing input written to"; a run that fails with only the deadline
# message is retried once, and tolerated with a warning if it happens again.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run PKG TARGET: 0 passed, 1 found something, 2 deadline flake only.
run() {
	if go test -run='^$' -fuzz="^$2\$" -fuzztime="$FUZZTIME" "$1" 2>&1 | tee "$log"; then
		return 0
	fi
	if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written to' "$log" &&
		! grep -qE '^\s+(panic:|.*_test\.go:[0-9]+:)' "$log"; then
		return 2
	fi
	return 1
}

grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
	pkg=./$(dirname "${file#./}")
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
		echo "fuzz $pkg $target for $FUZZTIME"
		status=0
		run "$pkg" "$target" || status=$?
		if [ "$status" = 2 ]; then
			echo "fuzz: $target stopped with Go's fuzztime deadline race (go.dev/issue/75804), nothing found; once more" >&2
			status=0
			run "$pkg" "$target" || status=$?
			if [ "$status" = 2 ]; then
				echo "fuzz: warning: $target hit the deadline race twice; no failing input was found" >&2
				status=0
			fi
		fi
		[ "$status" = 0 ] || exit 1
	done
done
