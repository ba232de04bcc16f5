package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

// Quotas holds this process's quota counters, per consumer and calendar
// period. Without Redis they are the quotas' truth: loaded from the store
// before a config that uses them serves, and written back every second
// (Flush), so a restart keeps them. Nodes sharing a database add their
// counts into the same rows and read the sum back at every flush, so
// across nodes a quota is exact to within a second of traffic; with
// Redis it is exact.
type Quotas struct {
	mu     sync.RWMutex
	m      map[qkey]*counter
	loaded map[string]bool
}

type qkey struct{ consumer, period string }

type counter struct {
	used    atomic.Int64 // what this process believes the period's total is
	pending atomic.Int64 // counted here and not yet written to the store
	end     time.Time
}

// NewQuotas returns an empty set of counters.
func NewQuotas() *Quotas {
	return &Quotas{m: map[qkey]*counter{}, loaded: map[string]bool{}}
}

// Quota is a compiled plan quota.
type Quota struct {
	Limit  int64
	Period string // day or month
	loc    *time.Location
	counts *Quotas
	cur    atomic.Pointer[span]
	// name prefixes the period keys of a budget ("" for a quota).
	name string
	// remote, when not nil, keeps a budget's spend in Redis.
	remote *Remote
}

// span is one calendar period: its key, start and end.
type span struct {
	key        string
	start, end time.Time
}

// Quota returns a compiled quota counting in qs.
func (qs *Quotas) Quota(limit int64, period string, loc *time.Location) *Quota {
	return &Quota{Limit: limit, Period: period, loc: loc, counts: qs}
}

// CurrentPeriod is the key of the period that now falls in, as the store
// and Redis name it: "day:<zone>:2026-11-27" or "month:<zone>:2026-11".
func (q *Quota) CurrentPeriod(now time.Time) string { return q.span(now).key }

func (q *Quota) span(now time.Time) *span {
	if s := q.cur.Load(); s != nil && !now.Before(s.start) && now.Before(s.end) {
		return s
	}
	t := now.In(q.loc)
	s := &span{}
	var label string
	if q.Period == "day" {
		s.start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, q.loc)
		s.end = s.start.AddDate(0, 0, 1)
		label = s.start.Format("2006-01-02")
	} else {
		s.start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, q.loc)
		s.end = s.start.AddDate(0, 1, 0)
		label = s.start.Format("2006-01")
	}
	s.key = q.Period + ":" + q.loc.String() + ":" + label
	if q.name != "" {
		s.key = q.name + ":" + s.key
	}
	q.cur.Store(s)
	return s
}

func (qs *Quotas) counter(consumer, period string, end time.Time) *counter {
	k := qkey{consumer, period}
	qs.mu.RLock()
	c := qs.m[k]
	qs.mu.RUnlock()
	if c != nil {
		return c
	}
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if c = qs.m[k]; c == nil {
		c = &counter{end: end}
		qs.m[k] = c
	}
	return c
}

// takeLocal counts one request of consumer against q, unless the period's
// quota is used up; retry is then the time until the period ends.
func (q *Quota) takeLocal(consumer string, now time.Time) (ok bool, retry time.Duration) {
	s := q.span(now)
	c := q.counts.counter(consumer, s.key, s.end)
	for {
		u := c.used.Load()
		if u >= q.Limit {
			return false, s.end.Sub(now)
		}
		if c.used.CompareAndSwap(u, u+1) {
			c.pending.Add(1)
			return true, 0
		}
	}
}

// observe raises this process's count to one seen elsewhere (in Redis), so
// that a fall back to local counting starts from it.
func (q *Quota) observe(consumer string, s *span, used int64) {
	raise(&q.counts.counter(consumer, s.key, s.end).used, used)
}

// mirror sets this process's count of a budget to Redis's (which goes down
// as well as up: calls give back what they reserved and did not spend).
func (q *Quota) mirror(consumer string, s *span, used int64) {
	q.counts.counter(consumer, s.key, s.end).used.Store(used)
}

func raise(v *atomic.Int64, to int64) {
	for {
		u := v.Load()
		if to <= u || v.CompareAndSwap(u, to) {
			return
		}
	}
}

// QuotaStore is where counts are persisted (store.Store implements it).
type QuotaStore interface {
	AddQuotaUsage(ctx context.Context, deltas []store.QuotaCount) ([]store.QuotaCount, error)
	QuotaUsage(ctx context.Context, periods []string) ([]store.QuotaCount, error)
}

