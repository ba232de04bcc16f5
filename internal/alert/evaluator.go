// Package alert evaluates the config's alert rules continuously and
// notifies webhooks when a rule fires and when it resolves.
//
// The evaluator follows the group's usage records as the store receives
// them (every node's, so a rule sees the whole group's traffic) and keeps
// each rule's window per second in memory. Every second it computes each
// rule's metric over its window, which ends a couple of seconds in the
// past so that records still on their way from the nodes are counted. A
// rule fires once its condition has held for "for", and resolves once the
// metric has been back at its clear level (the threshold, or the rule's
// clear value: hysteresis) for "for" too. Transitions go through the
// store with a compare-and-set, so of several nodes evaluating the same
// rules exactly one notifies, once per transition; the history is kept.
package alert

import (
	"context"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/analytics"
	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/store"
)

// Options configure an Evaluator. Zero values take the defaults.
type Options struct {
	Store       store.Store
	Group, Node string
	// Client sends notifications (under the egress policy).
	Client *http.Client
	Log    *slog.Logger
	// Circuits reports this node's upstreams, for circuit_open rules.
	Circuits func() []proxy.UpstreamStatus
	// Every is the evaluation interval (default 1s); Lag how far behind
	// now windows end (default 2s).
	Every, Lag time.Duration
	// Attempts and RetryPause govern notification retries (defaults 5
	// and 1s, doubling).
	Attempts   int
	RetryPause time.Duration
}

// margin is how far back the usage feed re-reads, for batches committed
// out of order or by nodes with slightly different clocks.
const margin = 10 * time.Second

// Evaluator evaluates alert rules.
type Evaluator struct {
	o Options

	mu      sync.Mutex
	pending *config.Config // the newest config, picked up by the loop

	// Owned by the loop.
	rules   []*rule
	quota   quotaInfo
	cursor  int64
	seen    map[string]int64
	sending sync.WaitGroup
}

type rule struct {
	a      config.Alert
	window time.Duration
	ring   *ring
	firing bool
	// since is when the condition (to fire, or to resolve) started to
	// hold; zero when it does not.
	since time.Time
	value float64
}

// quotaInfo is what quota_used rules need from the config.
type quotaInfo struct {
	plans    map[string]*config.Plan
	consumer map[string]string
	loc      *time.Location
}

// New returns an evaluator; call SetConfig, then Run.
func New(o Options) *Evaluator {
	if o.Every == 0 {
		o.Every = time.Second
	}
	if o.Lag == 0 {
		o.Lag = 2 * time.Second
	}
	if o.Attempts == 0 {
		o.Attempts = 5
	}
	if o.RetryPause == 0 {
		o.RetryPause = time.Second
	}
	return &Evaluator{o: o, seen: map[string]int64{}}
}

// SetConfig makes cfg's rules the ones evaluated, from the next tick.
func (ev *Evaluator) SetConfig(cfg *config.Config) {
	ev.mu.Lock()
	ev.pending = cfg
	ev.mu.Unlock()
}

// Run evaluates every interval until ctx is done, then waits a little for
// notifications being sent.
func (ev *Evaluator) Run(ctx context.Context) {
	t := time.NewTicker(ev.o.Every)
	defer t.Stop()
	failing := false
	for {
		err := ev.tick(ctx, time.Now())
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			ev.o.Log.Error("evaluating alert rules failed; retrying every interval", "error", err.Error())
			failing = true
		case err == nil && failing:
			ev.o.Log.Info("alert rules are evaluated again")
			failing = false
		}
		select {
		case <-ctx.Done():
			done := make(chan struct{})
			go func() { ev.sending.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
			}
			return
		case <-t.C:
		}
	}
}

func (ev *Evaluator) tick(ctx context.Context, now time.Time) error {
	ev.mu.Lock()
	cfg := ev.pending
	ev.pending = nil
	ev.mu.Unlock()
	if cfg != nil {
		if err := ev.load(ctx, cfg, now); err != nil {
			ev.mu.Lock()
			if ev.pending == nil {
				ev.pending = cfg // try again next tick
			}
			ev.mu.Unlock()
			return err
		}
	}
	if len(ev.rules) == 0 {
		return nil
	}
	if err := ev.poll(ctx, now); err != nil {
		return err
	}
	for _, r := range ev.rules {
		v, ok, err := ev.measure(ctx, r, now)
		if err != nil {
			return err
		}
		if err := ev.step(ctx, r, v, ok, now); err != nil {
			return err
		}
	}
	return nil
}

