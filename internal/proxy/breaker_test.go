package proxy

import (
	"testing"
	"time"
)

func TestBreakerStates(t *testing.T) {
	t.Parallel()
	b := &breaker{spec: BreakerSpec{ErrorRate: 0.5, Window: 10 * time.Second, MinRequests: 4, Cooldown: time.Second}, w: newWindow(10 * time.Second)}
	now := time.Now().UnixNano()
	for i := range 4 {
		if ok, _ := b.allow(now); !ok {
			t.Fatalf("closed circuit refused request %d", i)
		}
		b.record(now, i%2 == 1) // 2 of 4 failed: 50%, the last one a failure
	}
	if ok, _ := b.allow(now); ok || b.state.Load() != CircuitOpen {
		t.Fatal("50% errors over 4 requests did not open the circuit")
	}
	later := now + int64(time.Second)
	ok, trial := b.allow(later)
	if !ok || !trial || b.state.Load() != CircuitHalfOpen {
		t.Fatalf("after the cooldown: ok=%v trial=%v state=%d, want the half-open trial", ok, trial, b.state.Load())
	}
	if ok, _ := b.allow(later); ok {
		t.Fatal("a second request got through while the trial is out")
	}
	// The trial never reached the upstream: it is given back, not lost.
	b.untried()
	if ok, trial := b.allow(later); !ok || !trial {
		t.Fatal("after an untried trial, no new trial was let through")
	}
	b.record(later, false)
	if ok, _ := b.allow(later); !ok || b.state.Load() != CircuitClosed {
		t.Fatal("a successful trial did not close the circuit")
	}
	// A failed trial opens it again.
	b.open(later)
	ok, _ = b.allow(later + int64(time.Second))
	b.record(later+int64(time.Second), true)
	if !ok || b.state.Load() != CircuitOpen {
		t.Fatalf("a failed trial left the circuit in state %d", b.state.Load())
	}
}

func TestRetryBudgetFloor(t *testing.T) {
	t.Parallel()
	b := newBudget(0.1)
	now := time.Now().UnixNano()
	for range 10 {
		b.request(now)
	}
	// 10% of 10 requests is 1, but the floor allows 3.
	for i := range 3 {
		if !b.retry(now) {
			t.Fatalf("retry %d refused under the floor", i)
		}
	}
	if b.retry(now) {
		t.Fatal("a fourth retry passed a budget of max(10%, 3)")
	}
	for range 100 {
		b.request(now)
	}
	if !b.retry(now) {
		t.Fatal("with 110 requests, 10% allows more than 3 retries")
	}
}
