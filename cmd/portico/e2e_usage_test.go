package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// usageUpstream answers /lat/{ms} after ms milliseconds, /status/{code}
// with that status, anything else 200 at once.
func usageUpstream(t *testing.T) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		if len(parts) == 2 && parts[0] == "lat" {
			ms, _ := strconv.Atoi(parts[1])
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		if len(parts) == 2 && parts[0] == "status" {
			code, _ := strconv.Atoi(parts[1])
			w.WriteHeader(code)
		}
		io.WriteString(w, "hello from "+r.URL.Path)
	}))
	t.Cleanup(up.Close)
	return up
}

func usageConfig(upstream string) string {
	return `version: 1
upstreams:
  - name: up
    targets: [{url: "` + upstream + `"}]
plans:
  - name: gold
    pricing:
      currency: USD
      included: 10
      tiers:
        - {up_to: 50, price: 0.001}
        - {up_to: null, price: 0.0005}
consumers:
  - name: acme
    plan: gold
    api_keys: ["acme-key-0123456789"]
  - name: beta
    api_keys: ["beta-key-0123456789"]
apis:
  - name: shop
    base_path: /shop
    upstream: up
    auth: [api_key]
    routes:
      - name: any
        path: /{rest...}
      - name: limited
        path: /limited
        rate_limit: {limit: 3, window: 1h}
`
}

// logLine is what the test reads back from the access log: the gateway's
// own account of each request, the ground truth analytics must match.
type logLine struct {
	RequestID  string  `json:"request_id"`
	Status     int     `json:"status"`
	DurationMS float64 `json:"duration_ms"`
	BytesOut   int64   `json:"bytes_out"`
	API        string  `json:"api"`
	Route      string  `json:"route"`
	Consumer   string  `json:"consumer"`
}

