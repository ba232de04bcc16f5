package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/sketch"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/usage"
)

func usageBatch(id, node string, at time.Time, n int, latency time.Duration) store.UsageBatch {
	b := store.UsageBatch{ID: id, Group: "default", Node: node}
	k := sketch.New()
	for i := range n {
		b.Records = append(b.Records, store.UsageRecord{Time: at.Add(time.Duration(i) * time.Millisecond), Node: node,
			API: "shop", Route: "list", Consumer: "acme", Plan: "gold", Upstream: "shop", RequestID: fmt.Sprintf("%s-%d", id, i),
			Status: 200, Latency: latency, BytesIn: 10, BytesOut: 100})
		k.Add(float64(latency) / float64(time.Millisecond))
	}
	for _, g := range []string{store.Minute, store.Hour} {
		trunc := map[string]time.Duration{store.Minute: time.Minute, store.Hour: time.Hour}[g]
		b.Rollups = append(b.Rollups, store.Rollup{Granularity: g, Bucket: at.Truncate(trunc), API: "shop", Route: "list",
			Consumer: "acme", Status: 200, Requests: int64(n), BytesIn: int64(10 * n), BytesOut: int64(100 * n),
			LatencySum: time.Duration(n) * latency, Sketch: k.Encode(nil)})
	}
	return b
}

