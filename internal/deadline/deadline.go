// Package deadline keeps a connection's deadline without resetting it on
// every request.
//
// A deadline set on a net.Conn re-arms a timer in the Go runtime's timer
// heap under the descriptor's lock; a proxy sets one for the wait of each
// request and each upstream exchange, tens of thousands of times a
// second, and nearly every one is pushed back before it fires. A Keeper
// remembers the deadline last set and asks for a new one only when it no
// longer falls in the window a caller wants: at least the timeout away
// (a timeout never fires early) and at most a slack beyond it (nor much
// late). nginx keeps its timers the same way (its lazy delay, 300 ms,
// either side).
package deadline

import "time"

// MaxSlack is the longest a timeout may fire late: a timeout d armed by
// Next fires between d and d + min(d/8, MaxSlack) after that call.
const MaxSlack = 250 * time.Millisecond

// Keeper is the deadline last set on one connection (or one of its
// directions). Its zero value knows none. It is not safe for concurrent
// use: the connection's owner calls it, or guards it with a lock.
type Keeper struct {
	at    time.Time // the deadline in place (zero: none) ...
	known bool      // ... unless it was changed behind the Keeper's back
}

// Next returns the deadline to set so that the connection's falls between
// now+d and now+d+min(d/8, MaxSlack) — or is none, when d is 0 or less —
// and false when the one in place does already (nothing to set). After
// true, the caller must set t.
func (k *Keeper) Next(now time.Time, d time.Duration) (t time.Time, set bool) {
	if d <= 0 {
		if k.known && k.at.IsZero() {
			return time.Time{}, false
		}
		k.at, k.known = time.Time{}, true
		return time.Time{}, true
	}
	lo := now.Add(d)
	hi := lo.Add(min(d/8, MaxSlack))
	if k.known && !k.at.IsZero() && !k.at.Before(lo) && !k.at.After(hi) {
		return time.Time{}, false
	}
	k.at, k.known = hi, true
	return hi, true
}

// Set records a deadline the caller sets exactly (the zero time: none).
func (k *Keeper) Set(t time.Time) { k.at, k.known = t, true }

// Forget records that the deadline changed in a way the Keeper does not
// follow (one direction of two, another goroutine): the next call of
// Next sets one.
func (k *Keeper) Forget() { k.known = false }
