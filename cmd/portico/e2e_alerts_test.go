package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// receiver is a local webhook endpoint that keeps what it receives.
type receiver struct {
	mu   sync.Mutex
	got  []received
	srv  *httptest.Server
	fail atomic.Int32 // answer this many requests 503 first
}

type received struct {
	at     time.Time
	body   []byte
	header http.Header
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if rc.fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rc.mu.Lock()
		rc.got = append(rc.got, received{time.Now(), b, r.Header.Clone()})
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// verifySignature checks X-Portico-Signature as a receiver would.
func verifySignature(t *testing.T, secret string, r received) {
	t.Helper()
	sig := r.header.Get("X-Portico-Signature")
	var ts, v1 string
	for _, part := range strings.Split(sig, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			v1 = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		t.Fatalf("signature time %q", sig)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(r.body)
	want := hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(v1), []byte(want)) {
		t.Fatalf("signature %q does not verify (want v1=%s)", sig, want)
	}
}

// TestAlertFiresOnceAndResolves makes a controlled upstream fail under
// steady traffic: exactly one signed "firing" notification reaches the
// local webhook (and one Slack-format message) within the rule's window
// plus the pipeline's delay, none more while it keeps failing, and one
// "resolved" after it recovers; the history shows both, delivered.
func TestAlertFiresOnceAndResolves(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	hook, slack := newReceiver(t), newReceiver(t)
	hook.fail.Store(1) // the first delivery attempt fails: it is retried
	const secret = "hook-secret-0123456789"
	cfg := strings.Replace(upstreamConfig(up.URL), `"${ACME_KEY}"`, `"acme-key-0123456789"`, 1) + `alerts:
  - name: api-errors
    api: api
    when: {metric: error_rate, above: 0.5, clear: 0.1, window: 3s, for: 1s, min_requests: 5}
    notify:
      - {webhook: "` + hook.srv.URL + `/portico", secret: "${HOOK_SECRET}"}
      - {slack: "` + slack.srv.URL + `/services/T0/B0/XXXX"}
`
	const token = "ptk_alerts-e2e-token"
	n := startNode(t, []string{"HOOK_SECRET=" + secret, "PORTICO_ADMIN_TOKEN=" + token}, "--config", writeConfig(t, cfg))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			n.get("/api/x", "X-API-Key", "acme-key-0123456789")
		}
	})
	defer func() { close(stop); wg.Wait() }()

	time.Sleep(3 * time.Second)
	if got := hook.all(); len(got) != 0 {
		t.Fatalf("a healthy upstream raised %d notifications: %s", len(got), got[0].body)
	}
	failing.Store(true)
	failedAt := time.Now()
	// window 3 s + for 1 s + flush 1 s + lag 2 s + evaluation 1 s, and a
	// retried delivery (1 s pause).
	const bound = 10 * time.Second
	for len(hook.all()) == 0 && time.Since(failedAt) < bound+2*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	got := hook.all()
	if len(got) != 1 {
		t.Fatalf("%d notifications %v after the upstream started failing, want 1", len(got), time.Since(failedAt))
	}
	if d := got[0].at.Sub(failedAt); d > bound {
		t.Errorf("the firing notification came %v after the failures began, later than %v", d, bound)
	}
	t.Logf("fired %v after the upstream started failing", got[0].at.Sub(failedAt).Round(10*time.Millisecond))
	verifySignature(t, secret, got[0])
	var p struct {
		ID                int64
		Alert, State, API string
		Metric            string
		Value, Threshold  float64
	}
	if err := json.Unmarshal(got[0].body, &p); err != nil || p.Alert != "api-errors" || p.State != "firing" ||
		p.Metric != "error_rate" || p.Value <= 0.5 || p.Threshold != 0.5 || p.API != "api" || p.ID == 0 {
		t.Fatalf("firing payload %s (%v)", got[0].body, err)
	}
	if got[0].header.Get("X-Portico-Event") != strconv.FormatInt(p.ID, 10) {
		t.Errorf("X-Portico-Event %q, id %d", got[0].header.Get("X-Portico-Event"), p.ID)
	}
	// Still failing: no second notification.
	time.Sleep(4 * time.Second)
	if got := hook.all(); len(got) != 1 {
		t.Fatalf("%d notifications while the alert kept firing, want 1", len(got))
	}

	failing.Store(false)
	recoveredAt := time.Now()
	for len(hook.all()) < 2 && time.Since(recoveredAt) < bound+2*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // nothing more may follow
	got = hook.all()
	if len(got) != 2 {
		t.Fatalf("%d notifications after recovery, want 2 (firing, resolved)", len(got))
	}
	verifySignature(t, secret, got[1])
	if err := json.Unmarshal(got[1].body, &p); err != nil || p.State != "resolved" || p.Value > 0.1 {
		t.Fatalf("resolved payload %s", got[1].body)
	}
	sl := slack.all()
	if len(sl) != 2 || !strings.Contains(string(sl[0].body), `"text":"Portico alert api-errors is firing`) ||
		!strings.Contains(string(sl[1].body), "is resolved") || sl[0].header.Get("X-Portico-Signature") != "" {
		t.Errorf("Slack messages: %d %v", len(sl), sl)
	}
	// The history shows both transitions, delivered.
	var evs struct {
		Events []struct{ Alert, State, Delivery string }
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, m := n.adminCall(token, "GET", "/admin/v1/alerts/events", "")
		b, _ := json.Marshal(m)
		_ = json.Unmarshal(b, &evs)
		if len(evs.Events) == 2 && evs.Events[0].Delivery != "pending" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(evs.Events) != 2 || evs.Events[0].State != "resolved" || evs.Events[1].State != "firing" ||
		evs.Events[0].Delivery != "delivered; delivered" || evs.Events[1].Delivery != "delivered; delivered" {
		t.Errorf("alert history: %+v", evs.Events)
	}
	_, rules := n.adminCall(token, "GET", "/admin/v1/alerts", "")
	if list, _ := rules["alerts"].([]any); len(list) != 1 || list[0].(map[string]any)["state"] != "ok" {
		t.Errorf("GET /admin/v1/alerts: %v", rules)
	}
}
