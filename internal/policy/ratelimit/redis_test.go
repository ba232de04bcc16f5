package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/testenv"
)

// node is one simulated gateway process: its own tables, quotas and Redis
// client, sharing only the Redis server with the others.
type node struct {
	tables *Tables
	quotas *Quotas
	remote *Remote
	events *events
}

type events struct {
	mu        sync.Mutex
	states    []bool
	fallbacks map[string]int
}

func (e *events) RedisUp(up bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.states = append(e.states, up)
}

func (e *events) RateLimitFallback(mode string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fallbacks == nil {
		e.fallbacks = map[string]int{}
	}
	e.fallbacks[mode]++
}

func (e *events) count(mode string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fallbacks[mode]
}

func newNode(t *testing.T, url, prefix string) *node {
	t.Helper()
	ev := &events{}
	r, err := NewRemote(url, prefix, slog.New(slog.NewTextHandler(io.Discard, nil)), ev)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{tables: NewTables(), quotas: NewQuotas(), remote: r, events: ev}
	t.Cleanup(func() { n.tables.Close(); _ = r.Close() })
	return n
}

// uniquePrefix keeps a test's keys apart from every other test's on the
// shared server.
func uniquePrefix(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "portico-test:" + t.Name() + ":" + hex.EncodeToString(b) + ":"
}

// handler is a route guarded by p whose upstream answers 200.
func handler(p Policy) pipeline.Handler {
	return pipeline.Chain(pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
		w.WriteHeader(http.StatusOK)
		return nil
	}), New(p))
}

// call sends one request of consumer through h and returns the status
// (the gateway error's when refused) and the response headers.
func call(h pipeline.Handler, consumer string) (int, string, http.Header) {
	rec := httptest.NewRecorder()
	x := &pipeline.Exchange{Consumer: consumer}
	err := h.Serve(rec, httptest.NewRequest("GET", "/", nil), x)
	var e *pipeline.Error
	if errors.As(err, &e) {
		return e.Status, e.Code, rec.Header()
	}
	return rec.Code, "", rec.Header()
}

// TestRedisExactAcrossNodes: four nodes, each with eight concurrent
// clients, share a limit of 50 per hour in one real Redis: exactly 50 of
// 800 requests pass — no node's share, no race, no double count.
func TestRedisExactAcrossNodes(t *testing.T) {
	t.Parallel()
	url, prefix := testenv.RedisURL(t), uniquePrefix(t)
	const limit = 50
	var passed, refused atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		n := newNode(t, url, prefix)
		h := handler(Policy{Remote: n.remote, Limits: []*Limit{n.tables.Limit("api/r/0", limit, time.Hour, ByConsumer, "")}})
		for range 8 {
			wg.Go(func() {
				for range 25 {
					switch status, code, _ := call(h, "acme"); {
					case status == 200:
						passed.Add(1)
					case status == 429 && code == "rate_limited":
						refused.Add(1)
					default:
						t.Errorf("status %d %s", status, code)
					}
				}
			})
		}
	}
	wg.Wait()
	if passed.Load() != limit || refused.Load() != 800-limit {
		t.Fatalf("%d passed and %d were refused, want exactly %d and %d", passed.Load(), refused.Load(), limit, 800-limit)
	}
}

// TestRedisAllOrNothing: a request refused by one limit counts against
// none of the others, in Redis as in memory.
func TestRedisAllOrNothing(t *testing.T) {
	t.Parallel()
	url, prefix := testenv.RedisURL(t), uniquePrefix(t)
	for _, remote := range []bool{false, true} {
		n := newNode(t, url, prefix+strconv.FormatBool(remote))
		wide := n.tables.Limit("api/r/0", 100, time.Hour, ByConsumer, "")
		narrow := n.tables.Limit("api/r/1", 2, time.Hour, ByConsumer, "")
		p := Policy{Limits: []*Limit{wide, narrow}}
		if remote {
			p.Remote = n.remote
		}
		h := handler(p)
		for i := range 10 {
			status, _, hdr := call(h, "acme")
			if want := map[bool]int{true: 200, false: 429}[i < 2]; status != want {
				t.Fatalf("remote=%v request %d: %d, want %d", remote, i, status, want)
			}
			if i < 2 && hdr.Get("RateLimit-Limit") != "2" {
				t.Fatalf("remote=%v: RateLimit-Limit %q names the wide limit, not the one closest to refusing", remote, hdr.Get("RateLimit-Limit"))
			}
		}
		// The wide limit saw only the two requests that passed.
		h2 := handler(Policy{Limits: []*Limit{wide}, Remote: p.Remote})
		_, _, hdr := call(h2, "acme")
		if got := hdr.Get("RateLimit-Remaining"); got != "97" {
			t.Fatalf("remote=%v: the wide limit has %s left after 3 passed requests, want 97", remote, got)
		}
	}
}

