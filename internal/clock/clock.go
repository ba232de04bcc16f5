// Package clock is the time line of Portico's in-memory timing — rate
// limits, circuit breakers, ejections, retry budgets, idle watches:
// nanoseconds since the process started, on the monotonic clock.
//
// Wall-clock nanoseconds (time.Now().UnixNano()) move when the clock is
// set: NTP stepping it at boot, a VM resumed, an operator's fix. Set back
// an hour, every rate limit key would refuse its client for that hour and
// an open circuit would stay open as long; set forward, every budget
// would be whole at once. The monotonic clock only moves forward, at the
// pace of real time. Absolute times that come from outside — a token's
// exp, a key's expiry, a quota's calendar period — stay on the wall
// clock.
package clock

import (
	"math"
	"time"
)

// start anchors the time line; time.Now carries a monotonic reading.
var start = time.Now()

// origin is where the line begins, about a year in: a zero value — a
// timestamp never set — then reads as long ago.
const origin = 1 << 55

// Now is the time since the process started, plus origin.
func Now() int64 { return origin + int64(time.Since(start)) }

// Of is t on the time line: from its monotonic reading when it has one
// (time.Now's, and what Add derives from them), else from its wall clock.
// A time some centuries away is the line's end.
func Of(t time.Time) int64 {
	d := t.Sub(start) // saturated at ±292 years
	if d > math.MaxInt64-origin {
		return math.MaxInt64
	}
	return origin + int64(d)
}

// Wall is the wall-clock time of a point on the time line, for showing
// it (an ejection's end, say): now's wall clock plus how far ahead it is.
func Wall(at int64) time.Time { return time.Now().Add(time.Duration(at - Now())) }
