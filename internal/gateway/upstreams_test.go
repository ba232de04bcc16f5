package gateway_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
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
	took := time.Since(began)
	t.Logf("all targets down: 503 after %v (the upstream's timeout is 30 s)", took)
	if resp.StatusCode != 503 || decodeError(t, resp, body).Error.Code != "no_healthy_upstream" || took > time.Second {
		t.Fatalf("all down: %d %s after %v", resp.StatusCode, body, took)
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

func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	var served atomic.Int64
	failing.Store(true)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer up.Close()
	e := start(t, poolConfig(`
  - name: main
    targets: [{url: "`+up.URL+`"}]
    circuit_breaker: {error_rate: 0.5, window: 10s, min_requests: 5, cooldown: 300ms}
`, ""), "")
	for i := range 5 {
		if resp, _ := e.do("GET", "/api/x", nil, nil); resp.StatusCode != 503 {
			t.Fatalf("request %d: %d, want the upstream's 503", i, resp.StatusCode)
		}
	}
	// Open: refused at once, the upstream spared.
	for range 10 {
		resp, body := e.do("GET", "/api/x", nil, nil)
		if resp.StatusCode != 503 || decodeError(t, resp, body).Error.Code != "circuit_open" {
			t.Fatalf("with the circuit open: %d %s", resp.StatusCode, body)
		}
	}
	if served.Load() != 5 {
		t.Fatalf("the upstream saw %d requests, want 5: the open circuit must hold them back", served.Load())
	}
	// After the cooldown one trial goes through; it succeeds and closes
	// the circuit.
	failing.Store(false)
	time.Sleep(350 * time.Millisecond)
	if got := counts(e, 10); got["ok"] != 10 {
		t.Fatalf("after the cooldown: %v", got)
	}
}

// TestRetryBudget measures what retries cost a failing upstream: every
// connection is reset, and each GET may retry twice. Without a budget the
// upstream takes three connections per request; with a budget of 20% it
// takes at most 1.2 (plus the floor of 3 retries).
func TestRetryBudget(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		budget string
		max    int64
	}{{"", 300}, {", budget: 0.2", 100 + 20 + 3}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var accepted atomic.Int64
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				_ = conn.Close()
			}
		}()
		e := start(t, poolConfig(`
  - name: main
    targets: [{url: "http://`+ln.Addr().String()+`"}]
    retries: {attempts: 2, base: 1ms`+c.budget+`}
`, ""), "")
		got := counts(e, 100)
		_ = ln.Close()
		t.Logf("retries: {attempts: 2%s}: 100 requests made %d connections (%v)", c.budget, accepted.Load(), got)
		if got["502"] != 100 || accepted.Load() > c.max || c.budget == "" && accepted.Load() != 300 {
			t.Fatalf("budget %q: %d connections for 100 requests (%v), want at most %d", c.budget, accepted.Load(), got, c.max)
		}
	}
}

