package main

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestMonitorGODEBUG(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    string
		changed bool
	}{
		{"", "schedtrace=2147483647", true},
		{"http2client=0", "http2client=0,schedtrace=2147483647", true},
		// The operator's own schedtrace, Go's default included, stands.
		{"schedtrace=0", "schedtrace=0", false},
		{"gctrace=1,schedtrace=1000,scheddetail=1", "gctrace=1,schedtrace=1000,scheddetail=1", false},
		// Only the key itself counts, not a key that ends like it.
		{"xschedtrace=5", "xschedtrace=5,schedtrace=2147483647", true},
	} {
		got, changed := monitorGODEBUG(tt.in)
		if got != tt.want || changed != tt.changed {
			t.Errorf("monitorGODEBUG(%q) = %q, %v; want %q, %v", tt.in, got, changed, tt.want, tt.changed)
		}
	}
}

// TestServeRuntimeMonitor checks, on the running node, the environment its
// runtime started with: `portico serve` runs again with the monitor's
// setting, unless GODEBUG already sets schedtrace.
func TestServeRuntimeMonitor(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the monitor's setting is applied on Linux only")
	}
	environ := func(n *proc) []string {
		t.Helper()
		b, err := os.ReadFile("/proc/" + strconv.Itoa(n.cmd.Process.Pid) + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	}
	want, _ := monitorGODEBUG(os.Getenv("GODEBUG"))
	if got := environ(startNode(t, nil)); !slices.Contains(got, "GODEBUG="+want) {
		t.Errorf("the node runs without GODEBUG=%s; its environment: %q", want, got)
	}
	got := environ(startNode(t, []string{"GODEBUG=schedtrace=0"}))
	var godebugs []string
	for _, kv := range got {
		if strings.HasPrefix(kv, "GODEBUG=") {
			godebugs = append(godebugs, kv)
		}
	}
	if !slices.Equal(godebugs, []string{"GODEBUG=schedtrace=0"}) {
		t.Errorf("with GODEBUG=schedtrace=0 the node runs with %q", godebugs)
	}
}
