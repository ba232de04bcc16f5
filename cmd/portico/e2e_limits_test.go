package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/testenv"
)

// limitsConfig has an API (named uniquely, since tests share the Redis
// server) with a route limited to 60 calls per hour per consumer, and a
// plan with a daily quota of 20 for consumer "gold".
func limitsConfig(t *testing.T, upstream string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "lim-" + hex.EncodeToString(b)
	return `version: 1
upstreams:
  - name: up
    targets: [{url: "` + upstream + `"}]
plans:
  - name: gold
    quota: {limit: 20, period: day}
consumers:
  - name: acme
    api_keys: ["acme-key-0123456789"]
  - name: gold-` + name + `
    plan: gold
    api_keys: ["gold-key-0123456789"]
apis:
  - name: ` + name + `
    base_path: /api
    upstream: up
    auth: [api_key]
    routes:
      - name: limited
        path: /limited
        rate_limit: {limit: 60, window: 1h}
      - name: free
        path: /free
`
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "portico.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// hammer sends n requests per client from clients goroutines per node,
// round-robin over the nodes, and counts the answers by status and code.
func hammer(t *testing.T, nodes []*proc, clients, n int, path, key string) map[string]int {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	for _, node := range nodes {
		for range clients {
			wg.Go(func() {
				for range n {
					req, _ := http.NewRequest("GET", "http://"+node.proxy+path, nil)
					req.Header.Set("X-API-Key", key)
					resp, err := client.Do(req)
					if err != nil {
						t.Errorf("GET %s: %v", path, err)
						return
					}
					var e struct {
						Error struct{ Code string } `json:"error"`
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					what := resp.Status[:3]
					if resp.StatusCode != 200 {
						_ = json.Unmarshal(b, &e)
						what += " " + e.Error.Code
					}
					mu.Lock()
					got[what]++
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return got
}

// TestRedisLimitsAcrossNodes runs three gateway processes sharing the
// machine's Redis and sends them 720 concurrent requests on a route
// limited to 60 per hour, and 240 on a plan with a quota of 20 a day:
// exactly 60 and exactly 20 pass (a measured error of 0), the rest are
// 429 with the documented codes, and the upstream sees only those passed.
func TestRedisLimitsAcrossNodes(t *testing.T) {
	t.Parallel()
	redisURL := testenv.RedisURL(t)
	var seen atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	defer up.Close()
	cfg := limitsConfig(t, up.URL)
	path := writeConfig(t, cfg)
	var nodes []*proc
	for range 3 {
		nodes = append(nodes, startNode(t, nil, "--config", path, "--redis", redisURL))
	}

	got := hammer(t, nodes, 6, 40, "/api/limited", "acme-key-0123456789")
	t.Logf("route limit 60/h, 720 requests over 3 nodes: %v", got)
	if got["200"] != 60 || got["429 rate_limited"] != 660 {
		t.Fatalf("answers %v, want exactly 60 × 200 and 660 × 429 rate_limited", got)
	}
	got = hammer(t, nodes, 4, 20, "/api/free", "gold-key-0123456789")
	t.Logf("quota 20/day, 240 requests over 3 nodes: %v", got)
	if got["200"] != 20 || got["429 quota_exceeded"] != 220 {
		t.Fatalf("answers %v, want exactly 20 × 200 and 220 × 429 quota_exceeded", got)
	}
	if seen.Load() != 80 {
		t.Fatalf("the upstream saw %d requests, want the 80 that passed", seen.Load())
	}
	_, metrics := get(t, "http://"+nodes[0].admin+"/metrics")
	if !strings.Contains(metrics, "\nportico_redis_up 1") {
		t.Fatal("/metrics does not report portico_redis_up 1")
	}
}

// TestRedisOutageNode kills the Redis server of a running node: the node
// keeps serving in fail-open mode, says so in its log and metrics, and
// goes back to Redis by itself when it returns.
func TestRedisOutageNode(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer up.Close()
	n := startNode(t, nil, "--config", writeConfig(t, limitsConfig(t, up.URL)), "--redis", srv.URL)
	key := []string{"X-API-Key", "acme-key-0123456789"}
	if s, _ := n.get("/api/limited", key...); s != 200 {
		t.Fatalf("before the outage: %d", s)
	}
	srv.Kill()
	for i := range 5 {
		if s, body := n.get("/api/limited", key...); s != 200 {
			t.Fatalf("request %d during the outage (fail open): %d %s", i, s, body)
		}
	}
	_, metrics := get(t, "http://"+n.admin+"/metrics")
	if !strings.Contains(metrics, "\nportico_redis_up 0") || !strings.Contains(metrics, `portico_ratelimit_redis_fallbacks_total{mode="open"} 5`) {
		t.Fatalf("/metrics during the outage lacks portico_redis_up 0 and 5 open fallbacks:\n%s", grepLines(metrics, "redis"))
	}
	if !strings.Contains(n.out.String(), "redis unreachable; rate limits fail open") {
		t.Fatalf("the log does not say Redis is unreachable:\n%s", n.out.String())
	}
	srv.Start()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, metrics = get(t, "http://"+n.admin+"/metrics")
		if strings.Contains(metrics, "\nportico_redis_up 1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the node did not return to Redis within 5 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if s, _ := n.get("/api/limited", key...); s != 200 || !strings.Contains(n.out.String(), "redis reachable again") {
		t.Fatalf("after recovery: %d; log:\n%s", s, n.out.String())
	}
}

// TestQuotaSurvivesRestart: a node on the embedded store counts a plan's
// quota, stops, and a new process on the same data directory goes on from
// the same count.
func TestQuotaSurvivesRestart(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer up.Close()
	cfg := limitsConfig(t, up.URL)
	path, dir := writeConfig(t, cfg), t.TempDir()
	key := []string{"X-API-Key", "gold-key-0123456789"}
	n := startNodeIn(t, dir, nil, "--config", path)
	for i := range 15 {
		if s, body := n.get("/api/free", key...); s != 200 {
			t.Fatalf("request %d: %d %s", i, s, body)
		}
	}
	if err := n.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v", err)
	}
	n = startNodeIn(t, dir, nil, "--config", path)
	for i := 15; i < 22; i++ {
		s, body := n.get("/api/free", key...)
		if i < 20 && s != 200 || i >= 20 && (s != 429 || !strings.Contains(body, "quota_exceeded")) {
			t.Fatalf("request %d after the restart: %d %s", i, s, body)
		}
	}
}

// TestLivePlans: consumers created through the admin API get the plan
// they name — its quota counts at once, without a publish — and one whose
// plan the config lacks is refused rather than left unlimited.
func TestLivePlans(t *testing.T) {
	t.Parallel()
	const token = "ptk_live-plans-token"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer up.Close()
	n := startNode(t, []string{"PORTICO_ADMIN_TOKEN=" + token}, "--config", writeConfig(t, limitsConfig(t, up.URL)))
	n.adminOK(token, "POST", "/admin/v1/consumers", `{"name":"portal-gold","plan":"gold"}`)
	n.adminOK(token, "POST", "/admin/v1/consumers", `{"name":"portal-x","plan":"platinum"}`)
	gold := n.adminOK(token, "POST", "/admin/v1/consumers/portal-gold/keys", "")["key"].(string)
	x := n.adminOK(token, "POST", "/admin/v1/consumers/portal-x/keys", "")["key"].(string)
	// Keys are live within the node's refresh (notified at once).
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s, _ := n.get("/api/free", "X-API-Key", gold); s == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the live key never worked")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := 1; i < 21; i++ {
		s, body := n.get("/api/free", "X-API-Key", gold)
		if i < 20 && s != 200 || i == 20 && (s != 429 || !strings.Contains(body, "quota_exceeded")) {
			t.Fatalf("request %d of a gold consumer: %d %s", i+1, s, body)
		}
	}
	if s, body := n.get("/api/free", "X-API-Key", x); s != 403 || !strings.Contains(body, "plan_unknown") {
		t.Fatalf("a consumer whose plan the config lacks: %d %s", s, body)
	}
	n.adminOK(token, "PUT", "/admin/v1/consumers/portal-x", `{"plan":""}`)
	deadline = time.Now().Add(5 * time.Second)
	for {
		s, _ := n.get("/api/free", "X-API-Key", x)
		if s == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after its plan was removed: still %d", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestCircuitVisible: a failing upstream opens its circuit, and the real
// node shows it in /metrics and in GET /admin/v1/upstreams.
func TestCircuitVisible(t *testing.T) {
	t.Parallel()
	const token = "ptk_circuit-token"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer up.Close()
	n := startNode(t, []string{"PORTICO_ADMIN_TOKEN=" + token}, "--config", writeConfig(t, `version: 1
upstreams:
  - name: fragile
    targets: [{url: "`+up.URL+`"}]
    circuit_breaker: {error_rate: 0.5, min_requests: 3, cooldown: 1m}
apis:
  - name: api
    base_path: /api
    upstream: fragile
    auth: [none]
    routes:
      - name: all
        path: "/{rest...}"
`))
	for range 3 {
		n.get("/api/x")
	}
	if s, body := n.get("/api/x"); s != 503 || !strings.Contains(body, "circuit_open") {
		t.Fatalf("after 3 failures: %d %s, want 503 circuit_open", s, body)
	}
	_, metrics := get(t, "http://"+n.admin+"/metrics")
	if !strings.Contains(metrics, `portico_upstream_circuit_state{upstream="fragile"} 1`) {
		t.Fatalf("/metrics does not show the open circuit:\n%s", grepLines(metrics, "circuit"))
	}
	status := n.adminOK(token, "GET", "/admin/v1/upstreams", "")
	ups, _ := status["upstreams"].([]any)
	if len(ups) != 1 || ups[0].(map[string]any)["circuit"] != "open" {
		t.Fatalf("GET /admin/v1/upstreams: %v", status)
	}
}
