package usage

import (
	"fmt"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/sketch"
	"github.com/portico-gw/portico/internal/store"
)

// TestRollups: every record lands once in its minute, hour and day, and
// the coarse sketches hold every latency.
func TestRollups(t *testing.T) {
	at := time.Date(2026, 11, 30, 23, 58, 30, 0, time.UTC) // across an hour, a day and a month
	var recs []store.UsageRecord
	for i := range 300 {
		recs = append(recs, store.UsageRecord{Time: at.Add(time.Duration(i) * time.Second), API: "a", Route: fmt.Sprint("r", i%2),
			Consumer: "c", Status: 200 + 300*(i%3/2), Latency: time.Duration(i+1) * time.Millisecond, BytesOut: 10})
	}
	rs := Rollups(recs)
	per := map[string]int64{}
	var bytes, lat int64
	for _, r := range rs {
		per[r.Granularity] += r.Requests
		k, err := sketch.Decode(r.Sketch)
		if err != nil || k.Count() != r.Requests {
			t.Fatalf("%s %v: sketch of %d for %d requests (%v)", r.Granularity, r.Bucket, k.Count(), r.Requests, err)
		}
		if r.Granularity == store.Day {
			bytes += r.BytesOut
			lat += r.LatencySum.Milliseconds()
			if !r.Bucket.Equal(r.Bucket.Truncate(24 * time.Hour)) {
				t.Errorf("day bucket %v", r.Bucket)
			}
		}
	}
	if per[store.Minute] != 300 || per[store.Hour] != 300 || per[store.Day] != 300 || bytes != 3000 || lat != 300*301/2 {
		t.Fatalf("requests per granularity %v, bytes %d, latency %d", per, bytes, lat)
	}
	days := 0
	for _, r := range rs {
		if r.Granularity == store.Day && r.Route == "r0" && r.Status == 200 {
			days++
		}
	}
	if days != 2 {
		t.Fatalf("r0/200 spans 2 days, got %d day rollups", days)
	}
}

func BenchmarkRollups(b *testing.B) {
	at := time.Now()
	recs := make([]store.UsageRecord, 5000)
	for i := range recs {
		recs[i] = store.UsageRecord{Time: at.Add(time.Duration(i) * time.Millisecond), API: "shop", Route: fmt.Sprint("r", i%20),
			Consumer: fmt.Sprint("c", i%50), Status: 200, Latency: time.Duration(i%97+1) * time.Millisecond}
	}
	for b.Loop() {
		Rollups(recs)
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}
