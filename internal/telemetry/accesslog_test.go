package telemetry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendEntryIsJSON(t *testing.T) {
	t.Parallel()
	e := &Entry{
		Time: time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC), RequestID: "id-1",
		ClientIP: netip.MustParseAddr("203.0.113.7"), Method: "GET", Host: "api.example.com",
		Path: "/a/b", RawPath: "/a/./b", Status: 200, Duration: 1500 * time.Microsecond, BytesOut: 42,
		API: "orders", Route: "get", Consumer: "acme", Upstream: "up",
	}
	var m map[string]any
	line := AppendEntry(nil, e)
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	want := map[string]any{"time": "2026-11-27T10:00:00.123456789Z", "request_id": "id-1", "client_ip": "203.0.113.7",
		"method": "GET", "path": "/a/b", "raw_path": "/a/./b", "status": 200.0, "duration_ms": 1.5, "bytes_out": 42.0,
		"api": "orders", "route": "get", "consumer": "acme", "upstream": "up"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"uote\\", "\x00\x1f\x7f", "caf\xc3\xa9", "\xff\xfe", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendString(%q) = %s, not a JSON string: %v", s, b, err)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("round trip of %q gave %q", s, got)
		}
	})
}

func TestRouteMetricsAreLockFreeAfterFirstUse(t *testing.T) {
	m := NewMetrics()
	r := m.Route("api", "route")
	r.Observe(200, time.Millisecond)
	if n := testing.AllocsPerRun(100, func() { r.Observe(200, time.Millisecond) }); n != 0 {
		t.Fatalf("Observe allocates %v times per call, want 0", n)
	}
}

// recorder is an output that keeps every write apart; with a release
// channel, it takes nothing until that is closed.
type recorder struct {
	release chan struct{}
	mu      sync.Mutex
	writes  [][]byte
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.release != nil {
		<-r.release
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, append([]byte(nil), p...))
	return len(p), nil
}

// TestStalledOutputDropsLines: while the output takes nothing, logging
// never blocks; past the bound, lines are dropped and counted, and what
// waited is written once the output takes again.
func TestStalledOutputDropsLines(t *testing.T) {
	t.Parallel()
	out := &recorder{release: make(chan struct{})}
	l := NewAccessLog(out, time.Millisecond)
	e := &Entry{Time: time.Now(), RequestID: strings.Repeat("r", 200), Method: "GET", Path: "/a", Status: 200}
	line := len(AppendEntry(nil, e))
	total := 3 * logMaxPending / line
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range total {
			l.Log(e)
		}
		l.Write([]byte(`{"level":"INFO","msg":"a node line"}` + "\n"))
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Log blocked on an output that takes nothing")
	}
	dropped := int(l.Dropped())
	// At most one buffer is with the stalled Write, at most logMaxPending
	// waits: the rest was dropped.
	if kept := total - dropped; dropped == 0 || kept*line > 2*logMaxPending+2*logWriteAt {
		t.Fatalf("%d of %d lines dropped (%d bytes kept)", dropped, total, kept*line)
	}
	close(out.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var got int
	for _, w := range out.writes {
		got += bytes.Count(w, []byte("\n"))
	}
	// Every line not dropped was written, the node's line included.
	if want := total - dropped + 1; got != want {
		t.Fatalf("%d lines written, want %d (%d logged + 1, %d dropped)", got, want, total, dropped)
	}
}

// TestCloseGivesUpOnAStalledOutput: Close does not wait for ever on an
// output that takes nothing, and says what was lost.
func TestCloseGivesUpOnAStalledOutput(t *testing.T) {
	t.Parallel()
	out := &recorder{release: make(chan struct{})}
	defer close(out.release)
	l := NewAccessLog(out, time.Millisecond)
	l.closeWait = 50 * time.Millisecond
	l.Log(&Entry{Time: time.Now(), Status: 200})
	time.Sleep(10 * time.Millisecond) // the writer takes it and stalls
	l.Log(&Entry{Time: time.Now(), Status: 200})
	if err := l.Close(); err == nil || !strings.Contains(err.Error(), "lost") {
		t.Fatalf("Close = %v, want an error saying lines are lost", err)
	}
}

// TestWritesAreWholeLines: every write to the output is whole lines, and
// each goroutine's lines, access log or node log, come in its order.
func TestWritesAreWholeLines(t *testing.T) {
	t.Parallel()
	out := &recorder{}
	l := NewAccessLog(out, time.Millisecond)
	const writers, each = 8, 3000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if i%10 == 0 {
					fmt.Fprintf(l, `{"msg":"node","w":%d,"i":%d}`+"\n", w, i)
					continue
				}
				l.Log(&Entry{Time: time.Now(), RequestID: fmt.Sprintf("%d-%d", w, i), Status: 200, Path: strings.Repeat("/p", i%50)})
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, writers)
	n := 0
	for _, b := range out.writes {
		if len(b) == 0 || b[len(b)-1] != '\n' {
			t.Fatalf("a write ends inside a line: %q", b[max(0, len(b)-40):])
		}
		for line := range bytes.Lines(b) {
			var v struct {
				RequestID string `json:"request_id"`
				W, I      int
			}
			if err := json.Unmarshal(line, &v); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			if v.RequestID != "" {
				fmt.Sscanf(v.RequestID, "%d-%d", &v.W, &v.I)
			}
			if v.I != next[v.W] {
				t.Fatalf("writer %d: line %d came where %d was due", v.W, v.I, next[v.W])
			}
			next[v.W]++
			n++
		}
	}
	if n != writers*each {
		t.Fatalf("%d lines, want %d", n, writers*each)
	}
}

// TestIdleLogAllocatesNothing: the writer's ticks on an idle node cost no
// memory; a written buffer is reused.
func TestIdleLogAllocatesNothing(t *testing.T) {
	l := NewAccessLog(io.Discard, time.Hour)
	defer l.Close()
	l.Log(&Entry{Time: time.Now(), Status: 200})
	l.write()
	if n := testing.AllocsPerRun(100, func() {
		l.write()
		l.Log(&Entry{Time: time.Now(), Status: 200})
		l.write()
	}); n != 0 {
		t.Fatalf("%v allocations per write", n)
	}
}
