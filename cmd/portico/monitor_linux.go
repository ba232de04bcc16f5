package main

import (
	"os"
	"slices"
	"strings"
	"syscall"
)

// keepMonitorAwake starts the process again, in place (same PID, same open
// files, same arguments), with the GODEBUG monitorGODEBUG gives — the
// runtime reads it only as it starts. It returns when there is nothing to
// change or the executable cannot be found or run again; then the node
// runs on Go's defaults.
func keepMonitorAwake() {
	godebug, changed := monitorGODEBUG(os.Getenv("GODEBUG"))
	if !changed {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") })
	_ = syscall.Exec(exe, os.Args, append(env, "GODEBUG="+godebug)) //nolint:gosec // this very executable, with its own arguments
}
