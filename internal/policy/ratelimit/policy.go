package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/clock"
	"github.com/portico-gw/portico/internal/pipeline"
)

// Plan is a compiled plan: limits counted per consumer across every route,
// and a quota.
type Plan struct {
	Name   string
	Limits []*Limit
	Quota  *Quota
}

// Policy is what one route enforces: its own limits, and the plan of the
// calling consumer.
type Policy struct {
	// Limits are the route's own limits.
	Limits []*Limit
	// Plans maps the config's consumers to their plans, and ByName the
	// config's plans by name (read-only, shared by routes).
	Plans, ByName map[string]*Plan
	// Live, when not nil, names the plans of consumers managed through
	// the admin API (a consumer of the config keeps the config's plan).
	Live *LivePlans
	// Remote, when not nil, keeps the counts in Redis for every node.
	Remote *Remote
}

// LivePlans holds the plan names of the consumers managed through the
// admin API. It outlives configs; a change swaps the map.
type LivePlans struct {
	p atomic.Pointer[map[string]string]
}

// Set makes plans (consumer -> plan name, read-only) the live plans.
func (l *LivePlans) Set(plans map[string]string) { l.p.Store(&plans) }

func (l *LivePlans) plan(consumer string) string {
	if m := l.p.Load(); m != nil && len(*m) > 0 {
		return (*m)[consumer]
	}
	return ""
}

// The refusals, with Retry-After added per request.
var (
	errLimited     = &pipeline.Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many requests; retry after the time in Retry-After"}
	errQuota       = &pipeline.Error{Status: http.StatusTooManyRequests, Code: "quota_exceeded", Message: "the plan's quota for this period is used up; it renews at the time in Retry-After"}
	errUnavailable = &pipeline.Error{Status: http.StatusServiceUnavailable, Code: "rate_limit_unavailable", Message: "rate limits cannot be checked right now; retry shortly"}
	errPlanUnknown = &pipeline.Error{Status: http.StatusForbidden, Code: "plan_unknown", Message: "the consumer's plan is not defined in this gateway's configuration"}
)

// check is one limit applied to one key of a request.
type check struct {
	limit *Limit
	key   key
}

// maxChecks bounds the checks of one request kept on the stack; more
// spill to the heap.
const maxChecks = 8

// New returns the middleware enforcing p: a request passes only when every
// limit and the quota have room, and then counts against all of them.
// Every response of the route carries RateLimit-Limit, -Remaining and
// -Reset for the limit closest to refusing.
func New(p Policy) pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
			plan, err := p.plan(x.Consumer)
			if err != nil {
				return err
			}
			if plan != nil {
				x.Plan = plan.Name
			}
			if len(p.Limits) == 0 && plan == nil {
				return next.Serve(w, r, x) // an authenticated route with nothing to count
			}
			var buf [maxChecks]check
			checks := buf[:0]
			for _, l := range p.Limits {
				checks = append(checks, check{l, keyOf(l, r, x)})
			}
			var quota *Quota
			if plan != nil {
				for _, l := range plan.Limits {
					checks = append(checks, check{l, key{s: x.Consumer}})
				}
				quota = plan.Quota
			}
			if len(checks) == 0 && quota == nil {
				return next.Serve(w, r, x)
			}
			now := time.Now()
			var d decision
			if p.Remote != nil && p.Remote.Up() {
				d, err = p.Remote.take(r.Context(), checks, quota, x.Consumer, now)
				if err != nil {
					p.Remote.failed(err)
				}
			}
			switch {
			case p.Remote != nil && !p.Remote.Up() && p.Remote.FailClosed():
				p.Remote.fellBack("closed")
				return errUnavailable
			case p.Remote == nil || !p.Remote.Up() || err != nil:
				if p.Remote != nil {
					p.Remote.fellBack("open")
				}
				d = takeLocal(checks, quota, x.Consumer, now)
			}
			writeHeaders(w.Header(), d)
			if !d.ok {
				return d.refusal
			}
			return next.Serve(w, r, x)
		})
	}
}

// plan returns the plan of consumer: the config's, or the one the admin
// API names (refused when the config does not define it).
func (p *Policy) plan(consumer string) (*Plan, error) {
	if consumer == "" {
		return nil, nil
	}
	if plan := p.Plans[consumer]; plan != nil {
		return plan, nil
	}
	if p.Live == nil {
		return nil, nil
	}
	name := p.Live.plan(consumer)
	if name == "" {
		return nil, nil
	}
	// A plan the config lacks limits nothing it could mean: refuse rather
	// than serve unlimited.
	if plan := p.ByName[name]; plan != nil {
		return plan, nil
	}
	return nil, errPlanUnknown
}

// keyOf is what limit l counts request r by.
func keyOf(l *Limit, r *http.Request, x *pipeline.Exchange) key {
	var k key
	switch l.By {
	case ByConsumer:
		k.s = x.Consumer
	case ByIP:
		k.a = ClientKey(x.ClientIP)
	case ByHeader:
		k.s = headerKey(r.Header[l.Header])
	}
	return k
}

// headerKey makes a header's values a key: short values as they are, long
// ones (which an attacker would send to grow the tables) by their hash.
func headerKey(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	v := vs[0]
	if len(vs) > 1 || len(v) > 64 {
		h := sha256.New()
		for _, s := range vs {
			h.Write([]byte(s))
			h.Write([]byte{0})
		}
		return "#" + hex.EncodeToString(h.Sum(nil)[:16])
	}
	return v
}

// decision is the answer to one request: whether it passes, and what the
// RateLimit headers say.
type decision struct {
	ok bool
	// refusal is the error answered when not ok.
	refusal *pipeline.Error
	// limit, remaining and reset are of the limit closest to refusing
	// (limit nil: only a quota applied).
	limit        *Limit
	remaining    int
	reset, retry time.Duration
}

// pick keeps in d the verdict v of limit l when it is closer to refusing.
func (d *decision) pick(l *Limit, v verdict, first bool) {
	if first || !v.ok && d.ok || v.ok == d.ok && v.remaining < d.remaining {
		d.ok, d.limit, d.remaining, d.reset, d.retry = v.ok, l, v.remaining, v.reset, v.retry
	}
}

// takeLocal decides with this process's state: each limit is taken in
// turn and, when one refuses, the ones already taken are given back.
func takeLocal(checks []check, quota *Quota, consumer string, now time.Time) decision {
	d := decision{ok: true}
	ns := clock.Of(now)
	for i, c := range checks {
		v := c.limit.take(c.key, ns)
		d.pick(c.limit, v, i == 0)
		if !v.ok {
			for _, back := range checks[:i] {
				back.limit.refund(back.key)
			}
			d.refusal = errLimited
			return d
		}
	}
	if quota != nil {
		if ok, retry := quota.takeLocal(consumer, now); !ok {
			for _, back := range checks {
				back.limit.refund(back.key)
			}
			d.ok, d.refusal, d.retry = false, errQuota, retry
		}
	}
	return d
}

func writeHeaders(h http.Header, d decision) {
	if d.limit != nil {
		// One backing array for the three values: one allocation, not three.
		vs := []string{d.limit.text, strconv.Itoa(d.remaining), strconv.FormatInt(ceilSeconds(d.reset), 10)}
		h["Ratelimit-Limit"] = vs[0:1:1]
		h["Ratelimit-Remaining"] = vs[1:2:2]
		h["Ratelimit-Reset"] = vs[2:3:3]
	}
	if !d.ok {
		h["Retry-After"] = []string{strconv.FormatInt(max(ceilSeconds(d.retry), 1), 10)}
	}
}
