// Package ratelimit limits how often a route may be called, in process,
// with GCRA (the generic cell rate algorithm): each key keeps one number,
// its theoretical arrival time (TAT). A limit of N per W lets a burst of up
// to N through after a quiet period and then one request every W/N — so,
// unlike a fixed window, no edge lets 2N through in quick succession.
//
// Each key's TAT is updated with a compare-and-swap; tables are sharded,
// and a table's lock is taken only to add a key the table has not seen.
package ratelimit

import (
	"hash/maphash"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/pipeline"
)

// Limit is one compiled limit of a route.
type Limit struct {
	Limit  int
	Window time.Duration
	// By is consumer, ip or route.
	By    string
	table *table
}

// Key kinds.
const (
	ByConsumer = "consumer"
	ByIP       = "ip"
	ByRoute    = "route"
)

// Tables keeps limit state across config reloads: a route whose limit did
// not change keeps its callers' state when a new revision is applied.
type Tables struct {
	mu     sync.Mutex
	tables map[string]*table
}

// NewTables returns an empty registry.
func NewTables() *Tables { return &Tables{tables: map[string]*table{}} }

// Limit returns the compiled limit for a route's limit, sharing state with
// the same limit of the previous config. id identifies the route.
func (ts *Tables) Limit(id string, limit int, window time.Duration, by string) *Limit {
	key := id + "|" + strconv.Itoa(limit) + "|" + window.String() + "|" + by
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t := ts.tables[key]
	if t == nil {
		t = newTable(window)
		ts.tables[key] = t
	}
	t.used = true
	return &Limit{Limit: limit, Window: window, By: by, table: t}
}

// Retain stops and forgets the tables the newest config did not ask for.
// Call it after each compile; ask for tables again with Limit.
func (ts *Tables) Retain() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for k, t := range ts.tables {
		if !t.used {
			t.close()
			delete(ts.tables, k)
		}
		t.used = false
	}
}

// Close stops every table's sweeper.
func (ts *Tables) Close() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for k, t := range ts.tables {
		t.close()
		delete(ts.tables, k)
	}
}

type key struct {
	s string
	a netip.Addr
}

const shards = 64

type table struct {
	seed   maphash.Seed
	shards [shards]shard
	stop   chan struct{}
	used   bool
}

type shard struct {
	mu sync.RWMutex
	m  map[key]*atomic.Int64
}

func newTable(window time.Duration) *table {
	t := &table{seed: maphash.MakeSeed(), stop: make(chan struct{})}
	for i := range t.shards {
		t.shards[i].m = map[key]*atomic.Int64{}
	}
	go t.sweep(min(max(window, time.Second), time.Minute))
	return t
}

func (t *table) close() { close(t.stop) }

// sweep forgets keys whose budget is whole again, so a flood of distinct
// keys (random client addresses) costs memory only while it lasts.
func (t *table) sweep(every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		now := time.Now().UnixNano()
		for i := range t.shards {
			s := &t.shards[i]
			s.mu.Lock()
			for k, tat := range s.m {
				if tat.Load() <= now {
					delete(s.m, k)
				}
			}
			s.mu.Unlock()
		}
	}
}

func (t *table) tat(k key) *atomic.Int64 {
	var h maphash.Hash
	h.SetSeed(t.seed)
	h.WriteString(k.s)
	b := k.a.As16()
	h.Write(b[:])
	s := &t.shards[h.Sum64()%shards]
	s.mu.RLock()
	v := s.m[k]
	s.mu.RUnlock()
	if v != nil {
		return v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v = s.m[k]; v == nil {
		v = new(atomic.Int64)
		s.m[k] = v
	}
	return v
}

// verdict is one limit's answer for one request.
type verdict struct {
	ok        bool
	remaining int
	reset     time.Duration // until the budget is whole again
	retry     time.Duration // until a request would pass (when refused)
}

// take asks limit l for one request of key k at now (Unix nanoseconds).
func (l *Limit) take(k key, now int64) verdict {
	interval := int64(l.Window) / int64(l.Limit)
	if interval <= 0 {
		interval = 1
	}
	window := interval * int64(l.Limit)
	p := l.table.tat(k)
	for {
		old := p.Load()
		tat := max(old, now)
		next := tat + interval
		if next-now > window {
			return verdict{remaining: 0, reset: time.Duration(tat - now), retry: time.Duration(next - window - now)}
		}
		if p.CompareAndSwap(old, next) {
			return verdict{ok: true, remaining: int((window - (next - now)) / interval), reset: time.Duration(next - now)}
		}
	}
}

// ErrLimited is the 429 answer; Retry-After is added per request.
var errLimited = &pipeline.Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many requests; retry after the time in Retry-After"}

// New returns the middleware enforcing limits, all of them: a request
// passes only when each has room, and every response of the route carries
// RateLimit-Limit, -Remaining and -Reset for the limit closest to refusing.
func New(limits []*Limit) pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
			now := time.Now().UnixNano()
			var worst verdict
			var worstLimit *Limit
			for _, l := range limits {
				var k key
				switch l.By {
				case ByConsumer:
					k.s = x.Consumer
				case ByIP:
					k.a = x.ClientIP
				}
				v := l.take(k, now)
				if worstLimit == nil || !v.ok || v.remaining < worst.remaining && worst.ok {
					worst, worstLimit = v, l
				}
				if !v.ok {
					break
				}
			}
			h := w.Header()
			h["Ratelimit-Limit"] = []string{strconv.Itoa(worstLimit.Limit)}
			h["Ratelimit-Remaining"] = []string{strconv.Itoa(worst.remaining)}
			h["Ratelimit-Reset"] = []string{strconv.FormatInt(ceilSeconds(worst.reset), 10)}
			if !worst.ok {
				h["Retry-After"] = []string{strconv.FormatInt(max(ceilSeconds(worst.retry), 1), 10)}
				return errLimited
			}
			return next.Serve(w, r, x)
		})
	}
}

func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}
