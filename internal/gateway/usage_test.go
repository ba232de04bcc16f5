package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/telemetry"
	"github.com/portico-gw/portico/internal/usage"
)

const usagePlans = `version: 1
upstreams:
  - name: up
    targets: [{url: "UPSTREAM"}]
plans:
  - name: capped
    quota: {limit: 2, period: day}
    pricing: {currency: USD, tiers: [{price: 0.01}]}
  - name: billed
    quota: {limit: 2, period: day}
    pricing: {currency: USD, tiers: [{price: 0.01}], overage: bill}
consumers:
  - name: capped-co
    plan: capped
    api_keys: [capped-key-0123456789]
  - name: billed-co
    plan: billed
    api_keys: [billed-key-0123456789]
apis:
  - name: shop
    base_path: /shop
    upstream: up
    auth: [api_key]
    routes: [{name: all, path: "/{rest...}"}]
  - name: open
    base_path: /open
    upstream: up
    auth: [none]
    routes: [{name: all, path: "/{rest...}"}]
`

// TestUsageRecordsAndOverage: a plan whose overage is billed lets requests
// past its quota through (a blocking one answers 429), and every request
// that matched a route leaves one usage record naming its consumer, plan,
// status and bytes; an unmatched one leaves none.
func TestUsageRecordsAndOverage(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hello")) }))
	defer up.Close()
	e := start(t, usagePlans, up.URL)
	rec := usage.NewRecorder(100, 100, telemetry.NewMetrics())
	e.gw.RecordUsage(rec)
	statuses := func(key string) string {
		var out []string
		for range 4 {
			resp, _ := e.do("POST", "/shop/x", hdr("X-API-Key", key), strings.NewReader("body!"))
			out = append(out, resp.Status[:3])
		}
		return strings.Join(out, ",")
	}
	if got := statuses("capped-key-0123456789"); got != "200,200,429,429" {
		t.Errorf("blocking quota: %s", got)
	}
	if got := statuses("billed-key-0123456789"); got != "200,200,200,200" {
		t.Errorf("billed overage: %s, want every request through", got)
	}
	e.do("GET", "/open/y", nil, nil)
	e.do("GET", "/nowhere", nil, nil)
	recs := takeRecords(rec, 9)
	if len(recs) != 9 {
		t.Fatalf("%d usage records, want 9 (8 keyed, 1 anonymous; none for the 404)", len(recs))
	}
	want := map[string]int{"capped-co/capped/200": 2, "capped-co/capped/429": 2, "billed-co/billed/200": 4, "//200": 1}
	got := map[string]int{}
	for _, r := range recs {
		got[r.Consumer+"/"+r.Plan+"/"+itoa(r.Status)]++
		if r.API == "" || r.Route != "all" || r.RequestID == "" || r.Time.IsZero() || r.Latency <= 0 {
			t.Errorf("incomplete record %+v", r)
		}
		if r.Status == 200 && r.BytesOut != 5 || r.Status == 200 && r.API == "shop" && r.BytesIn != 5 {
			t.Errorf("bytes in/out of %+v", r)
		}
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("records %v, want %v", got, want)
			break
		}
	}
}
