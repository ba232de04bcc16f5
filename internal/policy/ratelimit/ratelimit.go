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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/clock"
)

// Limit is one compiled limit of a route or plan.
type Limit struct {
	Limit  int
	Window time.Duration
	// By is consumer, ip, route or header.
	By string
	// Header is the canonical name of the header counted by (By header).
	Header string
	// id names the limit's state, here and in Redis.
	id    string
	text  string // Limit in decimal, for RateLimit-Limit
	table *table
	// remote, when not nil, keeps reservations (Reserve) in Redis.
	remote *Remote
}

// Key kinds.
const (
	ByConsumer = "consumer"
	ByIP       = "ip"
	ByRoute    = "route"
	ByHeader   = "header"
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
// the same limit of the previous config. id identifies the route (or plan)
// and the limit's place in its list; header is for by header.
func (ts *Tables) Limit(id string, limit int, window time.Duration, by, header string) *Limit {
	header = http.CanonicalHeaderKey(header)
	key := id + "|" + strconv.Itoa(limit) + "|" + window.String() + "|" + by + "|" + header
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t := ts.tables[key]
	if t == nil {
		t = newTable(window)
		ts.tables[key] = t
	}
	t.used = true
	return &Limit{Limit: limit, Window: window, By: by, Header: header, id: key, text: strconv.Itoa(limit), table: t}
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
		now := clock.Now()
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
		// A key taken from a header is a piece of its request's whole
		// head (internal/server): the table keeps a copy of its own, not
		// the head.
		k.s = strings.Clone(k.s)
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

// take asks limit l for one request of key k at now (on package clock's
// time line).
func (l *Limit) take(k key, now int64) verdict {
	interval := l.interval()
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

// refund gives back one request taken from key k by take: GCRA's state
// is the sum of the intervals taken, so removing one is exact.
func (l *Limit) refund(k key) {
	l.table.tat(k).Add(-l.interval())
}

func (l *Limit) interval() int64 {
	return max(int64(l.Window)/int64(l.Limit), 1)
}

func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// Limiter is one standalone in-process limit keyed by a string, for
// Portico's own endpoints (the admin API's refused calls, say).
type Limiter struct {
	ts *Tables
	l  *Limit
}

// NewLimiter returns a limit of limit requests per window and key.
func NewLimiter(limit int, window time.Duration) *Limiter {
	ts := NewTables()
	return &Limiter{ts: ts, l: ts.Limit("limiter", limit, window, ByConsumer, "")}
}

// Allow takes one request of k at now, or says how long until one would
// pass.
func (l *Limiter) Allow(k string, now time.Time) (ok bool, retry time.Duration) {
	v := l.l.take(key{s: k}, clock.Of(now))
	return v.ok, v.retry
}

// Limiter returns a standalone limit kept in ts across configs, as a
// route's limits are (id names it): Retain stops it once a config no
// longer asks for it, and its own Close does nothing.
func (ts *Tables) Limiter(id string, limit int, window time.Duration) *Limiter {
	return &Limiter{l: ts.Limit(id, limit, window, ByConsumer, "")}
}

// Refund gives back one request Allow took from k: an attempt that turned
// out not to count (a sign-in with the right password) costs nothing.
func (l *Limiter) Refund(k string) { l.l.refund(key{s: k}) }

// Close stops the limiter's sweeper (one of Tables.Limiter's is its
// registry's to stop).
func (l *Limiter) Close() {
	if l.ts != nil {
		l.ts.Close()
	}
}

// PeerKey is the key a Limiter counts a peer under, from its RemoteAddr
// ("host:port"): as a limit by ip counts it (ClientKey). An unparsable
// address is its own key.
func PeerKey(remoteAddr string) string {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return ClientKey(ap.Addr()).String()
}

// ClientKey is what a limit by ip counts a client address as: an IPv4
// address as itself, an IPv6 one as its /64 network. A single host is
// usually given a whole /64 and can pick a new address in it for each
// request, so counting IPv6 addresses one by one would not limit it at
// all (a /64 is what an IPv4 address behind a home router is: one
// subscriber). An IPv6 zone is dropped; an IPv4-mapped address is IPv4.
func ClientKey(a netip.Addr) netip.Addr {
	a = a.WithZone("").Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}
