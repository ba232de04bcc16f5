// Package clocktest makes, for tests, the times time.Now returns after
// the wall clock was set: the wall reading jumps, the monotonic one does
// not. The time package has no constructor for them.
package clocktest

import (
	"fmt"
	"time"
	"unsafe"
)

// layout is time.Time's: the wall clock word, then the monotonic reading
// when the wall word says there is one.
type layout struct {
	wall uint64
	ext  int64
	loc  *time.Location
}

// Stepped returns what time.Now reads d after t (a time.Now reading)
// when the wall clock was set back by step in between (forward when step
// is negative). It panics if the time package's layout has changed.
func Stepped(t time.Time, step, d time.Duration) time.Time {
	wall := t.Add(d - step)
	mono := t.Add(d)
	(*layout)(unsafe.Pointer(&wall)).ext = (*layout)(unsafe.Pointer(&mono)).ext //nolint:gosec // a test's stand-in for a clock being set
	if got := wall.Sub(t); got != d {
		panic(fmt.Sprintf("clocktest: monotonic reading %v after, want %v: time.Time's layout changed", got, d))
	}
	if got := time.Duration(wall.UnixNano() - t.UnixNano()); got != d-step {
		panic(fmt.Sprintf("clocktest: wall reading %v after, want %v: time.Time's layout changed", got, d-step))
	}
	return wall
}