// load replaces the rules with cfg's, keeping what it can: a rule whose
// definition did not change keeps its state. Windows are read again from
// the store.
func (ev *Evaluator) load(ctx context.Context, cfg *config.Config, now time.Time) error {
	states, err := ev.o.Store.AlertStates(ctx, ev.o.Group)
	if err != nil {
		return err
	}
	firing := map[string]bool{}
	for _, s := range states {
		firing[s.Rule] = s.State == store.AlertFiring
	}
	old := map[string]*rule{}
	for _, r := range ev.rules {
		old[r.a.Name] = r
	}
	var rules []*rule
	longest := time.Duration(0)
	for _, a := range cfg.Alerts {
		w := a.When.Window.D()
		if w == 0 {
			w = time.Minute
		}
		longest = max(longest, w)
		r := &rule{a: a, window: w, firing: firing[a.Name]}
		if o := old[a.Name]; o != nil && sameRule(&o.a, &a) {
			r.since = o.since
		}
		if a.When.Metric != "quota_used" && a.When.Metric != "circuit_open" {
			secs := int((w+ev.o.Lag+margin)/time.Second) + 2
			r.ring = newRing(secs, a.When.Metric == "p95_ms" || a.When.Metric == "p99_ms")
		}
		rules = append(rules, r)
	}
	ev.rules = rules
	ev.quota = quotaInfo{plans: map[string]*config.Plan{}, consumer: map[string]string{}, loc: time.UTC}
	for i := range cfg.Plans {
		ev.quota.plans[cfg.Plans[i].Name] = &cfg.Plans[i]
	}
	for _, c := range cfg.Consumers {
		ev.quota.consumer[c.Name] = c.Plan
	}
	if l, err := time.LoadLocation(cfg.QuotaTimeZone); err == nil && cfg.QuotaTimeZone != "" {
		ev.quota.loc = l
	}
	// Read the windows again from the store.
	ev.cursor = now.Add(-longest - ev.o.Lag - margin).UnixMilli()
	clear(ev.seen)
	return nil
}

// sameRule compares two rules' definitions (thresholds are pointers: by
// value, not address).
func sameRule(a, b *config.Alert) bool { return reflect.DeepEqual(a, b) }

