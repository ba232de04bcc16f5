package gateway_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// named is an upstream server that answers with its name and can be made
// to fail its health check.
type named struct {
	srv     *httptest.Server
	name    string
	sick    atomic.Bool
	delay   atomic.Int64 // ns before answering
	served  atomic.Int64
	checked atomic.Int64
}

func newNamed(t *testing.T, name string) *named {
	n := &named{name: name}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			n.checked.Add(1)
			if n.sick.Load() {
				w.WriteHeader(http.StatusInternalServerError)
			}
			return
		}
		if d := n.delay.Load(); d > 0 {
			time.Sleep(time.Duration(d))
		}
		n.served.Add(1)
		_, _ = io.WriteString(w, n.name)
	}))
	t.Cleanup(n.srv.Close)
	return n
}

// deadURL is an address that refuses connections.
func deadURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

func poolConfig(upstreams, routeExtra string) string {
	return `
version: 1
upstreams:
` + upstreams + `
apis:
  - name: api
    base_path: /api
    upstream: main
    auth: [none]
    routes:
      - name: all
        path: "/{rest...}"
` + routeExtra
}

// counts sends n requests and counts the answers by body (or status).
func counts(e *env, n int, header ...string) map[string]int {
	got := map[string]int{}
	for range n {
		resp, body := e.do("GET", "/api/x", hdr(header...), nil)
		if resp.StatusCode != 200 {
			body = strconv.Itoa(resp.StatusCode)
		}
		got[body]++
	}
	return got
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5 s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestActiveHealthChecks(t *testing.T) {
	t.Parallel()
	a, b := newNamed(t, "a"), newNamed(t, "b")
	e := start(t, poolConfig(`
  - name: main
    targets: [{url: "`+a.srv.URL+`"}, {url: "`+b.srv.URL+`"}]
    health_check: {path: /health, interval: 50ms, healthy: 2, unhealthy: 2}
`, ""), "")
	if got := counts(e, 10); got["a"] != 5 || got["b"] != 5 {
		t.Fatalf("both healthy: %v, want an even split", got)
	}
	a.sick.Store(true)
	waitFor(t, "a to be taken out", func() bool { got := counts(e, 4); return got["a"] == 0 })
	if got := counts(e, 20); got["b"] != 20 {
		t.Fatalf("a is sick: %v, want all on b", got)
	}
	a.sick.Store(false)
	waitFor(t, "a to come back", func() bool { got := counts(e, 4); return got["a"] > 0 })
	// Both sick: 503 at once, not a timeout.
	a.sick.Store(true)
	b.sick.Store(true)
	waitFor(t, "both to be out", func() bool { got := counts(e, 2); return got["503"] == 2 })
	began := time.Now()
	resp, body := e.do("GET", "/api/x", nil, nil)
	if resp.StatusCode != 503 || decodeError(t, resp, body).Error.Code != "no_healthy_upstream" || time.Since(began) > time.Second {
		t.Fatalf("all down: %d %s after %v", resp.StatusCode, body, time.Since(began))
	}
}

func TestPassiveEjectionAndFallback(t *testing.T) {
	t.Parallel()
	b, dr := newNamed(t, "b"), newNamed(t, "dr")
	dead := deadURL(t)
	e := start(t, poolConfig(`
  - name: main
    targets: [{url: "`+dead+`"}, {url: "`+b.srv.URL+`"}]
    health_check: {passive: {failures: 2, ejection: 300ms}}
    fallback: dr
  - name: dr
    targets: [{url: "`+dr.srv.URL+`"}]
`, ""), "")
	// The dead target fails twice (502), then is ejected: all on b.
	got := counts(e, 10)
	if got["502"] != 2 || got["b"] != 8 {
		t.Fatalf("with a dead target: %v, want 2 × 502 before it is ejected, then b", got)
	}
	// After the ejection it is tried again, fails twice, and is out for
	// twice as long.
	time.Sleep(350 * time.Millisecond)
	got = counts(e, 10)
	if got["502"] != 2 || got["b"] != 8 {
		t.Fatalf("after the ejection ended: %v", got)
	}
	// b goes away too: once both are ejected, the fallback pool serves.
	b.srv.Close()
	got = counts(e, 10)
	if got["dr"] < 7 {
		t.Fatalf("primary all down: %v, want the fallback to serve", got)
	}
}

func TestRetryGoesToAnotherTarget(t *testing.T) {
	t.Parallel()
	b := newNamed(t, "b")
	dead := deadURL(t)
	e := start(t, poolConfig(`
  - name: main
    targets: [{url: "`+dead+`"}, {url: "`+b.srv.URL+`"}]
    retries: {attempts: 1, base: 1ms}
`, ""), "")
	if got := counts(e, 20); got["b"] != 20 {
		t.Fatalf("with one retry: %v, want every GET served by b", got)
	}
	// A POST is not retried.
	resp, _ := e.do("POST", "/api/x", nil, strings.NewReader("x"))
	resp2, _ := e.do("POST", "/api/x", nil, strings.NewReader("x"))
	if resp.StatusCode != 502 && resp2.StatusCode != 502 {
		t.Fatalf("two POSTs round-robin over a dead target: %d and %d, want one 502", resp.StatusCode, resp2.StatusCode)
	}
}

func TestLeastRequests(t *testing.T) {
	t.Parallel()
	slow, fast := newNamed(t, "slow"), newNamed(t, "fast")
	slow.delay.Store(int64(100 * time.Millisecond))
	e := start(t, poolConfig(`
  - name: main
    targets: [{url: "`+slow.srv.URL+`"}, {url: "`+fast.srv.URL+`"}]
    balance: least_requests
`, ""), "")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 15 {
				e.do("GET", "/api/x", nil, nil)
			}
		})
	}
	wg.Wait()
	if s, f := slow.served.Load(), fast.served.Load(); s+f != 120 || s*4 > f {
		t.Fatalf("slow served %d, fast %d: want the fast target to take at least 4× the slow one's share", s, f)
	}
}

