package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
)

type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

func decodeError(t *testing.T, resp *http.Response, body string) errorBody {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type = %q, want application/json", ct)
	}
	var e errorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	if e.Error.RequestID == "" || e.Error.RequestID != resp.Header.Get("X-Request-Id") {
		t.Fatalf("error request_id %q, header X-Request-Id %q: want equal and set", e.Error.RequestID, resp.Header.Get("X-Request-Id"))
	}
	return e
}

func TestAuthAndConsumer(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := start(t, baseConfig, rec.srv.URL)
	tests := []struct {
		desc     string
		path     string
		header   http.Header
		status   int
		code     string
		consumer string
	}{
		{desc: "no key", path: "/api/orders/7", status: 401, code: "unauthorized"},
		{desc: "wrong key", path: "/api/orders/7", header: hdr("X-API-Key", "wrong-key-0123456789"), status: 401, code: "unauthorized"},
		{desc: "two keys", path: "/api/orders/7", header: hdr("X-API-Key", acmeKey, "X-API-Key", otherKey), status: 401, code: "unauthorized"},
		{desc: "valid key", path: "/api/orders/7", header: hdr("X-API-Key", acmeKey), status: 200, consumer: "acme"},
		{desc: "header name is case-insensitive", path: "/api/orders/7", header: hdr("x-api-key", otherKey), status: 200, consumer: "other"},
		{desc: "anonymous route", path: "/api/public/x", status: 200},
		{desc: "allow-list admits", path: "/api/acme", header: hdr("X-API-Key", acmeKey), status: 200, consumer: "acme"},
		{desc: "allow-list refuses", path: "/api/acme", header: hdr("X-API-Key", otherKey), status: 403, code: "forbidden"},
		{desc: "allow-list needs a key first", path: "/api/acme", status: 401, code: "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			before := len(rec.all())
			resp, body := e.do("GET", tt.path, tt.header, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if tt.code != "" {
				if got := decodeError(t, resp, body).Error.Code; got != tt.code {
					t.Fatalf("error code = %q, want %q", got, tt.code)
				}
				if len(rec.all()) != before {
					t.Fatal("a refused request reached the upstream")
				}
				return
			}
			got := rec.last(t)
			if c := got.Header.Get("X-Consumer"); c != tt.consumer {
				t.Errorf("upstream X-Consumer = %q, want %q", c, tt.consumer)
			}
			if k := got.Header.Get("X-Api-Key"); k != "" {
				t.Errorf("upstream received the consumed API key %q", k)
			}
		})
	}
}