// testUsage: batches are written once however often they are delivered,
// rollups of concurrent writers add up and their sketches merge, and
// filters and pruning select what they say.
func testUsage(t *testing.T, b Backend) {
	s, _ := b.open(t)
	at := time.Date(2026, 11, 27, 10, 15, 0, 0, time.UTC)
	first := usageBatch("n1-1", "n1", at, 450, 20*time.Millisecond) // more than one INSERT of records
	if ok, err := s.WriteUsage(ctx, first); err != nil || !ok {
		t.Fatalf("first write: %v %v", ok, err)
	}
	if ok, err := s.WriteUsage(ctx, first); err != nil || ok {
		t.Fatalf("the same batch again: written=%v err=%v, want a no-op", ok, err)
	}
	// Four nodes write 10 batches each into the same rollup rows.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for n := range 4 {
		wg.Go(func() {
			for i := range 10 {
				node := fmt.Sprintf("n%d", n+2)
				if _, err := s.WriteUsage(ctx, usageBatch(fmt.Sprintf("%s-%d", node, i), node, at.Add(time.Second), 5, 200*time.Millisecond)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const total = 450 + 4*10*5
	f := store.RollupFilter{Group: "default", Granularity: store.Minute, From: at.Add(-time.Hour), To: at.Add(time.Hour)}
	var rows []store.Rollup
	if err := s.Rollups(ctx, f, func(r store.Rollup) error { rows = append(rows, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Requests != total || rows[0].BytesOut != 100*total || !rows[0].Bucket.Equal(at) {
		t.Fatalf("minute rollups %+v, want one row of %d requests at %v", rows, total, at)
	}
	k, err := sketch.Decode(rows[0].Sketch)
	if err != nil || k.Count() != total {
		t.Fatalf("merged sketch: count %d, %v", k.Count(), err)
	}
	// 450 of 650 at 20 ms, 200 at 200 ms: the median is 20 ms, p99 200 ms.
	if p50, p99 := k.Quantile(0.5), k.Quantile(0.99); p50 < 19.8 || p50 > 20.2 || p99 < 198 || p99 > 202 {
		t.Fatalf("p50 %v p99 %v", p50, p99)
	}
	var n int
	if err := s.UsageRecords(ctx, f, func(store.UsageRecord) error { n++; return nil }); err != nil || n != total {
		t.Fatalf("%d raw records (%v), want %d", n, err, total)
	}
	for _, c := range []struct {
		f    store.RollupFilter
		want int
	}{
		{store.RollupFilter{Consumer: "other"}, 0},
		{store.RollupFilter{API: "shop", Route: "list", StatusMin: 200, StatusMax: 299}, 1},
		{store.RollupFilter{StatusMin: 500}, 0},
		{store.RollupFilter{Granularity: store.Hour}, 1},
		{store.RollupFilter{Granularity: store.Day}, 0},
	} {
		q := f
		q.API, q.Route, q.Consumer, q.StatusMin, q.StatusMax = c.f.API, c.f.Route, c.f.Consumer, c.f.StatusMin, c.f.StatusMax
		if c.f.Granularity != "" {
			q.Granularity = c.f.Granularity
		}
		got := 0
		if err := s.Rollups(ctx, q, func(store.Rollup) error { got++; return nil }); err != nil || got != c.want {
			t.Errorf("filter %+v: %d rows (%v), want %d", c.f, got, err, c.want)
		}
	}
	// Pruning: minute rollups and raw records go, hour rollups stay.
	if _, err := s.PruneUsage(ctx, "default", at.Add(time.Hour), map[string]time.Time{store.Minute: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	rows = rows[:0]
	_ = s.Rollups(ctx, f, func(r store.Rollup) error { rows = append(rows, r); return nil })
	n = 0
	_ = s.UsageRecords(ctx, f, func(store.UsageRecord) error { n++; return nil })
	hours := 0
	f.Granularity = store.Hour
	_ = s.Rollups(ctx, f, func(store.Rollup) error { hours++; return nil })
	if len(rows) != 0 || n != 0 || hours != 1 {
		t.Fatalf("after pruning: %d minute rows, %d records, %d hour rows", len(rows), n, hours)
	}
}

// BenchWriteUsage measures the records per second a node's usage writer
// gets into s: batches of 5,000 records (20 routes, 50 consumers, 4
// statuses, spread over a minute), rollups computed in the loop as the
// writer does.
func BenchWriteUsage(b *testing.B, s store.Store) {
	const size = 5000
	at := time.Now().UTC().Truncate(time.Minute)
	recs := make([]store.UsageRecord, size)
	for i := range recs {
		recs[i] = store.UsageRecord{Time: at.Add(time.Duration(i) * 12 * time.Millisecond), API: "shop",
			Route: fmt.Sprintf("route-%d", i%20), Consumer: fmt.Sprintf("consumer-%d", i%50), Plan: "gold", Upstream: "shop",
			RequestID: fmt.Sprintf("req-%020d", i), Status: []int{200, 200, 404, 500}[i%4],
			Latency: time.Duration(1+i%97) * time.Millisecond, BytesIn: 100, BytesOut: 1000}
	}
	b.ResetTimer()
	for i := range b.N {
		batch := store.UsageBatch{ID: fmt.Sprintf("bench-%d-%d", at.UnixNano(), i), Group: "default", Node: "bench", Records: recs}
		batch.Rollups = usage.Rollups(recs)
		if _, err := s.WriteUsage(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "records/s")
}

// testAlerts: of nodes racing to fire (or resolve) a rule, exactly one
// moves it and records the event; history and deliveries read back; the
// usage feed returns batches written after a time.
func testAlerts(t *testing.T, b Backend) {
	s, _ := b.open(t)
	at := time.Now().UTC().Truncate(time.Millisecond)
	race := func(from, to string) int {
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for n := range 6 {
			wg.Go(func() {
				_, ok, err := s.AlertTransition(ctx, from, store.AlertEvent{Group: "default", Rule: "errors", State: to,
					Metric: "error_rate", Value: 0.5, Threshold: 0.2, At: at, Node: fmt.Sprintf("n%d", n)})
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					won++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return won
	}
	if w := race(store.AlertOK, store.AlertFiring); w != 1 {
		t.Fatalf("%d nodes fired the rule, want 1", w)
	}
	if w := race(store.AlertOK, store.AlertFiring); w != 0 {
		t.Fatalf("a firing rule fired again %d times", w)
	}
	if w := race(store.AlertFiring, store.AlertOK); w != 1 {
		t.Fatalf("%d nodes resolved the rule, want 1", w)
	}
	evs, err := s.AlertEvents(ctx, "default", "", 0, 10)
	if err != nil || len(evs) != 2 || evs[0].State != store.AlertOK || evs[1].State != store.AlertFiring || evs[1].Delivery != "pending" {
		t.Fatalf("events %+v, %v", evs, err)
	}
	if err := s.SetAlertDelivery(ctx, evs[1].ID, "delivered"); err != nil {
		t.Fatal(err)
	}
	evs, _ = s.AlertEvents(ctx, "default", "errors", evs[0].ID, 10)
	if len(evs) != 1 || evs[0].Delivery != "delivered" || !evs[0].At.Equal(at) || evs[0].Value != 0.5 {
		t.Fatalf("older events %+v", evs)
	}
	states, err := s.AlertStates(ctx, "default")
	if err != nil || len(states) != 1 || states[0].State != store.AlertOK {
		t.Fatalf("states %+v %v", states, err)
	}
	before := time.Now().Add(-time.Second).UnixMilli()
	if _, err := s.WriteUsage(ctx, usageBatch("feed-1", "n1", at, 3, time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	var got []string
	if _, err := s.WriteUsage(ctx, usageBatch("feed-2", "n1", at, 2, time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	err = s.UsageSince(ctx, "default", before, []string{"feed-2", "other"}, func(batch string, written int64, r store.UsageRecord) error {
		if written <= before {
			t.Errorf("batch written at %d, asked after %d", written, before)
		}
		got = append(got, batch+"/"+r.RequestID)
		return nil
	})
	if err != nil || len(got) != 3 || got[0] != "feed-1/feed-1-0" {
		t.Fatalf("usage since: %v %v", got, err)
	}
	got = nil
	_ = s.UsageSince(ctx, "default", time.Now().Add(time.Minute).UnixMilli(), nil, func(string, int64, store.UsageRecord) error { got = append(got, ""); return nil })
	if len(got) != 0 {
		t.Fatalf("records from the future: %d", len(got))
	}
}
