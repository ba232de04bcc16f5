package usage

import (
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
	gran             string
	bucket           int64
	api, route, cons string
	status           int
}

// Rollups adds records up into their minute, hour and day rollups (UTC
// buckets), in a stable order.
func Rollups(records []store.UsageRecord) []store.Rollup {
	type acc struct {
		r store.Rollup
		k *sketch.Sketch
	}
	idx := map[rollupKey]int{}
	var out []acc
	for i := range records {
		rec := &records[i]
		ms := float64(rec.Latency) / float64(time.Millisecond)
		for _, g := range Granularities {
			b := rec.Time.UTC().Truncate(g.Size)
			k := rollupKey{g.Name, b.Unix(), rec.API, rec.Route, rec.Consumer, rec.Status}
			j, ok := idx[k]
			if !ok {
				j = len(out)
				idx[k] = j
				out = append(out, acc{r: store.Rollup{Granularity: g.Name, Bucket: b, API: rec.API, Route: rec.Route,
					Consumer: rec.Consumer, Status: rec.Status}, k: sketch.New()})
			}
			a := &out[j]
			a.r.Requests++
			a.r.BytesIn += rec.BytesIn
			a.r.BytesOut += rec.BytesOut
			a.r.LatencySum += rec.Latency
			a.k.Add(ms)
		}
	}
	rs := make([]store.Rollup, len(out))
	for i := range out {
		rs[i] = out[i].r
		rs[i].Sketch = out[i].k.Encode(nil)
	}
	return rs
}
