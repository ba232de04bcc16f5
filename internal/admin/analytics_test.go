package admin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/usage"
)

const pricedYAML = `version: 1
upstreams:
  - name: orders
    targets: [{url: "http://127.0.0.1:9001"}]
plans:
  - name: gold
    pricing:
      currency: EUR
      monthly_fee: 10
      included: 2
      tiers: [{up_to: 5, price: 0.25}, {up_to: null, price: 0.1}]
consumers:
  - name: acme
    plan: gold
    api_keys: [acme-key-0123456789]
apis:
  - name: orders
    base_path: /orders
    upstream: orders
    auth: [api_key]
    routes:
      - name: get-order
        methods: [GET]
        path: /{id}
alerts:
  - name: orders-errors
    api: orders
    when: {metric: error_rate, above: 0.5}
    notify: [{webhook: "https://hooks.example.com/x", secret: s3cret}]
`

// TestAnalyticsAPI writes known usage to the store and reads it back
// through every analytics, statement and alert endpoint.
func TestAnalyticsAPI(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	if code, body, _ := s.call(rootToken, "PUT", "/admin/v1/groups/default/draft", "application/yaml", pricedYAML); code != 200 {
		t.Fatalf("draft: %d %v", code, body)
	}
	if code, body, _ := s.call(rootToken, "POST", "/admin/v1/groups/default/revisions", "application/json", `{"message":"priced"}`); code != 202 {
		t.Fatalf("publish: %d %v", code, body)
	}
	// acme: 8 × 200 at 10 ms, 2 × 500 at 100 ms, 1 × 429; "=cmd" (a
	// token's subject, say, known to no config): 3 × 200.
	at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	var recs []store.UsageRecord
	add := func(consumer string, n, status int, lat time.Duration) {
		for range n {
			recs = append(recs, store.UsageRecord{Time: at.Add(time.Duration(len(recs)) * time.Second), API: "orders", Route: "get-order",
				Consumer: consumer, Status: status, Latency: lat, BytesOut: 100, RequestID: fmt.Sprint("r", len(recs))})
		}
	}
	add("acme", 8, 200, 10*time.Millisecond)
	add("acme", 2, 500, 100*time.Millisecond)
	add("acme", 1, 429, time.Millisecond)
	add("=cmd", 3, 200, 10*time.Millisecond)
	if _, err := s.st.WriteUsage(context.Background(), store.UsageBatch{ID: "b1", Group: "default", Node: "n", Records: recs, Rollups: usage.Rollups(recs)}); err != nil {
		t.Fatal(err)
	}
	rng := "from=2026-11-03T09:00:00Z&to=2026-11-03T11:00:00Z"
	code, sum, _ := s.call(rootToken, "GET", "/admin/v1/analytics/summary?"+rng, "", "")
	if code != 200 || sum["requests"] != 14.0 || sum["errors"] != 2.0 || sum["bytes_out"] != 1400.0 || sum["status"].(map[string]any)["4xx"] != 1.0 {
		t.Fatalf("summary: %d %v", code, sum)
	}
	if p50, p99 := sum["p50_ms"].(float64), sum["p99_ms"].(float64); p50 < 9.9 || p50 > 10.1 || p99 < 99 || p99 > 101 {
		t.Errorf("p50 %v, p99 %v", p50, p99)
	}
	_, sum, _ = s.call(rootToken, "GET", "/admin/v1/analytics/summary?"+rng+"&consumer=acme&status=5xx", "", "")
	if sum["requests"] != 2.0 || sum["error_rate"] != 1.0 {
		t.Errorf("acme 5xx: %v", sum)
	}
	code, ts, _ := s.call(rootToken, "GET", "/admin/v1/analytics/timeseries?granularity=hour&"+rng, "", "")
	if pts, _ := ts["points"].([]any); code != 200 || len(pts) != 2 || pts[1].(map[string]any)["requests"] != 14.0 {
		t.Errorf("time series: %d %v", code, ts)
	}
	code, top, _ := s.call(rootToken, "GET", "/admin/v1/analytics/top?by=consumer&limit=1&"+rng, "", "")
	if list, _ := top["top"].([]any); code != 200 || len(list) != 1 || list[0].(map[string]any)["key"] != "acme" {
		t.Errorf("top: %d %v", code, top)
	}
	for _, bad := range []string{"summary?from=yesterday", "summary?" + "from=2026-11-03T11:00:00Z&to=2026-11-03T09:00:00Z", "summary?status=6xx",
		"timeseries?granularity=week", "timeseries?granularity=minute&from=2020-01-01T00:00:00Z", "top?by=planet", "top?order=bytes", "top?limit=0"} {
		if code, body, _ := s.call(rootToken, "GET", "/admin/v1/analytics/"+bad, "", ""); code != 400 {
			t.Errorf("%s: %d %v, want 400", bad, code, body)
		}
	}
	// acme: 11 requests, 8 billable (no 5xx, no 429): 1-2 free, 3-5 at
	// 0.25, 6-8 at 0.1, plus the fee: 10 + 0.75 + 0.30 = 11.05.
	code, st, _ := s.call(rootToken, "GET", "/admin/v1/consumers/acme/statements/2026-11", "", "")
	if code != 200 || st["requests"] != 11.0 || st["billable"] != 8.0 || st["amount"] != "11.05" || st["currency"] != "EUR" || len(st["lines"].([]any)) != 4 {
		t.Fatalf("statement: %d %v", code, st)
	}
	if code, _, _ := s.call(rootToken, "GET", "/admin/v1/consumers/nobody/statements/2026-11", "", ""); code != 404 {
		t.Errorf("unknown consumer: %d", code)
	}
	if code, _, _ := s.call(rootToken, "GET", "/admin/v1/consumers/acme/statements/11-2026", "", ""); code != 400 {
		t.Errorf("bad month: %d", code)
	}
	code, all, _ := s.call(rootToken, "GET", "/admin/v1/statements/2026-11", "", "")
	if list, _ := all["statements"].([]any); code != 200 || len(list) != 2 {
		t.Fatalf("all statements: %d %v", code, all)
	}
	req, _ := http.NewRequest("GET", s.url+"/admin/v1/statements/2026-11?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+rootToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	csv, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(csv), "2026-11,acme,gold,EUR,11,8,Total,,,11.05") || !strings.Contains(string(csv), "'=cmd") {
		t.Errorf("CSV export:\n%s", csv)
	}
	if code, _, _ := s.call(rootToken, "GET", "/admin/v1/statements/2026-11?format=xml", "", ""); code != 400 {
		t.Errorf("format=xml: %d", code)
	}

	// Alerts: the rule from the revision, its state and history.
	if _, _, err := s.st.AlertTransition(context.Background(), store.AlertOK, store.AlertEvent{Group: "default", Rule: "orders-errors",
		State: store.AlertFiring, Metric: "error_rate", Value: 0.8, Threshold: 0.5, At: time.Now(), Node: "n"}); err != nil {
		t.Fatal(err)
	}
	code, al, _ := s.call(rootToken, "GET", "/admin/v1/alerts", "", "")
	if list, _ := al["alerts"].([]any); code != 200 || len(list) != 1 || list[0].(map[string]any)["state"] != "firing" {
		t.Errorf("alerts: %d %v", code, al)
	}
	code, evs, _ := s.call(rootToken, "GET", "/admin/v1/alerts/events?alert=orders-errors", "", "")
	if list, _ := evs["events"].([]any); code != 200 || len(list) != 1 || list[0].(map[string]any)["state"] != "firing" {
		t.Errorf("alert events: %d %v", code, evs)
	}
	if code, _, _ := s.call(rootToken, "GET", "/admin/v1/alerts/events?limit=abc", "", ""); code != 400 {
		t.Errorf("limit=abc: %d", code)
	}
	// A token bound to a consumer reads that consumer's usage only.
	code, ct, _ := s.call(rootToken, "POST", "/admin/v1/tokens", "application/json", `{"name":"acme-portal","role":"viewer","consumer":"acme"}`)
	if code != 201 || ct["consumer"] != "acme" {
		t.Fatalf("consumer token: %d %v", code, ct)
	}
	acmeTok := ct["token"].(string)
	if _, sum, _ := s.call(acmeTok, "GET", "/admin/v1/analytics/summary?"+rng, "", ""); sum["requests"] != 11.0 {
		t.Errorf("acme's own summary: %v, want its 11 requests", sum)
	}
	if _, top, _ := s.call(acmeTok, "GET", "/admin/v1/analytics/top?by=consumer&"+rng, "", ""); len(top["top"].([]any)) != 1 {
		t.Errorf("acme's top consumers: %v, want only acme", top)
	}
	if code, _, _ := s.call(acmeTok, "GET", "/admin/v1/consumers/acme/statements/2026-11", "", ""); code != 200 {
		t.Errorf("acme's own statement: %d", code)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/admin/v1/analytics/summary?consumer=%3Dcmd"},
		{"GET", "/admin/v1/consumers/%3Dcmd/statements/2026-11"},
		{"GET", "/admin/v1/statements/2026-11"},
		{"GET", "/admin/v1/groups"},
		{"GET", "/admin/v1/consumers"},
		{"GET", "/admin/v1/alerts"},
	} {
		if code, _, _ := s.call(acmeTok, c.method, c.path, "", ""); code != 403 {
			t.Errorf("%s %s with acme's token: %d, want 403", c.method, c.path, code)
		}
	}
	if code, _, _ := s.call(rootToken, "POST", "/admin/v1/tokens", "application/json", `{"name":"bad","role":"editor","consumer":"acme"}`); code != 422 {
		t.Errorf("an editor token bound to a consumer: %d, want 422", code)
	}

	// A token scoped to another group reads none of it.
	s.call(rootToken, "PUT", "/admin/v1/groups/other", "", "")
	code, tok, _ := s.call(rootToken, "POST", "/admin/v1/tokens", "application/json", `{"name":"other-viewer","role":"viewer","groups":["other"]}`)
	if code != 201 {
		t.Fatalf("token: %d %v", code, tok)
	}
	for _, p := range []string{"/admin/v1/analytics/summary", "/admin/v1/statements/2026-11", "/admin/v1/alerts"} {
		if code, _, _ := s.call(tok["token"].(string), "GET", p, "", ""); code != 403 {
			t.Errorf("%s with a token of group other: %d, want 403", p, code)
		}
	}
}
