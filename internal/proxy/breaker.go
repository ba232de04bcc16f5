package proxy

import (
	"sync"
	"sync/atomic"
	"time"
)

// BreakerSpec configures an upstream's circuit breaker: when at least
// MinRequests were sent in the last Window and ErrorRate of them failed,
// the circuit opens and requests are refused at once for Cooldown; then one
// trial request is let through (half-open): its success closes the
// circuit, its failure opens it again.
type BreakerSpec struct {
	ErrorRate   float64
	Window      time.Duration
	MinRequests int
	Cooldown    time.Duration
}

// Circuit states, as the metric reports them.
const (
	CircuitClosed   = 0
	CircuitOpen     = 1
	CircuitHalfOpen = 2
)

// window counts events over a sliding window of ten buckets.
type window struct {
	span    int64 // bucket length, ns
	mu      sync.Mutex
	buckets [10]struct {
		start         int64
		total, failed int64
	}
}

func newWindow(d time.Duration) *window { return &window{span: max(int64(d)/10, 1)} }

func (w *window) add(now int64, failed bool) {
	start := now - now%w.span
	w.mu.Lock()
	b := &w.buckets[(now/w.span)%10]
	if b.start != start {
		b.start, b.total, b.failed = start, 0, 0
	}
	b.total++
	if failed {
		b.failed++
	}
	w.mu.Unlock()
}

// sums returns the events of the window ending at now.
func (w *window) sums(now int64) (total, failed int64) {
	oldest := now - 10*w.span
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.buckets {
		if b.start > oldest {
			total += b.total
			failed += b.failed
		}
	}
	return total, failed
}

func (w *window) reset() {
	w.mu.Lock()
	w.buckets = [10]struct {
		start         int64
		total, failed int64
	}{}
	w.mu.Unlock()
}

// breaker is one upstream's circuit breaker.
type breaker struct {
	spec     BreakerSpec
	upstream string
	events   BreakerEvents
	w        *window
	state    atomic.Int32
	openedAt atomic.Int64
	trial    atomic.Bool // the half-open trial is out
}

// BreakerEvents receives circuit state changes (telemetry.Metrics
// implements it).
type BreakerEvents interface {
	CircuitState(upstream string, state int)
}

// allow says whether a request may go to the upstream at now, and
// whether it is the half-open trial, whose outcome decides the circuit:
// the caller must record it, or call untried when it could not be tried.
func (b *breaker) allow(now int64) (ok, trial bool) {
	switch b.state.Load() {
	case CircuitClosed:
		return true, false
	case CircuitOpen:
		if now-b.openedAt.Load() < int64(b.spec.Cooldown) || !b.state.CompareAndSwap(CircuitOpen, CircuitHalfOpen) {
			return false, false
		}
		b.changed(CircuitHalfOpen)
		b.trial.Store(true)
		return true, true
	default: // half-open: one trial at a time
		ok := b.trial.CompareAndSwap(false, true)
		return ok, ok
	}
}

// untried gives the trial back when its request ended without reaching
// the upstream (the client left, its body was too large).
func (b *breaker) untried() {
	if b.state.Load() == CircuitHalfOpen {
		b.trial.Store(false)
	}
}

// record counts the outcome of a request allowed at now.
func (b *breaker) record(now int64, failed bool) {
	if b.state.Load() == CircuitHalfOpen {
		b.trial.Store(false)
		if failed {
			b.open(now)
			return
		}
		b.w.reset()
		if b.state.CompareAndSwap(CircuitHalfOpen, CircuitClosed) {
			b.changed(CircuitClosed)
		}
		return
	}
	b.w.add(now, failed)
	if !failed {
		return
	}
	total, bad := b.w.sums(now)
	if total >= int64(b.spec.MinRequests) && float64(bad) >= b.spec.ErrorRate*float64(total) {
		b.open(now)
	}
}

func (b *breaker) open(now int64) {
	b.openedAt.Store(now)
	if old := b.state.Swap(CircuitOpen); old != CircuitOpen {
		b.changed(CircuitOpen)
	}
}

func (b *breaker) changed(state int) {
	if b.events != nil {
		b.events.CircuitState(b.upstream, state)
	}
}

// budget caps retries at a share of an upstream's requests over the last
// ten seconds (with a floor, so that a quiet upstream may still retry), so
// that retries cannot multiply the load on an upstream that is failing.
type budget struct {
	ratio float64
	w     *window // total: requests; failed: retries
}

// minRetries is what any upstream may retry in the budget's window.
const minRetries = 3

func newBudget(ratio float64) *budget {
	return &budget{ratio: ratio, w: newWindow(10 * time.Second)}
}

// request counts a first try.
func (b *budget) request(now int64) { b.w.add(now, false) }

// retry takes a retry from the budget, or says there is none left.
func (b *budget) retry(now int64) bool {
	total, retries := b.w.sums(now)
	requests := total - retries
	if float64(retries+1) > max(b.ratio*float64(requests), minRetries) {
		return false
	}
	b.w.add(now, true)
	return true
}
