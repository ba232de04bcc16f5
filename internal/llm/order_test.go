package llm

import (
	"sync/atomic"
	"testing"
	"time"
)

func targets(n int) []target {
	var ts []target
	for i := range n {
		ts = append(ts, target{p: &provider{name: string(rune('a' + i))}, priority: int64(i), weight: 1,
			inflight: new(atomic.Int64), ttft: new(atomic.Int64), failures: new(atomic.Int64), openUntil: new(atomic.Int64)})
	}
	return ts
}

// TestStrategies: each strategy puts its choice first and the others
// after it by priority.
func TestStrategies(t *testing.T) {
	ts := targets(3)
	if o := (&alias{strategy: "priority", targets: ts}).order(); o[0].p.name != "a" || o[2].p.name != "c" {
		t.Fatalf("priority: %v", names(o))
	}
	ts[0].inflight.Store(5)
	ts[1].inflight.Store(2)
	ts[2].inflight.Store(3)
	if o := (&alias{strategy: "least_busy", targets: ts}).order(); names(o) != "bac" {
		t.Fatalf("least_busy: %s", names(o))
	}
	lat := targets(3)
	lat[0].observe(300 * time.Millisecond)
	lat[1].observe(100 * time.Millisecond)
	lat[2].observe(200 * time.Millisecond)
	if o := (&alias{strategy: "latency", targets: lat}).order(); names(o) != "bac" {
		t.Fatalf("latency: %s", names(o))
	}
	lat[1].observe(900 * time.Millisecond) // b slows down: the average moves
	if o := (&alias{strategy: "latency", targets: lat}).order(); o[0].p.name == "b" {
		t.Fatalf("latency after b slowed: %s", names(o))
	}
	w := targets(2)
	w[0].weight, w[1].weight = 3, 1
	first := map[string]int{}
	for range 8000 {
		first[(&alias{strategy: "weighted", targets: w}).order()[0].p.name]++
	}
	if first["a"] < 5700 || first["a"] > 6300 {
		t.Fatalf("weighted 3:1 over 8000 calls: %v", first)
	}
}

func names(ts []target) string {
	s := ""
	for _, t := range ts {
		s += t.p.name
	}
	return s
}

// TestBreaker: after BreakerFailures consecutive failures a deployment is
// left out for the cooldown, unless every deployment is out; a success
// closes it.
func TestBreaker(t *testing.T) {
	ts := targets(2)
	a := &alias{strategy: "priority", targets: ts}
	now := time.Now()
	for range BreakerFailures - 1 {
		ts[0].failed(now)
	}
	if names(a.order()) != "ab" {
		t.Fatalf("below the threshold: %s", names(a.order()))
	}
	ts[0].failed(now)
	if names(a.order()) != "b" {
		t.Fatalf("open: %s", names(a.order()))
	}
	for range BreakerFailures {
		ts[1].failed(now)
	}
	if names(a.order()) != "ab" {
		t.Fatalf("every circuit open: %s, want all tried", names(a.order()))
	}
	ts[0].succeeded()
	if names(a.order()) != "a" {
		t.Fatalf("a closed again, b open: %s", names(a.order()))
	}
}
