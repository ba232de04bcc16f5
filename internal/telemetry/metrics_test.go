package telemetry

import (
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The runtime's scheduling-latency and stop-the-world histograms are
// exported (docs/operations.md), with samples in them, and they are the
// only scheduler histograms added to the default Go collector's series.
func TestMetricsExportSchedulerLatency(t *testing.T) {
	m := NewMetrics()
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(runtime.Gosched)
	}
	wg.Wait()
	runtime.GC()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, f := range families {
		name := f.GetName()
		if strings.HasPrefix(name, "go_sched_") && name != "go_sched_gomaxprocs_threads" && name != "go_sched_goroutines_goroutines" {
			if h := f.GetMetric()[0].GetHistogram(); h != nil {
				counts[name] = h.GetSampleCount()
			} else {
				t.Errorf("%s is not a histogram", name)
			}
		}
	}
	for _, name := range []string{"go_sched_latencies_seconds", "go_sched_pauses_total_gc_seconds"} {
		if counts[name] == 0 {
			t.Errorf("%s: no samples (families: %v)", name, counts)
		}
	}
	if len(counts) != 2 {
		t.Errorf("runtime scheduler series exported: %v, want exactly the two histograms", counts)
	}
}
