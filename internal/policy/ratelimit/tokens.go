package ratelimit

import (
	"net/http"
	"time"

	"github.com/portico-gw/portico/internal/pipeline"
)

// Reservation is a number of units taken from a limit ahead of knowing the
// exact number (an LLM call reserves the most tokens it may use): Settle
// gives back what was not used, or takes what was used beyond it.
type Reservation struct {
	l *Limit
	k key
	n int64
}

// Reserve takes n units (tokens) of limit l for the request, all or
// nothing, in this node's memory. When it cannot, it reports how long
// until it could.
func (l *Limit) Reserve(r *http.Request, x *pipeline.Exchange, n int64, now time.Time) (*Reservation, bool, time.Duration) {
	k := keyOf(l, r, x)
	n = max(n, 1)
	interval := l.interval()
	window := interval * int64(l.Limit)
	cost := interval * n
	p := l.table.tat(k)
	for {
		old := p.Load()
		tat := max(old, now.UnixNano())
		next := tat + cost
		if next-now.UnixNano() > window {
			if cost > window {
				return nil, false, l.Window // more than the whole limit: never
			}
			return nil, false, time.Duration(next - window - now.UnixNano())
		}
		if p.CompareAndSwap(old, next) {
			return &Reservation{l: l, k: k, n: n}, true, 0
		}
	}
}

// Settle corrects the reservation to the units really used.
func (r *Reservation) Settle(used int64) {
	if r == nil || used == r.n {
		return
	}
	r.l.table.tat(r.k).Add((used - r.n) * r.l.interval())
	r.n = used
}

// Cancel gives the whole reservation back.
func (r *Reservation) Cancel() { r.Settle(0) }

// Text is the limit in decimal, for RateLimit-Limit.
func (l *Limit) Text() string { return l.text }
