package gateway_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// policiesConfig exercises the hygiene policies: CORS and an IP deny list
// on the API, request filters on the API and a route, basic auth, limits
// by header, and a plan.
const policiesConfig = `
version: 1
upstreams:
  - name: up
    targets: [{url: "UPSTREAM"}]
apis:
  - name: shop
    base_path: /shop
    upstream: up
    auth: [api_key, partners]
    cors: {origins: [https://app.example.com], methods: [GET, POST], headers: [Authorization, X-API-Key], expose_headers: [X-Total], credentials: true, max_age: 10m}
    ip_deny: [192.0.2.0/24]
    request_filters: [{block_methods: [TRACE]}]
    routes:
      - name: items
        path: /items/{rest...}
        request_filters:
          - {block_path: '(?i)\.git(/|$)'}
          - {block_query: '(?i)union\s+select'}
          - {block_header: {name: User-Agent, pattern: sqlmap}}
          - {block_header: {name: User-Agent, pattern: curl}, log_only: true, name: curl-watch}
      - name: tenant
        path: /tenant
        auth: [none]
        rate_limit: {limit: 2, window: 1h, by: header, header: X-Tenant}
      - name: plan
        path: /plan
plans:
  - name: tiny
    rate_limits: [{limit: 3, window: 1h}]
    quota: {limit: 2, period: day}
auth_policies:
  - {name: partners, type: basic, realm: partners}
consumers:
  - name: acme
    api_keys: [acme-key-0123456789]
    basic: [{username: acme, password_hash: "HASH"}]
  - name: other
    plan: tiny
    api_keys: [other-key-0123456789]
`

