package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// requestContext is a request's context: it carries no values and no
// deadline, and is cancelled when the client leaves (the watch sees the
// connection close) or when the handler returns — what
// context.WithCancel(context.Background()) gives net/http's handlers.
//
// It is that context made cheaper for how the proxy uses it. Every proxied
// request registers a function that interrupts its upstream connection if
// the client leaves, and removes it when the answer is through; with
// context.AfterFunc on a WithCancel context that costs a child map, a Done
// channel, a child context and two closures per request. Here the Done
// channel is made only when asked for, and AfterFunc — the method
// context.AfterFunc and the proxy look for — keeps its functions in two
// inline slots: one allocation for the context and one for the stop
// function.
type requestContext struct {
	canceled atomic.Bool // read without the lock by Err

	mu    sync.Mutex
	done  chan struct{} // made by the first Done
	seq   uint64        // numbers registrations, so a stale stop finds nothing
	slots [2]afterFunc
	more  []afterFunc // when both slots are taken
}

type afterFunc struct {
	id uint64 // 0: the slot is free
	f  func()
}

// closedChan is the Done channel of a context asked for it only after it
// was cancelled.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (rc *requestContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (rc *requestContext) Value(any) any               { return nil }
func (rc *requestContext) String() string              { return "server.requestContext" }

func (rc *requestContext) Err() error {
	if !rc.canceled.Load() {
		return nil
	}
	// cancel sets the flag and closes Done under the lock: taking it
	// here means Done is closed whenever Err reports so.
	rc.mu.Lock()
	rc.mu.Unlock() //nolint:staticcheck // an empty critical section: waits for cancel
	return context.Canceled
}

func (rc *requestContext) Done() <-chan struct{} {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.done == nil {
		if rc.canceled.Load() {
			return closedChan
		}
		rc.done = make(chan struct{})
	}
	return rc.done
}

// AfterFunc arranges for f to run in its own goroutine once the context
// is cancelled, at once if it already is. stop unregisters f: it reports
// true if that kept f from running, false if f was started or stopped
// before — context.AfterFunc's contract.
func (rc *requestContext) AfterFunc(f func()) (stop func() bool) {
	rc.mu.Lock()
	if rc.canceled.Load() {
		rc.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	rc.seq++
	id := rc.seq
	a := afterFunc{id: id, f: f}
	switch {
	case rc.slots[0].id == 0:
		rc.slots[0] = a
	case rc.slots[1].id == 0:
		rc.slots[1] = a
	default:
		rc.more = append(rc.more, a)
	}
	rc.mu.Unlock()
	return func() bool { return rc.unregister(id) }
}

func (rc *requestContext) unregister(id uint64) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i := range rc.slots {
		if rc.slots[i].id == id {
			rc.slots[i] = afterFunc{}
			return true
		}
	}
	for i, a := range rc.more {
		if a.id == id {
			rc.more = append(rc.more[:i], rc.more[i+1:]...)
			return true
		}
	}
	return false
}

// cancel marks the context done, closes its Done channel if one was made
// and starts the registered functions. Later calls do nothing.
func (rc *requestContext) cancel() {
	rc.mu.Lock()
	if rc.canceled.Swap(true) {
		rc.mu.Unlock()
		return
	}
	if rc.done != nil {
		close(rc.done)
	}
	fs := rc.slots
	rc.slots = [2]afterFunc{}
	more := rc.more
	rc.more = nil
	rc.mu.Unlock()
	for _, a := range fs {
		if a.id != 0 {
			go a.f()
		}
	}
	for _, a := range more {
		go a.f()
	}
}
