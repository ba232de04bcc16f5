package ratelimit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func limit(t *testing.T, n int, w time.Duration) *Limit {
	ts := NewTables()
	t.Cleanup(ts.Close)
	return ts.Limit("test", n, w, ByRoute, "")
}

// TestGCRA drives one key with a request every millisecond for five
// windows (simulated time): a burst of exactly N, then exactly one request
// per W/N — and never more than the burst in any short interval, so no
// window edge lets 2N through.
func TestGCRA(t *testing.T) {
	t.Parallel()
	const n = 10
	w := time.Second
	l := limit(t, n, w)
	start := int64(1_000_000_000_000)
	var allowed []int64
	for ms := int64(0); ms < 5000; ms++ {
		now := start + ms*int64(time.Millisecond)
		if l.take(key{}, now).ok {
			allowed = append(allowed, now)
		}
	}
	// N at once, then one per 100 ms: 10 + 49 (the 50th would be at 5000 ms).
	if len(allowed) != n+49 {
		t.Fatalf("%d requests passed in 5 s, want %d", len(allowed), n+49)
	}
	if first := allowed[n] - allowed[0]; first != int64(w)/n {
		t.Fatalf("the first request after the burst came %v after the burst began, want W/N", time.Duration(first))
	}
	for i := n + 1; i < len(allowed); i++ {
		if gap := allowed[i] - allowed[i-1]; gap < int64(w)/n {
			t.Fatalf("requests %d and %d were %v apart, less than W/N", i-1, i, time.Duration(gap))
		}
	}
	// Around every second boundary, a 20 ms slice holds at most the burst,
	// and after the first burst at most one request.
	for edge := int64(1); edge < 5; edge++ {
		lo, hi := start+edge*int64(w)-int64(10*time.Millisecond), start+edge*int64(w)+int64(10*time.Millisecond)
		count := 0
		for _, a := range allowed {
			if a >= lo && a < hi {
				count++
			}
		}
		if count > 1 {
			t.Fatalf("%d requests passed within 10 ms of the edge at %d s", count, edge)
		}
	}
}

func TestVerdicts(t *testing.T) {
	t.Parallel()
	l := limit(t, 3, 3*time.Second)
	now := int64(1_000_000_000_000)
	for i, want := range []int{2, 1, 0} {
		v := l.take(key{}, now)
		if !v.ok || v.remaining != want {
			t.Fatalf("request %d: %+v, want ok with %d remaining", i, v, want)
		}
	}
	v := l.take(key{}, now)
	if v.ok || v.retry != time.Second || v.reset != 3*time.Second {
		t.Fatalf("4th request: %+v, want refused, retry in 1s, whole again in 3s", v)
	}
	// Keys are independent.
	if !l.take(key{s: "other"}, now).ok {
		t.Fatal("another key was refused")
	}
}

// TestConcurrentTakes races many goroutines on one key at one instant:
// exactly N get through.
func TestConcurrentTakes(t *testing.T) {
	t.Parallel()
	const n = 100
	l := limit(t, n, time.Minute)
	now := time.Now().UnixNano()
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if l.take(key{s: "k"}, now).ok {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got := ok.Load(); got != n {
		t.Fatalf("%d of 800 concurrent requests passed, want exactly %d", got, n)
	}
}

func TestTablesSurviveReloads(t *testing.T) {
	t.Parallel()
	ts := NewTables()
	defer ts.Close()
	a := ts.Limit("api/r/0", 1, time.Minute, ByIP, "")
	ts.Retain()
	now := time.Now().UnixNano()
	a.take(key{}, now)
	b := ts.Limit("api/r/0", 1, time.Minute, ByIP, "") // the next config, same limit
	ts.Retain()
	if b.take(key{}, now).ok {
		t.Fatal("a reload reset the limit")
	}
	c := ts.Limit("api/r/0", 2, time.Minute, ByIP, "") // changed limit: fresh state
	ts.Retain()
	if !c.take(key{}, now).ok {
		t.Fatal("a changed limit kept the old state")
	}
	if len(ts.tables) != 1 {
		t.Fatalf("%d tables after the old limit was dropped, want 1", len(ts.tables))
	}
}

func BenchmarkTake(b *testing.B) {
	ts := NewTables()
	defer ts.Close()
	l := ts.Limit("bench", 1_000_000_000, time.Second, ByConsumer, "")
	b.ReportAllocs()
	for b.Loop() {
		l.take(key{s: "acme"}, time.Now().UnixNano())
	}
}