// TestCanarySplit: 95/5 over 10,000 requests lands within ±2 points of the
// weights (the smooth rotation makes it exact over every cycle of 20); a
// header or a pinned consumer claims the canary; sticky consumers keep
// their side.
func TestCanarySplit(t *testing.T) {
	t.Parallel()
	v1, v2 := newNamed(t, "v1"), newNamed(t, "v2")
	var consumers strings.Builder
	for i := range 40 {
		consumers.WriteString("  - {name: c" + strconv.Itoa(i) + ", api_keys: [key-0123456789-" + strconv.Itoa(i) + "]}\n")
	}
	e := start(t, `
version: 1
upstreams:
  - {name: v1, targets: [{url: "`+v1.srv.URL+`"}]}
  - {name: v2, targets: [{url: "`+v2.srv.URL+`"}]}
apis:
  - name: api
    base_path: /api
    auth: [none]
    routes:
      - name: open
        path: /open
        upstreams: [{name: v1, weight: 95}, {name: v2, weight: 5, match: {headers: {X-Api-Version: "2"}}}]
      - name: keyed
        path: /keyed
        auth: [api_key]
        sticky: consumer
        upstreams: [{name: v1, weight: 50}, {name: v2, weight: 50, match: {consumers: [c0]}}]
consumers:
`+consumers.String(), "")
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1250 {
				resp, body := e.do("GET", "/api/open", nil, nil)
				if resp.StatusCode != 200 {
					body = strconv.Itoa(resp.StatusCode)
				}
				mu.Lock()
				got[body]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("95/5 over 10,000 requests: %v", got)
	if got["v1"]+got["v2"] != 10000 || got["v2"] < 300 || got["v2"] > 700 {
		t.Fatalf("95/5 split: %v, want v2 within 300..700 of 10,000", got)
	}
	for range 5 {
		if _, body := e.do("GET", "/api/open", hdr("X-Api-Version", "2"), nil); body != "v2" {
			t.Fatalf("X-Api-Version: 2 reached %s", body)
		}
	}
	side := map[string]string{}
	for round := range 3 {
		for i := range 40 {
			c := "c" + strconv.Itoa(i)
			_, body := e.do("GET", "/api/keyed", hdr("X-API-Key", "key-0123456789-"+strconv.Itoa(i)), nil)
			if i == 0 && body != "v2" {
				t.Fatalf("the pinned consumer reached %s", body)
			}
			if round > 0 && side[c] != body {
				t.Fatalf("%s moved from %s to %s: not sticky", c, side[c], body)
			}
			side[c] = body
		}
	}
	n := 0
	for _, s := range side {
		if s == "v2" {
			n++
		}
	}
	if n < 10 || n > 30 {
		t.Fatalf("%d of 40 sticky consumers on v2, want about half", n)
	}
}

// TestMirror: 50% of requests are copied to a shadow that hangs for two
// seconds; the real requests answer as fast as without a mirror, the
// shadow receives exactly half of them, body and consumer included.
func TestMirror(t *testing.T) {
	t.Parallel()
	real := newNamed(t, "real")
	var mu sync.Mutex
	var bodies []string
	shadow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, r.Method+" "+r.URL.RequestURI()+" "+string(b)+" "+r.Header.Get("X-Portico-Mirror"))
		mu.Unlock()
		time.Sleep(2 * time.Second)
	}))
	defer shadow.Close()
	e := start(t, `
version: 1
upstreams:
  - {name: real, targets: [{url: "`+real.srv.URL+`"}]}
  - {name: shadow, targets: [{url: "`+shadow.URL+`"}], timeout: 3s}
apis:
  - name: api
    base_path: /api
    upstream: real
    auth: [none]
    routes:
      - name: all
        path: "/{rest...}"
        mirror: {upstream: shadow, percent: 50}
`, "")
	began := time.Now()
	for i := range 20 {
		resp, body := e.do("POST", "/api/orders?n="+strconv.Itoa(i), nil, strings.NewReader("body-"+strconv.Itoa(i)))
		if resp.StatusCode != 200 || body != "real" {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("20 real requests took %v while the shadow hangs for 2 s each: the mirror slowed them", took)
	}
	waitFor(t, "the shadow to receive its copies", func() bool { mu.Lock(); defer mu.Unlock(); return len(bodies) == 10 })
	mu.Lock()
	defer mu.Unlock()
	for _, b := range bodies {
		var n string
		if _, err := fmt.Sscanf(b, "POST /orders?n=%s", &n); err != nil || !strings.HasSuffix(b, " body-"+n+" 1") {
			t.Fatalf("the shadow received %q, want the request as the upstream sees it", b)
		}
	}
}