func startPolicies(t *testing.T, upstream string) *env {
	h, err := bcrypt.GenerateFromPassword([]byte("open sesame"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return start(t, strings.Replace(policiesConfig, "HASH", string(h), 1), upstream)
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestCORS(t *testing.T) {
	t.Parallel()
	// The upstream says its own CORS things, which must not reach the client.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Methods", "DELETE")
		w.Header().Set("X-Total", "7")
		if r.Method == http.MethodOptions {
			t.Errorf("the upstream received a preflight")
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer up.Close()
	e := startPolicies(t, up.URL)
	const origin = "https://app.example.com"

	resp, body := e.do("OPTIONS", "/shop/items/1", hdr("Origin", origin, "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "authorization, content-type"), nil)
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		resp.Header.Get("Access-Control-Allow-Methods") != "GET, POST" ||
		resp.Header.Get("Access-Control-Allow-Headers") != "Authorization, X-Api-Key" ||
		resp.Header.Get("Access-Control-Max-Age") != "600" {
		t.Fatalf("preflight: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	for _, c := range []struct {
		name string
		h    http.Header
	}{
		{"other origin", hdr("Origin", "https://evil.example", "Access-Control-Request-Method", "GET")},
		{"method not allowed", hdr("Origin", origin, "Access-Control-Request-Method", "DELETE")},
		{"header not allowed", hdr("Origin", origin, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "X-Secret")},
	} {
		resp, body := e.do("OPTIONS", "/shop/items/1", c.h, nil)
		if resp.StatusCode != 403 || decodeError(t, resp, body).Error.Code != "cors_refused" || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: %d %v %s, want 403 cors_refused without CORS headers", c.name, resp.StatusCode, resp.Header, body)
		}
	}

	// An actual request: the gateway's CORS headers, not the upstream's.
	resp, _ = e.do("GET", "/shop/items/1", hdr("Origin", origin, "X-API-Key", acmeKey), nil)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
		resp.Header.Get("Access-Control-Expose-Headers") != "X-Total" || resp.Header.Get("Access-Control-Allow-Methods") != "" ||
		len(resp.Header.Values("Access-Control-Allow-Origin")) != 1 || resp.Header.Get("Vary") != "Origin" {
		t.Fatalf("actual request: %d %v", resp.StatusCode, resp.Header)
	}
	// Gateway errors carry them too, so the page can read its 401.
	resp, _ = e.do("GET", "/shop/items/1", hdr("Origin", origin), nil)
	if resp.StatusCode != 401 || resp.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("401 without CORS headers: %d %v", resp.StatusCode, resp.Header)
	}
	// Another origin gets nothing from the gateway and nothing from the upstream.
	resp, _ = e.do("GET", "/shop/items/1", hdr("Origin", "https://evil.example", "X-API-Key", acmeKey), nil)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("a foreign origin was allowed: %v", resp.Header)
	}
	// A preflight-shaped OPTIONS on an API without CORS is routed as usual.
	resp, _ = e.do("OPTIONS", "/nowhere", hdr("Origin", origin, "Access-Control-Request-Method", "GET"), nil)
	if resp.StatusCode != 404 {
		t.Fatalf("preflight outside any API: %d", resp.StatusCode)
	}
}

func TestRequestFilters(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := startPolicies(t, rec.srv.URL)
	key := hdr("X-API-Key", acmeKey)
	for _, c := range []struct {
		name, method, path string
		h                  http.Header
	}{
		{"method", "TRACE", "/shop/items/1", key},
		{"path", "GET", "/shop/items/.git/config", key},
		{"encoded path", "GET", "/shop/items/%2Egit/config", key},
		{"dot segments", "GET", "/shop/items/a/../.GIT/HEAD", key},
		{"query", "GET", "/shop/items/1?q=1%20UNION%20SELECT%20pw", key},
		{"query, form-encoded", "GET", "/shop/items/1?q=union+select", key},
		{"header", "GET", "/shop/items/1", hdr("X-API-Key", acmeKey, "User-Agent", "sqlmap/1.7")},
		{"before auth", "GET", "/shop/items/.git", nil},
	} {
		resp, body := e.do(c.method, c.path, c.h, nil)
		if resp.StatusCode != 403 || decodeError(t, resp, body).Error.Code != "request_blocked" {
			t.Errorf("%s: %d %s, want 403 request_blocked", c.name, resp.StatusCode, body)
		}
	}
	before := len(rec.all())
	if before != 0 {
		t.Fatalf("the upstream saw %d blocked requests", before)
	}
	// A path pattern looks at the path, not at a query that mentions one.
	if resp, body := e.do("GET", "/shop/items/1?next=/.git/", key, nil); resp.StatusCode != 200 {
		t.Fatalf("a path filter matched the query: %d %s", resp.StatusCode, body)
	}
	resp, _ := e.do("GET", "/shop/items/1", hdr("X-API-Key", acmeKey, "User-Agent", "curl/8"), nil)
	if resp.StatusCode != 200 || len(rec.all()) != before+2 {
		t.Fatalf("a log-only filter blocked: %d", resp.StatusCode)
	}
	time.Sleep(50 * time.Millisecond) // the access log flushes every 10 ms
	if !strings.Contains(e.log.String(), `"filter":"curl-watch"`) {
		t.Fatalf("the access log does not name the log-only filter:\n%s", e.log.String())
	}
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := startPolicies(t, rec.srv.URL)
	resp, body := e.do("GET", "/shop/items/1", hdr("Authorization", basicAuth("acme", "open sesame")), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("good password: %d %s", resp.StatusCode, body)
	}
	got := rec.last(t)
	if got.Header.Get("Authorization") != "" || got.Header.Get("X-Consumer") != "acme" {
		t.Fatalf("upstream saw Authorization %q and X-Consumer %q", got.Header.Get("Authorization"), got.Header.Get("X-Consumer"))
	}
	for _, a := range []string{basicAuth("acme", "open sesam"), basicAuth("nobody", "open sesame"), "Basic !!", ""} {
		resp, body := e.do("GET", "/shop/items/1", hdr("Authorization", a), nil)
		if resp.StatusCode != 401 || decodeError(t, resp, body).Error.Code != "unauthorized" ||
			resp.Header.Get("WWW-Authenticate") != `Basic realm="partners", charset="UTF-8"` {
			t.Errorf("Authorization %q: %d %v", a, resp.StatusCode, resp.Header)
		}
	}
	if n := len(rec.all()); n != 1 {
		t.Fatalf("the upstream saw %d requests, want 1", n)
	}
}

// TestBasicGuessing: through the gateway, a client past ten failed basic
// passwords a minute is answered 429 with Retry-After, its right password
// included, and reaches nothing.
func TestBasicGuessing(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := startPolicies(t, rec.srv.URL)
	for i := range 10 {
		resp, _ := e.do("GET", "/shop/items/1", hdr("Authorization", basicAuth("acme", fmt.Sprintf("guess %d", i))), nil)
		if resp.StatusCode != 401 {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	resp, body := e.do("GET", "/shop/items/1", hdr("Authorization", basicAuth("acme", "open sesame")), nil)
	if resp.StatusCode != 429 || decodeError(t, resp, body).Error.Code != "rate_limited" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("the right password after ten guesses: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if n := len(rec.all()); n != 0 {
		t.Fatalf("the upstream saw %d requests", n)
	}
	// Other methods on the route are not concerned.
	if resp, _ := e.do("GET", "/shop/items/1", hdr("X-API-Key", acmeKey), nil); resp.StatusCode != 200 {
		t.Fatalf("an API key from the same client: %d", resp.StatusCode)
	}
}

func TestAPIIPDeny(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := start(t, strings.Replace(strings.Replace(policiesConfig, "HASH", "$2a$04$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234", 1),
		"ip_deny: [192.0.2.0/24]", "ip_deny: [127.0.0.0/8]", 1), rec.srv.URL)
	resp, body := e.do("GET", "/shop/tenant", nil, nil)
	if resp.StatusCode != 403 || decodeError(t, resp, body).Error.Code != "forbidden" || len(rec.all()) != 0 {
		t.Fatalf("a client in the API's ip_deny: %d %s", resp.StatusCode, body)
	}
}

func TestLimitByHeaderAndPlan(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := startPolicies(t, rec.srv.URL)
	for i, tenant := range []string{"a", "a", "a", "b", "", "", ""} {
		h := http.Header{}
		if tenant != "" {
			h.Set("X-Tenant", tenant)
		}
		resp, _ := e.do("GET", "/shop/tenant", h, nil)
		want := map[int]int{0: 200, 1: 200, 2: 429, 3: 200, 4: 200, 5: 200, 6: 429}[i]
		if resp.StatusCode != want {
			t.Fatalf("request %d (tenant %q): %d, want %d", i, tenant, resp.StatusCode, want)
		}
	}
	// Consumer "other" is on plan tiny: quota 2 a day (the plan's 3 per
	// hour never gets to refuse). acme has no plan.
	key := hdr("X-API-Key", otherKey)
	for i := range 3 {
		resp, body := e.do("GET", "/shop/plan", key, nil)
		switch {
		case i < 2 && (resp.StatusCode != 200 || resp.Header.Get("RateLimit-Limit") != "3"):
			t.Fatalf("plan request %d: %d %v", i, resp.StatusCode, resp.Header)
		case i == 2 && (resp.StatusCode != 429 || decodeError(t, resp, body).Error.Code != "quota_exceeded" || resp.Header.Get("Retry-After") == ""):
			t.Fatalf("plan request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	// The plan counts across routes: its quota is spent on /items too.
	if resp, _ := e.do("GET", "/shop/items/1", key, nil); resp.StatusCode != 429 {
		t.Fatalf("the plan's quota did not apply on another route: %d", resp.StatusCode)
	}
	for range 5 {
		if resp, _ := e.do("GET", "/shop/plan", hdr("X-API-Key", acmeKey), nil); resp.StatusCode != 200 {
			t.Fatalf("a consumer without a plan was limited: %d", resp.StatusCode)
		}
	}
}
