package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/sqlite"
	"github.com/portico-gw/portico/internal/usage"
)

// hooks collects notifications by alert name.
type hooks struct {
	mu  sync.Mutex
	got map[string][]string // alert -> states, in order
}

func (h *hooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p Payload
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &p)
	h.mu.Lock()
	h.got[p.Alert] = append(h.got[p.Alert], p.State)
	h.mu.Unlock()
}

func (h *hooks) states(alert string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.got[alert], ",")
}

const rulesYAML = `version: 1
upstreams:
  - name: orders
    targets: [{url: "http://127.0.0.1:9"}]
plans:
  - name: gold
    quota: {limit: 100, period: day}
consumers:
  - name: acme
    plan: gold
    api_keys: [acme-key-0123456789]
apis:
  - name: shop
    base_path: /shop
    upstream: orders
    auth: [api_key]
    routes: [{name: all, path: "/{rest...}"}]
alerts:
  - name: traffic-drop
    api: shop
    when: {metric: requests, below: 5, window: 3s}
    notify: [{webhook: HOOK, secret: s}]
  - name: slow
    api: shop
    when: {metric: p95_ms, above: 50, clear: 30, for: 2s, window: 2s, min_requests: 3}
    notify: [{webhook: HOOK, secret: s}]
  - name: circuit
    upstream: orders
    when: {metric: circuit_open}
    notify: [{webhook: HOOK, secret: s}]
  - name: quota
    consumer: acme
    when: {metric: quota_used, above: 0.9}
    notify: [{webhook: HOOK, secret: s}]
`

// TestRules drives each kind of rule through firing and resolving with a
// controlled clock over a real store: a traffic drop, a p95 that must
// hold for 2 s and resolves only below its clear level (hysteresis), a
// circuit that opens and closes, and a quota nearly used up.
func TestRules(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := &hooks{got: map[string][]string{}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	f, err := config.Parse("rules.yaml", []byte(strings.ReplaceAll(rulesYAML, "HOOK", srv.URL)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	var circuitOpen atomic.Bool
	ev := New(Options{Store: st, Group: "default", Node: "n1", Client: srv.Client(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Circuits: func() []proxy.UpstreamStatus {
			if circuitOpen.Load() {
				return []proxy.UpstreamStatus{{Name: "orders", Circuit: "open"}}
			}
			return []proxy.UpstreamStatus{{Name: "orders", Circuit: "closed"}}
		}, RetryPause: 10 * time.Millisecond})
	ev.SetConfig(f.Config)
	ctx := context.Background()
	base := time.Now().Truncate(time.Second)
	batch := 0
	// traffic writes n requests of latency lat in second sec (relative to
	// base).
	traffic := func(sec, n int, lat time.Duration, consumer string) {
		var recs []store.UsageRecord
		for i := range n {
			recs = append(recs, store.UsageRecord{Time: base.Add(time.Duration(sec)*time.Second + time.Duration(i)*time.Millisecond),
				API: "shop", Route: "all", Consumer: consumer, Status: 200, Latency: lat})
		}
		batch++
		if _, err := st.WriteUsage(ctx, store.UsageBatch{ID: fmt.Sprint("b", batch), Group: "default", Node: "n1", Records: recs, Rollups: usage.Rollups(recs)}); err != nil {
			t.Fatal(err)
		}
	}
	tick := func(sec int) {
		t.Helper()
		if err := ev.tick(ctx, base.Add(time.Duration(sec)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(alert, want string) {
		t.Helper()
		ev.sending.Wait()
		if got := h.states(alert); got != want {
			t.Fatalf("%s notifications %q, want %q", alert, got, want)
		}
	}
	for s := -5; s <= 0; s++ {
		traffic(s, 10, 100*time.Millisecond, "")
	}
	tick(0) // window [-5, -2): 30 requests, p95 100 ms: slow's condition begins
	wait("traffic-drop", "")
	wait("slow", "")
	tick(1) // held 1 s: not yet
	wait("slow", "")
	// A reload with the same rules (parsed again: new threshold pointers)
	// keeps how long each condition has held.
	again, err := config.Parse("rules.yaml", []byte(strings.ReplaceAll(rulesYAML, "HOOK", srv.URL)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ev.SetConfig(again.Config)
	tick(2) // held 2 s: fires
	wait("slow", "firing")

	// The traffic stops: within the window's reach the count falls below 5.
	tick(6) // window [1, 4): no requests
	wait("traffic-drop", "firing")
	for s := 7; s <= 12; s++ {
		traffic(s, 10, 40*time.Millisecond, "") // between clear (30) and threshold (50)
	}
	tick(12) // window [7, 10): 30 requests at 40 ms: traffic back, p95 not clear
	wait("traffic-drop", "firing,resolved")
	tick(14)
	wait("slow", "firing") // hysteresis: 40 ms is not at the clear level
	for s := 13; s <= 20; s++ {
		traffic(s, 10, 20*time.Millisecond, "")
	}
	tick(17) // window [13, 15): clear begins
	tick(18)
	wait("slow", "firing")
	tick(19) // clear for 2 s
	wait("slow", "firing,resolved")

	circuitOpen.Store(true)
	tick(20)
	tick(21)
	wait("circuit", "firing")
	circuitOpen.Store(false)
	tick(22)
	wait("circuit", "firing,resolved")

	traffic(20, 95, time.Millisecond, "acme") // 95 of 100 for today
	tick(23)
	wait("quota", "firing")

	// The history holds every transition, each delivered.
	evs, err := st.AlertEvents(ctx, "default", "", 0, 100)
	if err != nil || len(evs) != 7 {
		t.Fatalf("%d events (%v), want 7", len(evs), err)
	}
	for _, e := range evs {
		if e.Delivery != "delivered" {
			t.Errorf("%s %s: delivery %q", e.Rule, e.State, e.Delivery)
		}
	}
	// A second evaluator (another node, or a restart) starts from the
	// stored states and notifies nothing already notified.
	ev2 := New(Options{Store: st, Group: "default", Node: "n2", Client: srv.Client(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Circuits: func() []proxy.UpstreamStatus { return nil }})
	ev2.SetConfig(f.Config)
	if err := ev2.tick(ctx, base.Add(23*time.Second)); err != nil {
		t.Fatal(err)
	}
	ev2.sending.Wait()
	if got := h.states("quota"); got != "firing" {
		t.Fatalf("the second evaluator notified the quota alert again: %q", got)
	}
}