// TestRedisOutage kills a real Redis under a node: in fail-open mode the
// node goes on limiting in memory (and says so in its events), in
// fail-closed mode it refuses with 503, and when Redis is back both
// return to it by themselves.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	open := newNode(t, srv.URL, "o:")
	closed := newNode(t, srv.URL, "c:")
	closed.remote.SetFailClosed(true)
	hOpen := handler(Policy{Remote: open.remote, Limits: []*Limit{open.tables.Limit("api/r/0", 3, time.Hour, ByConsumer, "")}})
	hClosed := handler(Policy{Remote: closed.remote, Limits: []*Limit{closed.tables.Limit("api/r/0", 3, time.Hour, ByConsumer, "")}})
	for range 2 {
		if s, _, _ := call(hOpen, "acme"); s != 200 {
			t.Fatalf("before the outage: %d", s)
		}
		if s, _, _ := call(hClosed, "acme"); s != 200 {
			t.Fatalf("before the outage: %d", s)
		}
	}

	srv.Kill()
	// Fail open: the first request finds Redis gone and is decided in
	// memory; the local budget is the whole limit, so 3 pass, then 429.
	for i := range 5 {
		s, code, _ := call(hOpen, "acme")
		if want := map[bool]int{true: 200, false: 429}[i < 3]; s != want {
			t.Fatalf("fail open, request %d during the outage: %d %s, want %d", i, s, code, want)
		}
	}
	if open.remote.Up() || open.events.count("open") != 5 {
		t.Fatalf("fail open: up=%v, %d fallbacks recorded, want down and 5", open.remote.Up(), open.events.count("open"))
	}
	for i := range 3 {
		if s, code, _ := call(hClosed, "acme"); s != 503 || code != "rate_limit_unavailable" {
			t.Fatalf("fail closed, request %d during the outage: %d %s, want 503 rate_limit_unavailable", i, s, code)
		}
	}

	srv.Start() // empty: Redis kept nothing
	deadline := time.Now().Add(5 * time.Second)
	for !open.remote.Up() || !closed.remote.Up() {
		if time.Now().After(deadline) {
			t.Fatal("the nodes did not return to Redis within 5 s of it coming back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s, _, hdr := call(hOpen, "acme"); s != 200 || hdr.Get("RateLimit-Remaining") != "2" {
		t.Fatalf("after recovery: %d with %s remaining, want 200 counted in the (empty) Redis: 2 remaining", s, hdr.Get("RateLimit-Remaining"))
	}
	if s, _, _ := call(hClosed, "acme"); s != 200 {
		t.Fatalf("fail closed after recovery: %d, want 200", s)
	}
	open.events.mu.Lock()
	states := append([]bool(nil), open.events.states...)
	open.events.mu.Unlock()
	if len(states) != 3 || !states[0] || states[1] || !states[2] {
		t.Fatalf("Redis states reported %v, want up, down, up", states)
	}
}

// TestRedisQuota: a plan's quota is counted once across nodes, refused
// with quota_exceeded and a Retry-After until the period ends, and left
// untouched by requests the rate limits refuse.
func TestRedisQuota(t *testing.T) {
	t.Parallel()
	url, prefix := testenv.RedisURL(t), uniquePrefix(t)
	var hs []pipeline.Handler
	for range 2 {
		n := newNode(t, url, prefix)
		plan := &Plan{Name: "gold", Quota: n.quotas.Quota(5, "day", time.UTC)}
		hs = append(hs, handler(Policy{Remote: n.remote, Plans: map[string]*Plan{"acme": plan}}))
	}
	for i := range 8 {
		s, code, hdr := call(hs[i%2], "acme")
		switch {
		case i < 5 && s != 200:
			t.Fatalf("request %d: %d %s, want 200", i, s, code)
		case i >= 5 && (s != 429 || code != "quota_exceeded"):
			t.Fatalf("request %d: %d %s, want 429 quota_exceeded", i, s, code)
		case i >= 5:
			now := time.Now().UTC()
			midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
			ra, _ := strconv.Atoi(hdr.Get("Retry-After"))
			if d := time.Duration(ra)*time.Second - midnight.Sub(now); d < -2*time.Second || d > 2*time.Second {
				t.Fatalf("Retry-After %d s, want the %v until midnight UTC", ra, midnight.Sub(now))
			}
		}
	}
	if s, _, _ := call(hs[0], "globex"); s != 200 {
		t.Fatalf("a consumer without a plan: %d", s)
	}
}

// TestRemoteContextCanceled: a client that leaves does not mark Redis down.
func TestRemoteContextCanceled(t *testing.T) {
	t.Parallel()
	n := newNode(t, testenv.RedisURL(t), uniquePrefix(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := n.remote.take(ctx, []check{{limit: n.tables.Limit("a", 1, time.Second, ByRoute, "")}}, nil, "", time.Now())
	if err == nil {
		t.Fatal("a canceled request reached Redis")
	}
	n.remote.failed(err)
	if !n.remote.Up() {
		t.Fatal("a client leaving marked Redis down")
	}
}

// TestRedisClockSetBack: when Redis's clock is set back, the keys it
// wrote before read as budgets spent far ahead; a client is then held up
// one request's interval, not for as long as the clock went back.
func TestRedisClockSetBack(t *testing.T) {
	n := newNode(t, testenv.RedisURL(t), uniquePrefix(t))
	ctx := context.Background()
	c := check{limit: n.tables.Limit("clock", 10, time.Second, ByConsumer, ""), key: key{s: "acme"}}
	k := n.remote.limitKey(c)
	now, err := n.remote.client.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	// What a spent budget holds once Redis's clock went back an hour.
	ahead := now.Add(time.Hour + time.Second).UnixMicro()
	if err := n.remote.client.Set(ctx, k, strconv.FormatInt(ahead, 10), 2*time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	d, err := n.remote.take(ctx, []check{c}, nil, "acme", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if d.ok || d.retry > 100*time.Millisecond {
		t.Fatalf("allowed %v, retry after %v; want refused for at most one interval (100ms)", d.ok, d.retry)
	}
	if ttl := n.remote.client.PTTL(ctx, k).Val(); ttl > 1100*time.Millisecond {
		t.Errorf("the key lives %v more, want at most its window", ttl)
	}
	time.Sleep(150 * time.Millisecond)
	if d, err := n.remote.take(ctx, []check{c}, nil, "acme", time.Now()); err != nil || !d.ok {
		t.Fatalf("one interval later: allowed %v, %v", d.ok, err)
	}
}