// TestAggregate: one route answers with three upstreams' JSON merged;
// the calls run in parallel; a hanging or failing call is named in
// "errors" (omit) or fails the request (fail).
func TestAggregate(t *testing.T) {
	t.Parallel()
	var inFlight, most atomic.Int64
	serve := func(body string, status int, delay time.Duration) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(delay)
			if r.Header.Get("X-Request-Id") == "" {
				status = 400
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, strings.ReplaceAll(body, "URI", r.URL.RequestURI()))
		}))
		t.Cleanup(s.Close)
		return s
	}
	users := serve(`{"uri":"URI","name":"Ada"}`, 200, 100*time.Millisecond)
	orders := serve(`[{"id":1},{"id":2}]`, 200, 100*time.Millisecond)
	slow := serve(`{}`, 200, 2*time.Second)
	broken := serve(`oops`, 200, 0)
	cfg := func(onError string) string {
		return `
version: 1
upstreams:
  - {name: users, targets: [{url: "` + users.URL + `"}]}
  - {name: orders, targets: [{url: "` + orders.URL + `"}]}
  - {name: slow, targets: [{url: "` + slow.URL + `"}]}
  - {name: broken, targets: [{url: "` + broken.URL + `"}]}
apis:
  - name: bff
    base_path: /bff
    auth: [none]
    routes:
      - name: profile
        path: /profile/{id}
        aggregate:
          timeout: 300ms
          on_error: ` + onError + `
          calls:
            - {name: user, upstream: users, path: "/users/{{path.id}}?q={{query.q}}"}
            - {name: orders, upstream: orders, path: "/orders?user={{path.id}}"}
            - {name: recommendations, upstream: slow, path: /recs}
            - {name: wishlist, upstream: broken, path: /wishes}
`
	}
	e := start(t, cfg("omit"), "")
	resp, body := e.do("GET", "/bff/profile/7?q=a%26b=c", nil, nil)
	want := `{"user":{"uri":"/users/7?q=a%26b%3Dc","name":"Ada"},"orders":[{"id":1},{"id":2}],"errors":{"recommendations":"timeout","wishlist":"answer is not JSON"}}`
	if resp.StatusCode != 200 || body != want {
		t.Fatalf("aggregate: %d\n%s\nwant\n%s", resp.StatusCode, body, want)
	}
	if most.Load() < 2 {
		t.Fatalf("at most %d calls ran at once; the calls must run in parallel", most.Load())
	}
	e.load(cfg("fail"), "")
	resp, body = e.do("GET", "/bff/profile/7", nil, nil)
	if resp.StatusCode != 502 || decodeError(t, resp, body).Error.Code != "upstream_failed" {
		t.Fatalf("on_error: fail: %d %s", resp.StatusCode, body)
	}
}

// TestRetryOnStatusAndPerTryTimeout: a 503 listed in on_status is retried
// on the other target and never reaches the client, headers included; a
// target that hangs is given up after the per-try timeout, not the
// route's.
func TestRetryOnStatusAndPerTryTimeout(t *testing.T) {
	t.Parallel()
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-From", "unavailable")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer unavailable.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}))
	defer hang.Close()
	ok := newNamed(t, "ok")
	e := start(t, poolConfig(`
  - name: main
    targets: [{url: "`+unavailable.URL+`"}, {url: "`+ok.srv.URL+`"}, {url: "`+hang.URL+`"}]
    timeout: 5s
    retries: {attempts: 2, base: 1ms, on_status: [503], per_try_timeout: 200ms}
`, ""), "")
	for i := range 9 {
		began := time.Now()
		resp, body := e.do("GET", "/api/x", nil, nil)
		if resp.StatusCode != 200 || body != "ok" || resp.Header.Get("X-From") != "" {
			t.Fatalf("request %d: %d %q %v", i, resp.StatusCode, body, resp.Header)
		}
		if took := time.Since(began); took > 2*time.Second {
			t.Fatalf("request %d took %v: the hanging target was waited for beyond the per-try timeout", i, took)
		}
	}
}

