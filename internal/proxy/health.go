package proxy

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/clock"
)

// HealthSpec says how an upstream's targets are checked. Active checks run
// when Path is set; passive checks (ejection after consecutive failures)
// when Failures > 0.
type HealthSpec struct {
	// Path is requested with GET on each target every Interval; a 2xx or
	// 3xx answer within Timeout is a success.
	Path              string
	Interval, Timeout time.Duration
	// Healthy successes in a row bring a target back; Unhealthy failures
	// in a row take it out.
	Healthy, Unhealthy int
	// Failures in a row of real requests (connect errors, timeouts,
	// resets, malformed answers, 502/503/504) eject a target for
	// Ejection, doubled at each ejection in a row up to MaxEjection.
	Failures              int
	Ejection, MaxEjection time.Duration
}

// HealthEvents receives target state changes (telemetry.Metrics
// implements it).
type HealthEvents interface {
	TargetHealthy(upstream, target string, healthy bool)
}

// Health keeps the health of targets across configs, by upstream and
// target URL: a reload that keeps a target keeps its state and its active
// checker, and Retain stops the checkers of targets no config uses.
type Health struct {
	Pools  *Pools
	Log    *slog.Logger
	Events HealthEvents

	mu     sync.Mutex
	states map[string]*targetHealth
	ups    map[string]*upstreamState
}

// upstreamState is what an upstream keeps across configs: its circuit
// breaker and its retry budget.
type upstreamState struct {
	breakerSpec BreakerSpec
	budgetRatio float64
	breaker     *breaker
	budget      *budget
	used        bool
}

// upstream returns the breaker and budget of upstream name (nil when not
// configured), kept while their settings do not change.
func (h *Health) upstream(name string, bs BreakerSpec, ratio float64, events BreakerEvents) (*breaker, *budget) {
	fresh := func() *upstreamState {
		st := &upstreamState{breakerSpec: bs, budgetRatio: ratio}
		if bs.ErrorRate > 0 {
			st.breaker = &breaker{spec: bs, upstream: name, events: events, w: newWindow(bs.Window)}
		}
		if ratio > 0 {
			st.budget = newBudget(ratio)
		}
		return st
	}
	if h == nil {
		st := fresh()
		return st.breaker, st.budget
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ups == nil {
		h.ups = map[string]*upstreamState{}
	}
	st := h.ups[name]
	if st == nil || st.breakerSpec != bs || st.budgetRatio != ratio {
		st = fresh()
		h.ups[name] = st
	}
	st.used = true
	return st.breaker, st.budget
}

// targetHealth is one target's state. Reads on the request path are
// atomic loads.
type targetHealth struct {
	upstream, target string
	spec             HealthSpec
	down             atomic.Bool  // the active checks' verdict
	ejectedUntil     atomic.Int64 // passive: on package clock's time line
	failures         atomic.Int32 // passive: real requests failed in a row
	ejections        atomic.Int32 // passive: ejections in a row
	inflight         atomic.Int64 // requests being served, for least_requests
	stop             chan struct{}
	used             bool
	h                *Health
}

// available reports whether t may be picked at now (package clock).
func (t *targetHealth) available(now int64) bool {
	return !t.down.Load() && t.ejectedUntil.Load() <= now
}

// state returns the state of target url of upstream, creating it (and its
// active checker) when new or when its spec changed.
func (h *Health) state(upstream, url string, spec HealthSpec, t *Target) *targetHealth {
	if h == nil {
		return &targetHealth{upstream: upstream, target: url, spec: spec}
	}
	key := upstream + " " + url
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.states == nil {
		h.states = map[string]*targetHealth{}
	}
	s := h.states[key]
	if s != nil && s.spec != spec {
		s.close()
		s = nil
	}
	if s == nil {
		s = &targetHealth{upstream: upstream, target: url, spec: spec, h: h}
		if spec.Path != "" {
			s.stop = make(chan struct{})
			go s.check(t)
		}
		h.states[key] = s
	}
	s.used = true
	return s
}

// Retain stops and forgets the states the newest config did not ask for.
func (h *Health) Retain() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, s := range h.states {
		if !s.used {
			s.close()
			delete(h.states, k)
		}
		s.used = false
	}
	for k, u := range h.ups {
		if !u.used {
			delete(h.ups, k)
		}
		u.used = false
	}
}

// Close stops every checker.
func (h *Health) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, s := range h.states {
		s.close()
		delete(h.states, k)
	}
}

func (t *targetHealth) close() {
	if t.stop != nil {
		close(t.stop)
		t.stop = nil
	}
}

func (t *targetHealth) setDown(down bool, why string) {
	if t.down.Swap(down) == down {
		return
	}
	if t.h != nil && t.h.Log != nil {
		if down {
			t.h.Log.Warn("upstream target unhealthy; taken out of rotation", "upstream", t.upstream, "target", t.target, "reason", why)
		} else {
			t.h.Log.Info("upstream target healthy again", "upstream", t.upstream, "target", t.target)
		}
	}
	if t.h != nil && t.h.Events != nil {
		t.h.Events.TargetHealthy(t.upstream, t.target, !down)
	}
}

