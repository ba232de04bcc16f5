package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/portico-gw/portico/internal/policy/access"
	"github.com/portico-gw/portico/internal/policy/apikey"
	"github.com/portico-gw/portico/internal/telemetry"
	"github.com/portico-gw/portico/internal/usage"
)

const sandboxConfig = `version: 1
upstreams:
  - name: up
    targets: [{url: "UPSTREAM"}]
consumers:
  - name: acme
    api_keys: [acme-key-0123456789]
apis:
  - name: orders
    base_path: /orders
    upstream: up
    auth: [api_key]
    portal:
      visibility: public
      openapi_document: |
        openapi: 3.0.3
        info: {title: Orders, version: "1"}
        paths:
          /orders/{id}:
            get:
              responses:
                "200":
                  description: ok
                  content:
                    application/json:
                      example: {id: ord_1, status: shipped}
          /orders:
            post:
              responses:
                "201":
                  description: created
                  content:
                    application/json:
                      schema:
                        type: object
                        properties: {id: {type: string}, total: {type: integer}}
    routes:
      - {name: get-order, methods: [GET], path: "/orders/{id}"}
      - {name: create-order, methods: [POST], path: /orders, rate_limit: {limit: 2, window: 1h}}
      - {name: other, methods: [GET], path: /other}
`

// TestSandbox: an API in the portal with an OpenAPI document gets a
// sandbox under /sandbox/<api>: the same authentication and limits, the
// document's examples (given or generated) for answers, and never the
// upstream. Sandbox calls are metered as "sandbox:<api>".
func TestSandbox(t *testing.T) {
	t.Parallel()
	var reached atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer up.Close()
	e := start(t, sandboxConfig, up.URL)
	rec := usage.NewRecorder(100, 100, telemetry.NewMetrics())
	e.gw.RecordUsage(rec)
	key := hdr("X-API-Key", acmeKey)

	resp, body := e.do("GET", "/sandbox/orders/orders/7", key, nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Portico-Sandbox") != "true" || body != `{"id":"ord_1","status":"shipped"}` {
		t.Fatalf("GET in the sandbox: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	resp, body = e.do("POST", "/sandbox/orders/orders", key, strings.NewReader(`{}`))
	if resp.StatusCode != 201 || body != `{"id":"string","total":0}` {
		t.Fatalf("POST in the sandbox (a generated example): %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do("GET", "/sandbox/orders/orders/7", nil, nil); resp.StatusCode != 401 {
		t.Fatalf("the sandbox without a key: %d", resp.StatusCode)
	}
	e.do("POST", "/sandbox/orders/orders", key, strings.NewReader(`{}`))
	if resp, _ := e.do("POST", "/sandbox/orders/orders", key, strings.NewReader(`{}`)); resp.StatusCode != 429 {
		t.Fatalf("the route's rate limit in the sandbox: %d", resp.StatusCode)
	}
	resp, body = e.do("GET", "/sandbox/orders/other", key, nil)
	if resp.StatusCode != 404 || decodeError(t, resp, body).Error.Code != "sandbox_no_operation" {
		t.Fatalf("a route the document lacks: %d %s", resp.StatusCode, body)
	}
	if reached.Load() != 0 {
		t.Fatalf("the sandbox reached the upstream %d times", reached.Load())
	}
	// The real API is untouched by the sandbox's limit and reaches the upstream.
	if resp, _ := e.do("POST", "/orders/orders", key, strings.NewReader(`{}`)); resp.StatusCode != 200 || reached.Load() != 1 {
		t.Fatalf("the real API: %d, upstream reached %d", resp.StatusCode, reached.Load())
	}
	recs := takeRecords(rec, 7)
	if len(recs) != 7 || recs[0].API != "sandbox:orders" || recs[0].Consumer != "acme" || recs[0].Upstream != "sandbox" || recs[6].API != "orders" {
		t.Fatalf("usage records: %+v", recs)
	}
}

// TestSubscriptionRequired: an application of the portal (a consumer
// named app_…, whose key is live data) calls a portal API only with an
// active subscription, and an API outside the portal never; other
// consumers are not concerned, and the sandbox is open to every
// application.
func TestSubscriptionRequired(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	cfg := sandboxConfig + `  - name: internal
    base_path: /internal
    upstream: up
    auth: [api_key]
    routes: [{name: all, path: "/{rest...}"}]
`
	e := start(t, cfg, up.URL)
	subs := &access.Subscriptions{}
	e.rt.Subscriptions = subs
	e.rt.LiveKeys.Set(apikey.NewLiveKeyring([]apikey.LiveKey{{Consumer: "app_1", Digest: apikey.KeyDigest("app-key-0123456789")}}, nil))
	e.load(cfg, up.URL)
	app := hdr("X-API-Key", "app-key-0123456789")
	resp, body := e.do("GET", "/orders/orders/1", app, nil)
	if resp.StatusCode != 403 || decodeError(t, resp, body).Error.Code != "subscription_required" {
		t.Fatalf("an application without a subscription: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do("GET", "/sandbox/orders/orders/1", app, nil); resp.StatusCode != 200 {
		t.Fatalf("the sandbox for an application without a subscription: %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", "/orders/orders/1", hdr("X-API-Key", acmeKey), nil); resp.StatusCode != 200 {
		t.Fatalf("a consumer of the config: %d", resp.StatusCode)
	}
	subs.Set(map[string]map[string]bool{"app_1": {"orders": true}})
	if resp, _ := e.do("GET", "/orders/orders/1", app, nil); resp.StatusCode != 200 {
		t.Fatalf("a subscribed application: %d", resp.StatusCode)
	}
	// An API kept out of the portal: a developer's key never opens it,
	// whatever the subscriptions; the config's consumers call it.
	resp, body = e.do("GET", "/internal/x", app, nil)
	if resp.StatusCode != 403 || decodeError(t, resp, body).Error.Code != "forbidden" {
		t.Fatalf("an application on an API outside the portal: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do("GET", "/internal/x", hdr("X-API-Key", acmeKey), nil); resp.StatusCode != 200 {
		t.Fatalf("a consumer of the config outside the portal: %d", resp.StatusCode)
	}
}
