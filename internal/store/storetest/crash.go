package storetest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

// crashEnv names the store a re-executed test binary publishes to.
const crashEnv = "PORTICO_STORETEST_CRASH_ADDR"

// CrashChild makes a re-executed test binary act as the crash test's
// publisher. Call it first in TestMain; it returns at once in a normal run.
func CrashChild(open func(ctx context.Context, addr string) (store.Store, error)) {
	addr := os.Getenv(crashEnv)
	if addr == "" {
		return
	}
	s, err := open(context.Background(), addr)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	// Publish as fast as possible and say which revisions committed, until
	// the parent kills the process with SIGKILL.
	for i := 1; ; i++ {
		content := []byte(fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, strings.Repeat("x", i%5000)))
		r, err := s.Publish(context.Background(), store.Publication{Group: "crash", Content: content, Hash: hash(content), Author: "child"},
			store.AuditEntry{Actor: "child", Action: "revision.publish", Group: "crash"})
		if err != nil {
			fmt.Println("publish:", err)
			os.Exit(2)
		}
		fmt.Println("committed", r.Number)
	}
}

// testCrash kills a process with SIGKILL while it publishes, then checks
// that the store holds only whole revisions, each with its audit entry, and
// every revision the process saw committed.
func testCrash(t *testing.T, b Backend) {
	if testing.Short() {
		t.Skip("the crash test re-executes the test binary")
	}
	s, addr := b.open(t)
	if err := s.EnsureGroup(ctx, "crash"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(context.Background(), os.Args[0], "-test.run=^$") //nolint:gosec // re-executes this test binary
	cmd.Env = append(os.Environ(), crashEnv+"="+addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked int64
	lines := bufio.NewScanner(out)
	deadline := time.Now().Add(20 * time.Second)
	for acked < 30 && time.Now().Before(deadline) && lines.Scan() {
		n, ok := strings.CutPrefix(lines.Text(), "committed ")
		if !ok {
			t.Fatalf("child: %s", lines.Text())
		}
		acked, _ = strconv.ParseInt(n, 10, 64)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if acked < 30 {
		t.Fatalf("the child committed only %d revisions before the deadline", acked)
	}

	g, err := s.Group(ctx, "crash")
	if err != nil {
		t.Fatal(err)
	}
	if g.LatestRevision < acked {
		t.Fatalf("the child saw revision %d committed, the store has %d", acked, g.LatestRevision)
	}
	revs, err := s.Revisions(ctx, "crash", 0, 1000)
	if err != nil || int64(len(revs)) != g.LatestRevision {
		t.Fatalf("%d revisions for a counter at %d (%v)", len(revs), g.LatestRevision, err)
	}
	for i, r := range revs {
		if r.Number != g.LatestRevision-int64(i) || r.Hash != hash(r.Content) {
			t.Fatalf("revision %d is missing or torn", g.LatestRevision-int64(i))
		}
	}
	entries, _ := s.Audit(ctx, store.AuditFilter{Group: "crash", Action: "revision.publish", Limit: 1000})
	if int64(len(entries)) != g.LatestRevision {
		t.Fatalf("%d audit entries for %d revisions", len(entries), g.LatestRevision)
	}
	// The store still takes writes.
	if _, err := s.Publish(ctx, store.Publication{Group: "crash", Content: []byte("{}"), Hash: hash([]byte("{}"))}, audit("t", "revision.publish", "crash")); err != nil {
		t.Fatalf("publish after the crash: %v", err)
	}
}
