package main

import "strings"

// The Go runtime's monitor thread (sysmon) sleeps for good while every P is
// idle, and the first system call after such a pause wakes it with a futex
// — on the request's own path — after which it polls every 20 µs for a
// while before sleeping for good again. A gateway serving a steady,
// moderate rate pauses between nearly every request, so it pays that cycle
// a request: on a 2-vCPU VM at 1,000 req/s it was half of all the
// process's context switches and a fifth of its CPU. The runtime skips the
// deep sleep only while GODEBUG's schedtrace is set; with the largest value
// (2^31-1 ms, 24.8 days) the monitor then backs off to a 10 ms poll, as it
// does whenever the process is busy, and traces nothing — except one
// scheduler summary line on stderr once the host's uptime reaches 24.8
// days (at start, on a host up longer) and every 24.8 days after. See
// docs/performance.md ("The runtime's monitor thread") and
// golang.org/issue/18236.
const monitorSetting = "schedtrace=2147483647"

// monitorGODEBUG returns the GODEBUG `portico serve` should run with, given
// the one it was started with (empty when none), and whether that
// differs. A GODEBUG that sets schedtrace itself — say
// schedtrace=0, Go's default — is the operator's choice and is kept.
func monitorGODEBUG(godebug string) (string, bool) {
	for f := range strings.SplitSeq(godebug, ",") {
		if strings.HasPrefix(f, "schedtrace=") {
			return godebug, false
		}
	}
	if godebug == "" {
		return monitorSetting, true
	}
	return godebug + "," + monitorSetting, true
}
