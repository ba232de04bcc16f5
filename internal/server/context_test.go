package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ran waits up to a second for ch to be closed.
func ran(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-time.After(time.Second):
		return false
	}
}

func TestRequestContextCancel(t *testing.T) {
	rc := new(requestContext)
	if rc.Err() != nil {
		t.Fatalf("Err before cancel = %v", rc.Err())
	}
	done := rc.Done()
	select {
	case <-done:
		t.Fatal("Done is closed before cancel")
	default:
	}
	if d, ok := rc.Deadline(); ok || !d.IsZero() {
		t.Fatalf("Deadline = %v, %v; want none", d, ok)
	}
	rc.cancel()
	rc.cancel() // a second cancel does nothing (and does not close twice)
	if !errors.Is(rc.Err(), context.Canceled) {
		t.Fatalf("Err after cancel = %v", rc.Err())
	}
	if !ran(done) {
		t.Fatal("Done was not closed by cancel")
	}
	if !errors.Is(context.Cause(rc), context.Canceled) {
		t.Fatalf("Cause = %v", context.Cause(rc))
	}

	// Asked for Done only after cancel: a closed channel.
	late := new(requestContext)
	late.cancel()
	if !ran(late.Done()) {
		t.Fatal("Done made after cancel is not closed")
	}
}

func TestRequestContextAfterFunc(t *testing.T) {
	t.Run("runs once on cancel", func(t *testing.T) {
		rc := new(requestContext)
		var n atomic.Int32
		fired := make(chan struct{})
		stop := rc.AfterFunc(func() { n.Add(1); close(fired) })
		rc.cancel()
		if !ran(fired) {
			t.Fatal("f did not run after cancel")
		}
		if stop() {
			t.Fatal("stop after f started reported true")
		}
		rc.cancel()
		time.Sleep(10 * time.Millisecond)
		if n.Load() != 1 {
			t.Fatalf("f ran %d times", n.Load())
		}
	})
	t.Run("stopped never runs", func(t *testing.T) {
		rc := new(requestContext)
		var n atomic.Int32
		stop := rc.AfterFunc(func() { n.Add(1) })
		if !stop() {
			t.Fatal("first stop reported false")
		}
		if stop() {
			t.Fatal("second stop reported true")
		}
		rc.cancel()
		time.Sleep(10 * time.Millisecond)
		if n.Load() != 0 {
			t.Fatal("a stopped f ran")
		}
	})
	t.Run("registered after cancel runs at once", func(t *testing.T) {
		rc := new(requestContext)
		rc.cancel()
		fired := make(chan struct{})
		stop := rc.AfterFunc(func() { close(fired) })
		if !ran(fired) {
			t.Fatal("f registered on a cancelled context did not run")
		}
		if stop() {
			t.Fatal("stop reported true for an f that ran")
		}
	})
	t.Run("more than the inline slots", func(t *testing.T) {
		rc := new(requestContext)
		var wg sync.WaitGroup
		var n atomic.Int32
		stops := make([]func() bool, 6)
		for i := range stops {
			wg.Add(1)
			stops[i] = rc.AfterFunc(func() { n.Add(1); wg.Done() })
		}
		// Stop one inline and one spilled registration.
		if !stops[1]() || !stops[4]() {
			t.Fatal("stop of a pending f reported false")
		}
		wg.Add(-2)
		rc.cancel()
		wg.Wait()
		if n.Load() != 4 {
			t.Fatalf("%d functions ran, want 4", n.Load())
		}
	})
	t.Run("a stale stop leaves a newer registration", func(t *testing.T) {
		rc := new(requestContext)
		old := rc.AfterFunc(func() {})
		if !old() {
			t.Fatal("stop reported false")
		}
		fired := make(chan struct{})
		rc.AfterFunc(func() { close(fired) }) // takes the slot old had
		if old() {
			t.Fatal("a stale stop removed a newer registration")
		}
		rc.cancel()
		if !ran(fired) {
			t.Fatal("the newer f did not run")
		}
	})
}

// The standard library's helpers find the AfterFunc method: a context
// derived from a request's is cancelled with it.
func TestRequestContextDerived(t *testing.T) {
	rc := new(requestContext)
	child, cancel := context.WithTimeout(rc, time.Hour)
	defer cancel()
	fired := make(chan struct{})
	context.AfterFunc(rc, func() { close(fired) })
	rc.cancel()
	if !ran(child.Done()) {
		t.Fatal("a derived context was not cancelled")
	}
	if !ran(fired) {
		t.Fatal("context.AfterFunc's function did not run")
	}
}

// Registering and stopping costs one allocation (the stop function), where
// context.AfterFunc on a WithCancel context costs several.
func TestRequestContextAfterFuncAllocs(t *testing.T) {
	rc := new(requestContext)
	f := func() {}
	n := testing.AllocsPerRun(100, func() {
		stop := rc.AfterFunc(f)
		stop()
	})
	if n > 1 {
		t.Fatalf("AfterFunc and stop allocate %v times, want at most 1", n)
	}
}

// Registrations, stops and a cancel racing: every f runs at most once,
// and each runs exactly when its stop reported false.
func TestRequestContextConcurrent(t *testing.T) {
	for range 50 {
		rc := new(requestContext)
		var runs [16]atomic.Int32
		var stopped [16]bool
		var wg sync.WaitGroup
		for i := range runs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stop := rc.AfterFunc(func() { runs[i].Add(1) })
				stopped[i] = stop()
			}()
		}
		go rc.cancel()
		wg.Wait()
		rc.cancel()
		// The started functions run in goroutines of their own.
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) {
			bad := -1
			for i := range runs {
				want := int32(1)
				if stopped[i] {
					want = 0
				}
				if runs[i].Load() != want {
					bad = i
				}
			}
			if bad < 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("f %d ran %d times, stopped = %v", bad, runs[bad].Load(), stopped[bad])
			}
		}
	}
}