func TestHashBalancing(t *testing.T) {
	t.Parallel()
	a, b, c := newNamed(t, "a"), newNamed(t, "b"), newNamed(t, "c")
	cfg := func(targets string) string {
		return poolConfig(`
  - name: main
    targets: [`+targets+`]
    balance: hash
    hash_on: header:X-User
`, "")
	}
	all := `{url: "` + a.srv.URL + `"}, {url: "` + b.srv.URL + `", weight: 2}, {url: "` + c.srv.URL + `"}`
	e := start(t, cfg(all), "")
	owner := map[string]string{}
	share := map[string]int{}
	for i := range 400 {
		user := "user-" + strconv.Itoa(i)
		got := counts(e, 2, "X-User", user)
		if len(got) != 1 {
			t.Fatalf("%s went to %v: not sticky", user, got)
		}
		for k := range got {
			owner[user] = k
			share[k]++
		}
	}
	// Weights 1:2:1 -> about 100, 200, 100 of 400 keys.
	if share["b"] < 160 || share["b"] > 240 || share["a"] < 60 || share["c"] < 60 {
		t.Fatalf("keys per target %v, want about 100/200/100", share)
	}
	// Take c out: only c's keys move.
	e.load(cfg(`{url: "`+a.srv.URL+`"}, {url: "`+b.srv.URL+`", weight: 2}`), "")
	moved := 0
	for user, was := range owner {
		got := counts(e, 1, "X-User", user)
		if got[was] == 0 {
			if was != "c" {
				t.Fatalf("%s moved from %s although %s is still there", user, was, was)
			}
			moved++
		}
	}
	if moved != share["c"] {
		t.Fatalf("%d keys moved, want the %d of c", moved, share["c"])
	}
}