func accessLog(out string) []logLine {
	var lines []logLine
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.RequestID != "" && l.API != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestUsageAnalyticsEndToEnd drives a known mix of requests through the
// real binary (two consumers, three routes, statuses 200/404/429/500 and
// latencies of 5-120 ms from a controlled upstream), then checks that the
// analytics API returns exactly the access log's counts and bytes, and
// percentiles within the sketch's 1% of the exact ones, that filters,
// time series and top lists agree, and that the monthly statement and its
// CSV export match a hand computation from the plan's tiers.
func TestUsageAnalyticsEndToEnd(t *testing.T) {
	t.Parallel()
	up := usageUpstream(t)
	const token = "ptk_usage-e2e-token"
	n := startNode(t, []string{"PORTICO_ADMIN_TOKEN=" + token}, "--config", writeConfig(t, usageConfig(up.URL)))
	const acme, beta = "acme-key-0123456789", "beta-key-0123456789"
	start := time.Now().UTC()
	type call struct {
		key, path string
		times     int
		want      int
	}
	calls := []call{
		{acme, "/shop/lat/5", 30, 200},
		{acme, "/shop/lat/20", 20, 200},
		{acme, "/shop/lat/120", 6, 200},
		{acme, "/shop/status/500", 5, 500},
		{acme, "/shop/status/404", 4, 404},
		{acme, "/shop/limited", 5, 0}, // 3 pass, 2 are refused 429
		{beta, "/shop/lat/10", 12, 200},
		{beta, "/shop/status/503", 2, 503},
	}
	for _, c := range calls {
		for range c.times {
			status, _ := n.get(c.path, "X-API-Key", c.key)
			if c.want != 0 && status != c.want {
				t.Fatalf("%s: %d, want %d", c.path, status, c.want)
			}
		}
	}
	sent := time.Now()
	const total = 30 + 20 + 6 + 5 + 4 + 5 + 12 + 2

	q := url.Values{"from": {start.Add(-time.Minute).Format(time.RFC3339)}, "to": {time.Now().UTC().Add(time.Minute).Format(time.RFC3339)}}
	var sum map[string]any
	for {
		_, sum = n.adminCall(token, "GET", "/admin/v1/analytics/summary?"+q.Encode(), "")
		if sum["requests"] == float64(total) {
			break
		}
		if time.Since(sent) > 5*time.Second {
			t.Fatalf("5 s after the last request the summary has %v requests, want %d: %v", sum["requests"], total, sum)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("records reached the analytics API %v after the last request", time.Since(sent).Round(time.Millisecond))

	// The access log is flushed every 200 ms.
	time.Sleep(400 * time.Millisecond)
	lines := accessLog(n.out.String())
	if len(lines) != total {
		t.Fatalf("%d access log lines, want %d", len(lines), total)
	}
	// check compares a summary with the log lines keep selects.
	check := func(what string, got map[string]any, keep func(logLine) bool) {
		t.Helper()
		var lat []float64
		var errs, bytes int64
		classes := map[string]int64{}
		for _, l := range lines {
			if !keep(l) {
				continue
			}
			lat = append(lat, l.DurationMS)
			if l.Status >= 500 {
				errs++
			}
			classes[strconv.Itoa(l.Status/100)+"xx"]++
			bytes += l.BytesOut
		}
		slices.Sort(lat)
		if got["requests"] != float64(len(lat)) || got["errors"] != float64(errs) || got["bytes_out"] != float64(bytes) {
			t.Errorf("%s: requests %v errors %v bytes_out %v, want %d %d %d", what, got["requests"], got["errors"], got["bytes_out"], len(lat), errs, bytes)
		}
		st, _ := got["status"].(map[string]any)
		for _, c := range []string{"2xx", "4xx", "5xx"} {
			if st[c] != float64(classes[c]) {
				t.Errorf("%s: status %s = %v, want %d", what, c, st[c], classes[c])
			}
		}
		for _, p := range []struct {
			key string
			q   float64
		}{{"p50_ms", 0.5}, {"p95_ms", 0.95}, {"p99_ms", 0.99}} {
			if len(lat) == 0 {
				continue
			}
			want := lat[int(p.q*float64(len(lat)-1))]
			v, _ := got[p.key].(float64)
			// 1% from the sketch, 0.001 ms from the log's and the API's rounding.
			if math.Abs(v-want) > 0.01*want+0.002 {
				t.Errorf("%s: %s = %v, exact %v (more than 1%% off)", what, p.key, v, want)
			}
		}
	}
	check("all", sum, func(logLine) bool { return true })
	for _, f := range []struct {
		query string
		keep  func(logLine) bool
	}{
		{"consumer=acme", func(l logLine) bool { return l.Consumer == "acme" }},
		{"consumer=beta", func(l logLine) bool { return l.Consumer == "beta" }},
		{"api=shop&route=limited", func(l logLine) bool { return l.Route == "limited" }},
		{"status=5xx", func(l logLine) bool { return l.Status >= 500 }},
		{"status=429", func(l logLine) bool { return l.Status == 429 }},
		{"consumer=acme&status=2xx", func(l logLine) bool { return l.Consumer == "acme" && l.Status/100 == 2 }},
	} {
		_, got := n.adminCall(token, "GET", "/admin/v1/analytics/summary?"+q.Encode()+"&"+f.query, "")
		check(f.query, got, f.keep)
	}

	// The time series adds up to the summary.
	_, ts := n.adminCall(token, "GET", "/admin/v1/analytics/timeseries?granularity=minute&"+q.Encode(), "")
	var inSeries float64
	points, _ := ts["points"].([]any)
	for _, p := range points {
		inSeries += p.(map[string]any)["requests"].(float64)
	}
	if inSeries != total || len(points) < 2 {
		t.Errorf("time series: %v requests in %d points, want %d", inSeries, len(points), total)
	}
	// Top consumers, and top routes by errors.
	_, top := n.adminCall(token, "GET", "/admin/v1/analytics/top?by=consumer&"+q.Encode(), "")
	entries, _ := top["top"].([]any)
	if len(entries) != 2 || entries[0].(map[string]any)["key"] != "acme" || entries[0].(map[string]any)["requests"] != float64(total-14) {
		t.Errorf("top consumers: %v", top)
	}
	_, top = n.adminCall(token, "GET", "/admin/v1/analytics/top?by=status&order=errors&"+q.Encode(), "")
	entries, _ = top["top"].([]any)
	if len(entries) != 2 || entries[0].(map[string]any)["key"] != "500" || entries[1].(map[string]any)["key"] != "503" {
		t.Errorf("top statuses by errors: %v", top)
	}

	// acme's statement: 70 requests, of which 5 were 500s and 2 were
	// refused 429: 63 billable. By hand: 1-10 included, 11-50 at 0.001
	// (40 × 0.001 = 0.040), 51-63 at 0.0005 (13 × 0.0005 = 0.0065).
	month := start.Format("2006-01")
	_, st := n.adminCall(token, "GET", "/admin/v1/consumers/acme/statements/"+month, "")
	if st["requests"] != float64(70) || st["billable"] != float64(63) || st["amount"] != "0.0465" || st["currency"] != "USD" {
		t.Fatalf("acme's statement: %v", st)
	}
	if lines, _ := st["lines"].([]any); len(lines) != 3 {
		t.Errorf("statement lines: %v", st["lines"])
	}
	// beta has no plan: its usage is counted, nothing is owed.
	_, st = n.adminCall(token, "GET", "/admin/v1/consumers/beta/statements/"+month, "")
	if st["requests"] != float64(14) || st["billable"] != float64(12) || st["amount"] != "0.00" {
		t.Errorf("beta's statement: %v", st)
	}
	if code, _ := n.adminCall(token, "GET", "/admin/v1/consumers/nobody/statements/"+month, ""); code != 404 {
		t.Errorf("an unknown consumer's statement: %d", code)
	}
	if code, _ := n.adminCall(token, "GET", "/admin/v1/consumers/acme/statements/2026-13", ""); code != 400 {
		t.Errorf("month 2026-13: %d", code)
	}

	// The CLI's CSV export has acme's total.
	cmd := exec.Command(binary, "usage", "export", "--month", month, "--admin", "http://"+n.admin)
	cmd.Env = append(os.Environ(), "PORTICO_ADMIN_TOKEN="+token)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("portico usage export: %v", err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v\n%s", err, out)
	}
	found := false
	for _, r := range rows {
		if r[1] == "acme" && r[6] == "Total" {
			found = r[9] == "0.0465" && r[5] == "63"
		}
	}
	if !found || rows[0][0] != "month" {
		t.Errorf("the export lacks acme's total of 0.0465:\n%s", out)
	}
	cmd = exec.Command(binary, "usage", "export", "--month", month, "--format", "json", "--admin", "http://"+n.admin)
	cmd.Env = append(os.Environ(), "PORTICO_ADMIN_TOKEN="+token)
	out, err = cmd.Output()
	var all struct {
		Statements []struct{ Consumer, Amount string }
	}
	if err != nil || json.Unmarshal(out, &all) != nil || len(all.Statements) != 2 || all.Statements[0].Amount != "0.0465" {
		t.Errorf("JSON export: %v %s", err, out)
	}
}