// TestRetryReplaysBodies: with retry_methods a POST is retried on another
// target with its whole body; without it, it is not; an idempotent PUT
// with a body is retried too. Bodies over 64 KiB are never replayed.
func TestRetryReplaysBodies(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []string
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, r.Method+" "+string(b))
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	defer good.Close()
	dead := deadURL(t)
	e := start(t, poolConfig(`
  - name: main
    targets: [{url: "`+dead+`"}, {url: "`+good.URL+`"}]
    retries: {attempts: 1, base: 1ms}
`, `
      - name: orders
        path: /orders
        retry_methods: [POST]
`), "")
	for i := range 6 {
		resp, _ := e.do("POST", "/api/orders", nil, strings.NewReader("order-"+strconv.Itoa(i)))
		if resp.StatusCode != 200 {
			t.Fatalf("POST %d with retry_methods: %d", i, resp.StatusCode)
		}
		resp, _ = e.do("PUT", "/api/x", nil, strings.NewReader("put-"+strconv.Itoa(i)))
		if resp.StatusCode != 200 {
			t.Fatalf("PUT %d: %d", i, resp.StatusCode)
		}
	}
	failed := 0
	for range 6 {
		if resp, _ := e.do("POST", "/api/x", nil, strings.NewReader("plain")); resp.StatusCode == 502 {
			failed++
		}
	}
	if failed != 3 {
		t.Fatalf("%d of 6 POSTs without retry_methods failed, want the 3 sent to the dead target", failed)
	}
	big := strings.Repeat("b", 70<<10)
	bigFailed := 0
	for range 4 {
		if resp, _ := e.do("POST", "/api/orders", nil, strings.NewReader(big)); resp.StatusCode == 502 {
			bigFailed++
		}
	}
	if bigFailed != 2 {
		t.Fatalf("%d of 4 large POSTs failed, want the 2 sent to the dead target: bodies over 64 KiB are not replayed", bigFailed)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range 6 {
		if !slices.Contains(bodies, "POST order-"+strconv.Itoa(i)) || !slices.Contains(bodies, "PUT put-"+strconv.Itoa(i)) {
			t.Fatalf("the good target did not receive request %d whole: %v", i, bodies)
		}
	}
}

// TestFlappingTarget: one of two targets goes down and comes back every
// 150 ms while requests flow. With passive ejection and one retry, every
// request succeeds, and the flapping target gets traffic again each time
// it is back.
func TestFlappingTarget(t *testing.T) {
	t.Parallel()
	stable := newNamed(t, "stable")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "flappy") })
	var mu sync.Mutex
	srv := &http.Server{Handler: handler}
	go func() { _ = srv.Serve(ln) }()
	stop := make(chan struct{})
	flipped := make(chan struct{})
	go func() {
		defer close(flipped)
		up := true
		for {
			select {
			case <-stop:
				return
			case <-time.After(150 * time.Millisecond):
			}
			mu.Lock()
			if up {
				_ = srv.Close()
			} else if l, err := net.Listen("tcp", addr); err == nil {
				srv = &http.Server{Handler: handler}
				go func(s *http.Server) { _ = s.Serve(l) }(srv)
			}
			up = !up
			mu.Unlock()
		}
	}()
	defer func() {
		close(stop)
		<-flipped
		mu.Lock()
		_ = srv.Close()
		mu.Unlock()
	}()
	e := start(t, poolConfig(`
  - name: main
    targets: [{url: "http://`+addr+`"}, {url: "`+stable.srv.URL+`"}]
    retries: {attempts: 1, base: 1ms}
    health_check: {passive: {failures: 1, ejection: 50ms, max_ejection: 100ms}}
`, ""), "")
	got := map[string]int{}
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		resp, body := e.do("GET", "/api/x", nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("a request failed while a target flapped: %d %s", resp.StatusCode, body)
		}
		got[body]++
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("over 1.5 s of flapping: %v", got)
	if got["flappy"] < 10 || got["stable"] < 10 {
		t.Fatalf("answers %v: both targets should have served while the flapping one was up", got)
	}
}