// Load reads from st the counts of the periods the quotas count in now,
// once per period, so that a restarted node goes on from where the last
// one stopped. Call it before a config with those quotas serves.
func (qs *Quotas) Load(ctx context.Context, st QuotaStore, quotas []*Quota, now time.Time) error {
	var want []string
	ends := map[string]time.Time{}
	qs.mu.RLock()
	for _, q := range quotas {
		s := q.span(now)
		if !qs.loaded[s.key] && ends[s.key].IsZero() {
			want = append(want, s.key)
		}
		ends[s.key] = s.end
	}
	qs.mu.RUnlock()
	if len(want) == 0 {
		return nil
	}
	counts, err := st.QuotaUsage(ctx, want)
	if err != nil {
		return err
	}
	for _, c := range counts {
		raise(&qs.counter(c.Consumer, c.Period, ends[c.Period]).used, c.Used)
	}
	qs.mu.Lock()
	for _, p := range want {
		qs.loaded[p] = true
	}
	qs.mu.Unlock()
	return nil
}

// Flush writes the counts not yet written to st and takes in the totals
// it answers, which include other nodes' counts. A failed write keeps
// the counts for the next flush. Counters of periods over for a minute
// are forgotten once written.
func (qs *Quotas) Flush(ctx context.Context, st QuotaStore, now time.Time) error {
	var deltas []store.QuotaCount
	var cs []*counter
	qs.mu.Lock()
	for k, c := range qs.m {
		if n := c.pending.Swap(0); n > 0 {
			deltas = append(deltas, store.QuotaCount{Consumer: k.consumer, Period: k.period, Used: n})
			cs = append(cs, c)
		} else if now.Sub(c.end) > time.Minute {
			delete(qs.m, k)
		}
	}
	qs.mu.Unlock()
	if len(deltas) == 0 {
		return nil
	}
	totals, err := st.AddQuotaUsage(ctx, deltas)
	if err != nil {
		for i, c := range cs {
			c.pending.Add(deltas[i].Used)
		}
		return err
	}
	for _, t := range totals {
		raise(&qs.counter(t.Consumer, t.Period, time.Time{}).used, t.Used)
	}
	return nil
}

// Budget returns a compiled budget: an amount (in any unit: LLM spend is
// counted in 10⁻¹² currency units) per calendar period, counted like a
// quota but under its own name, so that it never mixes with the plan's
// request quota.
func (qs *Quotas) Budget(name string, amount int64, period string, loc *time.Location) *Quota {
	return &Quota{Limit: amount, Period: period, loc: loc, counts: qs, name: name}
}

// Reserve takes n units of consumer's budget for the current period,
// unless the period's budget is used up (a call may overshoot by what it
// spends beyond its reservation); retry is then the time until the period
// ends.
func (q *Quota) Reserve(consumer string, n int64, now time.Time) (ok bool, retry time.Duration) {
	s := q.span(now)
	if rm := q.remote; rm != nil && rm.Up() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		used, ok, err := rm.budget(ctx, q, consumer, s, n, true)
		cancel()
		if err == nil {
			q.mirror(consumer, s, used)
			if !ok {
				return false, s.end.Sub(now)
			}
			return true, 0
		}
		rm.failed(err)
		rm.fellBack("open")
	}
	c := q.counts.counter(consumer, s.key, s.end)
	for {
		u := c.used.Load()
		if u >= q.Limit || n > q.Limit-u { // not u+n: n may be near the largest int64
			return false, s.end.Sub(now)
		}
		if c.used.CompareAndSwap(u, u+n) {
			c.pending.Add(n)
			return true, 0
		}
	}
}

// Adjust adds delta (negative to give back) to consumer's use of the
// current period.
func (q *Quota) Adjust(consumer string, delta int64, now time.Time) {
	if delta == 0 {
		return
	}
	s := q.span(now)
	if rm := q.remote; rm != nil && rm.Up() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		used, _, err := rm.budget(ctx, q, consumer, s, delta, false)
		cancel()
		if err == nil {
			q.mirror(consumer, s, used)
			return
		}
		rm.failed(err)
	}
	c := q.counts.counter(consumer, s.key, s.end)
	c.used.Add(delta)
	c.pending.Add(delta)
}

// Shared keeps the budget's spend in Redis when remote is not nil, so
// that every node reserves from one total; it returns q.
func (q *Quota) Shared(remote *Remote) *Quota {
	q.remote = remote
	return q
}

// Used is consumer's use of the current period, as this node knows it.
func (q *Quota) Used(consumer string, now time.Time) int64 {
	s := q.span(now)
	return q.counts.counter(consumer, s.key, s.end).used.Load()
}
