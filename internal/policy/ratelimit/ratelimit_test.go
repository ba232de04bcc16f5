package ratelimit

import (
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/clock/clocktest"
	"github.com/portico-gw/portico/internal/pipeline"
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

// TestPeerKey: the addresses one host can pick from count as one, and
// different hosts do not.
func TestPeerKey(t *testing.T) {
	same := [][]string{
		{"[2001:db8:1:2::1]:5000", "[2001:db8:1:2:ffff:ffff:ffff:ffff]:6000", "[2001:db8:1:2::7%eth0]:1"},
		{"192.0.2.7:5000", "192.0.2.7:6000", "[::ffff:192.0.2.7]:7000"},
		{"[fe80::1%eth0]:5000", "[fe80::2%eth1]:5000"},
	}
	for _, group := range same {
		for _, a := range group[1:] {
			if PeerKey(a) != PeerKey(group[0]) {
				t.Errorf("%s counts as %q, %s as %q: want one key", a, PeerKey(a), group[0], PeerKey(group[0]))
			}
		}
	}
	differ := []string{"[2001:db8:1:2::1]:1", "[2001:db8:1:3::1]:1", "192.0.2.7:1", "192.0.2.8:1", "[::1]:1", "garbage"}
	seen := map[string]string{}
	for _, a := range differ {
		k := PeerKey(a)
		if b, ok := seen[k]; ok {
			t.Errorf("%s and %s share the key %q", a, b, k)
		}
		seen[k] = a
	}
}

// TestLimiterByPeerKey: a host rotating through its /64 meets the limit
// of one address.
func TestLimiterByPeerKey(t *testing.T) {
	l := NewLimiter(3, time.Minute)
	defer l.Close()
	now := time.Now()
	refused := 0
	for i := range 10 {
		if ok, _ := l.Allow(PeerKey(fmt.Sprintf("[2001:db8::%x]:443", i+1)), now); !ok {
			refused++
		}
	}
	if refused != 7 {
		t.Errorf("%d of 10 tries from one /64 refused, want 7", refused)
	}
	if ok, _ := l.Allow(PeerKey("[2001:db8:0:1::1]:443"), now); !ok {
		t.Error("another /64 was refused")
	}
}

func TestLimiterRefund(t *testing.T) {
	l := NewLimiter(2, time.Minute)
	defer l.Close()
	now := time.Now()
	for i := range 5 {
		if ok, _ := l.Allow("k", now); !ok {
			t.Fatalf("try %d refused although every one was refunded", i)
		}
		l.Refund("k")
	}
	l.Allow("k", now)
	l.Allow("k", now)
	if ok, _ := l.Allow("k", now); ok {
		t.Fatal("a third try in the window passed a limit of 2")
	}
}

// TestByIPCountsA64: a limit by ip meets a host that rotates through its
// /64 as one client; another /64, and each IPv4 address, count apart.
func TestByIPCountsA64(t *testing.T) {
	ts := NewTables()
	t.Cleanup(ts.Close)
	l := ts.Limit("api/r/0", 3, time.Minute, ByIP, "")
	now := time.Now().UnixNano()
	take := func(addr string) bool {
		x := &pipeline.Exchange{ClientIP: netip.MustParseAddr(addr)}
		return l.take(keyOf(l, &http.Request{}, x), now).ok
	}
	passed := 0
	for i := range 10 {
		if take(fmt.Sprintf("2001:db8:0:7:%x::1", i*0x1111)) {
			passed++
		}
	}
	if passed != 3 {
		t.Errorf("%d of 10 requests from one /64 passed, want 3", passed)
	}
	for _, other := range []string{"2001:db8:0:8::1", "192.0.2.1", "192.0.2.2"} {
		if !take(other) {
			t.Errorf("%s was counted with the /64", other)
		}
	}
}

// TestWallClockSteps: setting the machine's clock does not change what a
// limit allows. Set back an hour, the wall clock used to put every key's
// budget an hour ahead, refusing every client for that hour; set forward,
// it made every budget whole at once.
func TestWallClockSteps(t *testing.T) {
	l := NewLimiter(10, time.Minute) // one request every 6 s
	defer l.Close()
	now := time.Now()
	for i := range 10 {
		if ok, _ := l.Allow("acme", now); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
	// A day forward, a moment later: the budget is still spent.
	if ok, _ := l.Allow("acme", clocktest.Stepped(now, -24*time.Hour, time.Second)); ok {
		t.Fatal("the wall clock set a day forward made a spent budget whole")
	}
	// An hour back, 6 s later: one request's worth has come back.
	back := clocktest.Stepped(now, time.Hour, 6*time.Second)
	if ok, retry := l.Allow("acme", back); !ok {
		t.Fatalf("the wall clock set an hour back refused the client for %v", retry)
	}
	if ok, retry := l.Allow("acme", back); ok || retry > 6*time.Second {
		t.Fatalf("the next request: allowed %v, retry after %v; want refused for at most 6s", ok, retry)
	}
}
