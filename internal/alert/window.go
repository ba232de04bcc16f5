package alert

import (
	"time"

	"github.com/portico-gw/portico/internal/sketch"
	"github.com/portico-gw/portico/internal/store"
)

// ring holds a rule's traffic per second over its window: request and
// error counts, and a latency sketch when the rule watches a percentile.
type ring struct {
	buckets   []bucket
	latencies bool
}

type bucket struct {
	sec      int64
	requests int64
	errors   int64
	k        *sketch.Sketch
}

func newRing(seconds int, latencies bool) *ring {
	return &ring{buckets: make([]bucket, seconds), latencies: latencies}
}

// add counts r in its second, unless that second has left the ring.
func (g *ring) add(r *store.UsageRecord, now time.Time) {
	sec := r.Time.Unix()
	n := int64(len(g.buckets))
	if sec <= now.Unix()-n || sec > now.Unix()+60 {
		return // too old to matter, or from a clock far ahead
	}
	b := &g.buckets[sec%n]
	if b.sec != sec {
		*b = bucket{sec: sec}
	}
	b.requests++
	if r.Status >= 500 {
		b.errors++
	}
	if g.latencies {
		if b.k == nil {
			b.k = sketch.New()
		}
		b.k.Add(float64(r.Latency) / float64(time.Millisecond))
	}
}

// sum adds up the seconds in [from, to).
func (g *ring) sum(from, to int64) (requests, errors int64, k *sketch.Sketch) {
	if g.latencies {
		k = sketch.New()
	}
	for i := range g.buckets {
		b := &g.buckets[i]
		if b.sec < from || b.sec >= to || b.requests == 0 {
			continue
		}
		requests += b.requests
		errors += b.errors
		if k != nil && b.k != nil {
			k.Merge(b.k)
		}
	}
	return requests, errors, k
}
