package main

import (
	"os"
	"syscall"
)

// keepMonitorAwake starts the process again, in place (same PID, same open
// files, same arguments), with the GODEBUG monitorGODEBUG gives — the
// runtime reads it only as it starts. It returns when there is nothing to
// change or the executable cannot be found or run again; then the node
// runs on Go's defaults.
func keepMonitorAwake() {
	cur, set := os.LookupEnv("GODEBUG")
	godebug, changed := monitorGODEBUG(cur, set)
	if !changed {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if len(kv) < 8 || kv[:8] != "GODEBUG=" {
			env = append(env, kv)
		}
	}
	_ = syscall.Exec(exe, os.Args, append(env, "GODEBUG="+godebug)) //nolint:gosec // this very executable, with its own arguments
}