func TestInjectedHeadersCannotBeForged(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := start(t, baseConfig, rec.srv.URL)
	// Anonymous: a client-sent X-Consumer must not arrive at all.
	e.do("GET", "/api/public/x", hdr("X-Consumer", "admin", "X_Consumer", "admin", "X-Request-Id", "bad id with spaces"), nil)
	got := rec.last(t)
	for _, k := range []string{"X-Consumer", "X_consumer", "X_Consumer"} {
		if v, ok := got.Header[k]; ok {
			t.Errorf("upstream received %s: %v", k, v)
		}
	}
	if id := got.Header.Get("X-Request-Id"); id == "" || id == "bad id with spaces" {
		t.Errorf("upstream X-Request-Id = %q, want a generated one", id)
	}
	// Authenticated: the real consumer replaces the forged one.
	e.do("GET", "/api/orders/1", hdr("X-API-Key", otherKey, "X-Consumer", "acme"), nil)
	if got := rec.last(t).Header.Values("X-Consumer"); len(got) != 1 || got[0] != "other" {
		t.Errorf("upstream X-Consumer = %v, want [other]", got)
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := start(t, baseConfig, rec.srv.URL)
	resp, _ := e.do("GET", "/api/public/x", hdr("X-Request-Id", "client-id-42"), nil)
	if got := resp.Header.Get("X-Request-Id"); got != "client-id-42" {
		t.Errorf("response X-Request-Id = %q, want the client's", got)
	}
	if got := rec.last(t).Header.Get("X-Request-Id"); got != "client-id-42" {
		t.Errorf("upstream X-Request-Id = %q, want the client's", got)
	}
	long := strings.Repeat("a", 200)
	resp, _ = e.do("GET", "/api/public/x", hdr("X-Request-Id", long), nil)
	if got := resp.Header.Get("X-Request-Id"); got == long || got == "" {
		t.Errorf("a 200-character request ID was kept or dropped: %q", got)
	}
	seen := map[string]bool{}
	for range 50 {
		resp, _ := e.do("GET", "/nowhere", nil, nil)
		id := resp.Header.Get("X-Request-Id")
		if id == "" || seen[id] {
			t.Fatalf("request ID %q is empty or repeated", id)
		}
		seen[id] = true
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := start(t, baseConfig, rec.srv.URL)
	resp, body := e.do("GET", "/nothing/here", nil, nil)
	if resp.StatusCode != 404 || decodeError(t, resp, body).Error.Code != "not_found" {
		t.Errorf("got %d %s, want 404 not_found", resp.StatusCode, body)
	}
	resp, body = e.do("DELETE", "/api/orders/7", hdr("X-API-Key", acmeKey), nil)
	if resp.StatusCode != 405 || decodeError(t, resp, body).Error.Code != "method_not_allowed" {
		t.Fatalf("got %d %s, want 405 method_not_allowed", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Allow"); got != "GET, HEAD, PUT" {
		t.Errorf("Allow = %q, want %q", got, "GET, HEAD, PUT")
	}
	if len(rec.all()) != 0 {
		t.Error("404/405 requests reached the upstream")
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := start(t, baseConfig, rec.srv.URL)
	key := hdr("X-API-Key", acmeKey)
	resp, body := e.do("POST", "/api/upload", key, strings.NewReader("0123456789"))
	if resp.StatusCode != 200 || rec.last(t).Body != "0123456789" {
		t.Fatalf("10-byte body: %d %s, want 200 and the body upstream", resp.StatusCode, body)
	}
	n := len(rec.all())
	resp, body = e.do("POST", "/api/upload", key, strings.NewReader("0123456789A"))
	if resp.StatusCode != 413 || decodeError(t, resp, body).Error.Code != "body_too_large" {
		t.Fatalf("11 bytes with Content-Length: %d %s, want 413", resp.StatusCode, body)
	}
	if len(rec.all()) != n {
		t.Fatal("a body over the limit with Content-Length reached the upstream")
	}
	// Without Content-Length (chunked), the body is cut off at the limit.
	resp, body = e.do("POST", "/api/upload", key, io.MultiReader(strings.NewReader("01234"), strings.NewReader("56789AB")))
	if resp.StatusCode != 413 {
		t.Fatalf("chunked 12 bytes: %d %s, want 413", resp.StatusCode, body)
	}
	for _, r := range rec.all()[n:] {
		if len(r.Body) > 10 {
			t.Fatalf("the upstream received %d bytes, over the limit", len(r.Body))
		}
	}
}

func TestChunkedRequestBodyIsStreamed(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := start(t, baseConfig, rec.srv.URL)
	body := strings.Repeat("x", 100_000)
	resp, _ := e.do("PUT", "/api/orders/9", hdr("X-API-Key", acmeKey), io.MultiReader(strings.NewReader(body[:1]), strings.NewReader(body[1:])))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := rec.last(t)
	if got.Body != body || got.ContentLength != -1 || len(got.TransferEncoding) != 1 || got.TransferEncoding[0] != "chunked" {
		t.Fatalf("upstream got %d bytes, Content-Length %d, TE %v; want the whole body, chunked", len(got.Body), got.ContentLength, got.TransferEncoding)
	}
}

func TestAccessLogAndMetrics(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	e := start(t, baseConfig, rec.srv.URL)
	resp, _ := e.do("GET", "/api/orders/7", hdr("X-API-Key", acmeKey), nil)
	id := resp.Header.Get("X-Request-Id")
	e.do("GET", "/api/orders/7", nil, nil)

	var line map[string]any
	deadline := time.Now().Add(2 * time.Second)
	for line == nil && time.Now().Before(deadline) {
		for l := range strings.SplitSeq(e.log.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["request_id"] == id {
				line = m
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if line == nil {
		t.Fatalf("no access log line for request %s in:\n%s", id, e.log.String())
	}
	want := map[string]any{"method": "GET", "path": "/api/orders/7", "status": float64(200), "api": "api", "route": "order", "consumer": "acme", "upstream": "up"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log field %s = %v, want %v", k, line[k], v)
		}
	}
	for _, k := range []string{"time", "duration_ms"} {
		if _, ok := line[k]; !ok {
			t.Errorf("log line has no %s", k)
		}
	}

	mfs, err := e.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "portico_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			counts[l["route"]+" "+l["code"]] += m.GetCounter().GetValue()
		}
	}
	if counts["order 200"] != 1 || counts["order 401"] != 1 {
		t.Errorf("request counters = %v, want one 200 and one 401 on route order", counts)
	}
}

func TestHashedKeysAuthenticate(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	cfg := strings.Replace(baseConfig, "api_keys: [other-key-0123456789]", "api_keys: [\""+config.HashKey(otherKey)+"\"]", 1)
	e := start(t, cfg, rec.srv.URL)
	resp, _ := e.do("GET", "/api/orders/1", hdr("X-API-Key", otherKey), nil)
	if resp.StatusCode != 200 || rec.last(t).Header.Get("X-Consumer") != "other" {
		t.Fatalf("a key stored as its hash: %d, consumer %q", resp.StatusCode, rec.last(t).Header.Get("X-Consumer"))
	}
	if resp, _ := e.do("GET", "/api/orders/1", hdr("X-API-Key", config.HashKey(otherKey)), nil); resp.StatusCode != 401 {
		t.Fatalf("the stored hash itself was accepted as a key: %d", resp.StatusCode)
	}
}

func TestAPIKeyInQuery(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	cfg := strings.Replace(baseConfig, "\nconsumers:", "\nauth_policies:\n  - name: legacy\n    type: api_key\n    query_param: api_key\nconsumers:", 1)
	cfg = strings.Replace(cfg, "      - name: public\n        path: /public/{rest...}\n        auth: [none]", "      - name: public\n        path: /public/{rest...}\n        auth: [legacy]", 1)
	e := start(t, cfg, rec.srv.URL)
	resp, _ := e.do("GET", "/api/public/x?a=1&api_key="+acmeKey+"&b=%20two&api%5Fkey=dup", nil, nil)
	if resp.StatusCode != 401 {
		t.Fatalf("two keys in the query (one percent-encoded): %d, want 401", resp.StatusCode)
	}
	resp, _ = e.do("GET", "/api/public/x?a=1&api_key="+acmeKey+"&b=%20two", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("key in the query: %d", resp.StatusCode)
	}
	got := rec.last(t)
	if got.URI != "/public/x?a=1&b=%20two" || got.Header.Get("X-Consumer") != "acme" {
		t.Fatalf("upstream saw %q as %q; want the other parameters kept verbatim and the key gone", got.URI, got.Header.Get("X-Consumer"))
	}
	if resp, _ := e.do("GET", "/api/orders/1?api_key="+acmeKey, nil, nil); resp.StatusCode != 401 {
		t.Fatalf("a route whose policy reads no query accepted the query key: %d", resp.StatusCode)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	cfg := strings.Replace(baseConfig, "      - name: public\n        path: /public/{rest...}\n        auth: [none]",
		"      - name: public\n        path: /public/{rest...}\n        auth: [none]\n        rate_limit: [{limit: 3, window: 1m}, {limit: 100, window: 1h}]", 1)
	e := start(t, cfg, rec.srv.URL)
	for i, want := range []string{"2", "1", "0"} {
		resp, _ := e.do("GET", "/api/public/x", nil, nil)
		if resp.StatusCode != 200 || resp.Header.Get("RateLimit-Limit") != "3" || resp.Header.Get("RateLimit-Remaining") != want || resp.Header.Get("RateLimit-Reset") == "" {
			t.Fatalf("request %d: %d, limit %q remaining %q reset %q", i, resp.StatusCode,
				resp.Header.Get("RateLimit-Limit"), resp.Header.Get("RateLimit-Remaining"), resp.Header.Get("RateLimit-Reset"))
		}
	}
	resp, body := e.do("GET", "/api/public/x", nil, nil)
	if resp.StatusCode != 429 || decodeError(t, resp, body).Error.Code != "rate_limited" || resp.Header.Get("Retry-After") != "20" || resp.Header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("4th request: %d %s, Retry-After %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if n := len(rec.all()); n != 3 {
		t.Fatalf("the upstream saw %d requests, want 3", n)
	}
	// Spoofed X-Forwarded-For from an untrusted peer does not make a new
	// client (anonymous routes count per IP).
	if resp, _ := e.do("GET", "/api/public/x", hdr("X-Forwarded-For", "203.0.113.9"), nil); resp.StatusCode != 429 {
		t.Fatalf("a spoofed X-Forwarded-For escaped the limit: %d", resp.StatusCode)
	}
	// A reload with the same limits keeps the budget spent.
	e.load(cfg, rec.srv.URL)
	if resp, _ := e.do("GET", "/api/public/x", nil, nil); resp.StatusCode != 429 {
		t.Fatalf("after a reload: %d, want still 429", resp.StatusCode)
	}
	// Routes without a limit carry no RateLimit headers.
	if resp, _ := e.do("GET", "/api/orders/1", hdr("X-API-Key", acmeKey), nil); resp.Header.Get("RateLimit-Limit") != "" {
		t.Fatalf("an unlimited route answered RateLimit-Limit %q", resp.Header.Get("RateLimit-Limit"))
	}
}