// poll adds the records of the batches written since the last poll.
func (ev *Evaluator) poll(ctx context.Context, now time.Time) error {
	skip := make([]string, 0, len(ev.seen))
	for id := range ev.seen {
		skip = append(skip, id)
	}
	slices.Sort(skip)
	newest := ev.cursor
	err := ev.o.Store.UsageSince(ctx, ev.o.Group, ev.cursor, skip, func(batch string, written int64, rec store.UsageRecord) error {
		ev.seen[batch] = written
		newest = max(newest, written)
		for _, r := range ev.rules {
			if r.ring != nil && matches(&r.a, &rec) {
				r.ring.add(&rec, now)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	ev.cursor = max(ev.cursor, newest-margin.Milliseconds())
	for id, w := range ev.seen {
		if w <= ev.cursor {
			delete(ev.seen, id)
		}
	}
	return nil
}

func matches(a *config.Alert, r *store.UsageRecord) bool {
	return (a.API == "" || a.API == r.API) && (a.Route == "" || a.Route == r.Route) && (a.Consumer == "" || a.Consumer == r.Consumer)
}

// measure computes r's metric now; ok is false when there is too little
// traffic for it to mean anything.
func (ev *Evaluator) measure(ctx context.Context, r *rule, now time.Time) (float64, bool, error) {
	w := r.a.When
	switch w.Metric {
	case "circuit_open":
		if ev.o.Circuits != nil {
			for _, u := range ev.o.Circuits() {
				if u.Name == r.a.Upstream && u.Circuit == "open" {
					return 1, true, nil
				}
			}
		}
		return 0, true, nil
	case "quota_used":
		return ev.quotaUsed(ctx, r, now)
	}
	end := now.Add(-ev.o.Lag).Unix()
	requests, errors, k := r.ring.sum(end-int64(r.window/time.Second), end)
	minimum := w.MinRequests
	if minimum == 0 {
		minimum = 10
	}
	switch w.Metric {
	case "requests":
		return float64(requests), true, nil
	case "error_rate":
		return float64(errors) / float64(max(requests, 1)), requests >= minimum, nil
	case "p95_ms":
		return k.Quantile(0.95), requests >= minimum, nil
	case "p99_ms":
		return k.Quantile(0.99), requests >= minimum, nil
	}
	return 0, false, nil
}

// quotaUsed is the share of the consumer's plan quota used in its current
// period, counted from the rollups.
func (ev *Evaluator) quotaUsed(ctx context.Context, r *rule, now time.Time) (float64, bool, error) {
	planName := ev.quota.consumer[r.a.Consumer]
	if planName == "" {
		cs, err := ev.o.Store.Consumers(ctx)
		if err != nil {
			return 0, false, err
		}
		for _, c := range cs {
			if c.Name == r.a.Consumer {
				planName = c.Plan
			}
		}
	}
	plan := ev.quota.plans[planName]
	if plan == nil || plan.Quota == nil {
		return 0, false, nil
	}
	local := now.In(ev.quota.loc)
	from := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, ev.quota.loc)
	if plan.Quota.Period == "month" {
		from = time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, ev.quota.loc)
	}
	used, _, err := analytics.Count(ctx, ev.o.Store, ev.o.Group, r.a.Consumer, from, now.Add(time.Hour))
	if err != nil {
		return 0, false, err
	}
	return float64(used) / float64(plan.Quota.Limit), true, nil
}

// step moves r's state machine with the value measured now.
func (ev *Evaluator) step(ctx context.Context, r *rule, v float64, ok bool, now time.Time) error {
	w := r.a.When
	r.value = v
	var threshold float64
	var breach, healthy bool
	switch {
	case w.Metric == "circuit_open":
		threshold, breach, healthy = 1, v >= 1, v < 1
	case w.Above != nil:
		threshold = *w.Above
		clearAt := threshold
		if w.Clear != nil {
			clearAt = *w.Clear
		}
		breach, healthy = ok && v > threshold, !ok || v <= clearAt
	case w.Below != nil:
		threshold = *w.Below
		clearAt := threshold
		if w.Clear != nil {
			clearAt = *w.Clear
		}
		breach, healthy = ok && v < threshold, !ok || v >= clearAt
	}
	moving := !r.firing && breach || r.firing && healthy
	if !moving {
		r.since = time.Time{}
		return nil
	}
	if r.since.IsZero() {
		r.since = now
	}
	if now.Sub(r.since) < w.For.D() {
		return nil
	}
	from, to := store.AlertOK, store.AlertFiring
	if r.firing {
		from, to = store.AlertFiring, store.AlertOK
	}
	e := store.AlertEvent{Group: ev.o.Group, Rule: r.a.Name, State: to, Metric: w.Metric, Value: v, Threshold: threshold, At: now.UTC(), Node: ev.o.Node}
	id, won, err := ev.o.Store.AlertTransition(ctx, from, e)
	if err != nil {
		return err
	}
	r.firing, r.since = !r.firing, time.Time{}
	if !won {
		return nil // another node saw it first and notifies
	}
	e.ID = id
	ev.o.Log.Info("alert "+map[bool]string{true: "fired", false: "resolved"}[to == store.AlertFiring], "alert", r.a.Name,
		"metric", w.Metric, "value", v, "threshold", threshold)
	a := r.a
	p := payload(e, &a, r.window)
	ev.sending.Go(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		result := ev.deliver(dctx, p, &a)
		if err := ev.o.Store.SetAlertDelivery(dctx, id, result); err != nil {
			ev.o.Log.Error("recording an alert delivery failed", "alert", a.Name, "error", err.Error())
		}
	})
	return nil
}