// check runs the active checks of target tg until t is closed.
func (t *targetHealth) check(tg *Target) {
	spec := t.spec
	dialer := &net.Dialer{Timeout: spec.Timeout}
	if t.h.Pools != nil {
		dialer.Control = t.h.Pools.Control // the group's upstream address policy
	}
	addr := tg.pool.addr
	var tlsConf *tls.Config
	if tg.pool.tls != nil {
		tlsConf = tg.pool.tls.Clone()
	}
	client := &http.Client{
		Timeout: spec.Timeout,
		Transport: &http.Transport{
			DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return dialer.DialContext(ctx, "tcp", addr) },
			TLSClientConfig:   tlsConf,
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	scheme := "http://"
	if tg.https {
		scheme = "https://"
	}
	url := scheme + tg.host + tg.basePath + spec.Path
	var ok, bad int
	tick := time.NewTicker(spec.Interval)
	defer tick.Stop()
	stop := t.stop
	for {
		why := probe(client, url)
		if why == "" {
			ok, bad = ok+1, 0
			if ok >= spec.Healthy {
				t.setDown(false, "")
			}
		} else {
			ok, bad = 0, bad+1
			if bad >= spec.Unhealthy {
				t.setDown(true, why)
			}
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// probe requests url once and says what was wrong ("" when healthy).
func probe(client *http.Client, url string) string {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	req.Header.Set("User-Agent", "portico-health-check")
	resp, err := client.Do(req)
	if err != nil {
		return err.Error()
	}
	_ = resp.Body.Close()
	if resp.StatusCode >= 400 {
		return "status " + strconv.Itoa(resp.StatusCode)
	}
	return ""
}

// answered records a real request that t answered with status: 502, 503
// and 504 count as failures of the target.
func (t *targetHealth) answered(status int) {
	if t.spec.Failures == 0 {
		return
	}
	now := clock.Now()
	if status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout {
		t.failed(now)
		return
	}
	t.succeeded(now)
}

// succeeded records a real request that t answered.
func (t *targetHealth) succeeded(now int64) {
	if t.failures.Load() != 0 {
		t.failures.Store(0)
	}
	// Back for longer than its last ejection: the next one starts short.
	if t.ejections.Load() != 0 && now-t.ejectedUntil.Load() > int64(t.spec.Ejection) {
		t.ejections.Store(0)
	}
}

// failed records a real request that t failed, ejecting it after
// spec.Failures in a row.
func (t *targetHealth) failed(now int64) {
	if t.spec.Failures == 0 || t.failures.Add(1) < int32(min(t.spec.Failures, 1<<30)) { //nolint:gosec // bounded
		return
	}
	t.failures.Store(0)
	n := t.ejections.Add(1)
	d := t.spec.Ejection << min(n-1, 20)
	if d > t.spec.MaxEjection || d <= 0 {
		d = t.spec.MaxEjection
	}
	t.ejectedUntil.Store(now + int64(d))
	if t.h != nil && t.h.Log != nil {
		t.h.Log.Warn("upstream target ejected after failing requests", "upstream", t.upstream, "target", t.target,
			"failures", t.spec.Failures, "for", d.String())
	}
}

// UpstreamStatus is what the admin API shows of an upstream.
type UpstreamStatus struct {
	Name string `json:"name"`
	// Circuit is closed, open or half_open; empty without a breaker.
	Circuit string         `json:"circuit,omitempty"`
	Targets []TargetStatus `json:"targets"`
}

// TargetStatus is one target's health.
type TargetStatus struct {
	URL string `json:"url"`
	// Healthy is the active checks' verdict (true without active checks).
	Healthy bool `json:"healthy"`
	// EjectedUntil is set while passive checks keep the target out.
	EjectedUntil *time.Time `json:"ejected_until,omitempty"`
	InFlight     int64      `json:"in_flight"`
}

// Status reports the upstreams of the configs in use, by name.
func (h *Health) Status() []UpstreamStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	byName := map[string]*UpstreamStatus{}
	var names []string
	get := func(name string) *UpstreamStatus {
		if byName[name] == nil {
			byName[name] = &UpstreamStatus{Name: name, Targets: []TargetStatus{}}
			names = append(names, name)
		}
		return byName[name]
	}
	now := clock.Now()
	for _, s := range h.states {
		ts := TargetStatus{URL: s.target, Healthy: !s.down.Load(), InFlight: s.inflight.Load()}
		if until := s.ejectedUntil.Load(); until > now {
			t := clock.Wall(until).UTC()
			ts.EjectedUntil = &t
		}
		u := get(s.upstream)
		u.Targets = append(u.Targets, ts)
	}
	for name, st := range h.ups {
		if st.breaker != nil {
			get(name).Circuit = [...]string{"closed", "open", "half_open"}[st.breaker.state.Load()]
		}
	}
	slices.Sort(names)
	out := make([]UpstreamStatus, 0, len(names))
	for _, n := range names {
		u := byName[n]
		slices.SortFunc(u.Targets, func(a, b TargetStatus) int { return strings.Compare(a.URL, b.URL) })
		out = append(out, *u)
	}
	return out
}
