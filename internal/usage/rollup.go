package usage

import (
	"runtime"
	"time"

	"github.com/portico-gw/portico/internal/sketch"
	"github.com/portico-gw/portico/internal/store"
)

// Granularities are the rollups written for every record, with the
// length of their buckets.
var Granularities = []struct {
	Name string
	Size time.Duration
}{{store.Minute, time.Minute}, {store.Hour, time.Hour}, {store.Day, 24 * time.Hour}}

type rollupKey struct {
	bucket           int64
	api, route, cons string
	status           int
}

type acc struct {
	r store.Rollup
	k *sketch.Sketch
}

// Rollups adds records up into their minute, hour and day rollups (UTC
// buckets), in a stable order: each record into its minute, then each
// minute into its hour and day.
func Rollups(records []store.UsageRecord) []store.Rollup {
	minutes, order := aggregate(records)
	out := make([]store.Rollup, 0, 3*len(order))
	for _, g := range Granularities[1:] {
		idx := map[rollupKey]int{}
		var coarse []*acc
		for i, mk := range order {
			pause(i, 32) // a merge of sketches costs some records' worth
			m := minutes[mk]
			k := mk
			k.bucket = time.Unix(mk.bucket, 0).UTC().Truncate(g.Size).Unix()
			j, ok := idx[k]
			if !ok {
				j = len(coarse)
				idx[k] = j
				r := m.r
				r.Granularity, r.Bucket, r.Requests, r.BytesIn, r.BytesOut, r.LatencySum = g.Name, time.Unix(k.bucket, 0).UTC(), 0, 0, 0, 0
				r.TokensIn, r.TokensOut, r.CostPico, r.Unpriced, r.Estimated = 0, 0, 0, 0, 0
				coarse = append(coarse, &acc{r: r, k: sketch.New()})
			}
			c := coarse[j]
			c.r.Requests += m.r.Requests
			c.r.BytesIn += m.r.BytesIn
			c.r.BytesOut += m.r.BytesOut
			c.r.LatencySum += m.r.LatencySum
			c.r.TokensIn += m.r.TokensIn
			c.r.TokensOut += m.r.TokensOut
			c.r.CostPico += m.r.CostPico
			c.r.Unpriced += m.r.Unpriced
			c.r.Estimated += m.r.Estimated
			c.k.Merge(m.k)
		}
		for i, c := range coarse {
			pause(i, 32)
			c.r.Sketch = c.k.Encode(nil)
			out = append(out, c.r)
		}
	}
	for i, mk := range order {
		pause(i, 32)
		m := minutes[mk]
		m.r.Sketch = m.k.Encode(nil)
		out = append(out, m.r)
	}
	return out
}

// pause lets other goroutines run at every nth step of a loop. The writer
// adds up thousands of records at a time, and on a node with two cores a
// goroutine that kept its core for milliseconds would leave the requests
// queued behind it waiting as long: the Go scheduler takes a core from a
// running goroutine only after 10 ms (docs/performance.md).
func pause(i, n int) {
	if i%n == n-1 {
		runtime.Gosched()
	}
}

// aggregate adds records up per minute, returning the minutes in the order
// first seen.
func aggregate(records []store.UsageRecord) (map[rollupKey]*acc, []rollupKey) {
	minutes := map[rollupKey]*acc{}
	var order []rollupKey
	for i := range records {
		pause(i, 256)
		rec := &records[i]
		b := rec.Time.UTC().Truncate(time.Minute)
		k := rollupKey{b.Unix(), rec.API, rec.Route, rec.Consumer, rec.Status}
		a := minutes[k]
		if a == nil {
			a = &acc{r: store.Rollup{Granularity: store.Minute, Bucket: b, API: rec.API, Route: rec.Route, Consumer: rec.Consumer,
				Status: rec.Status}, k: sketch.New()}
			minutes[k] = a
			order = append(order, k)
		}
		a.r.Requests++
		a.r.BytesIn += rec.BytesIn
		a.r.BytesOut += rec.BytesOut
		a.r.LatencySum += rec.Latency
		a.r.TokensIn += rec.TokensIn
		a.r.TokensOut += rec.TokensOut
		a.r.CostPico += rec.CostPico
		if rec.Unpriced {
			a.r.Unpriced++
		}
		if rec.Estimated {
			a.r.Estimated++
		}
		a.k.Add(float64(rec.Latency) / float64(time.Millisecond))
	}
	return minutes, order
}
