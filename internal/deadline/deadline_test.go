package deadline

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestNextKeepsTheDeadlineInItsWindow(t *testing.T) {
	const d = 800 * time.Millisecond // slack d/8 = 100 ms
	t0 := time.Now()
	var k Keeper
	steps := []struct {
		after time.Duration // since t0
		set   bool
		at    time.Duration // the deadline set, since t0
	}{
		{0, true, 900 * time.Millisecond},                       // nothing known: set
		{50 * time.Millisecond, false, 0},                       // 900 is in [850, 950]
		{100 * time.Millisecond, false, 0},                      // in [900, 1000]
		{101 * time.Millisecond, true, 1001 * time.Millisecond}, // 900 < 901: would fire early
		{200 * time.Millisecond, false, 0},
	}
	for i, s := range steps {
		at, set := k.Next(t0.Add(s.after), d)
		if set != s.set || set && !at.Equal(t0.Add(s.at)) {
			t.Fatalf("step %d: Next = %v, %v; want %v, %v", i, at.Sub(t0), set, s.at, s.set)
		}
	}
}

func TestNextAfterSetAndForget(t *testing.T) {
	now := time.Now()
	var k Keeper
	k.Next(now, time.Second)
	k.Set(time.Time{}) // the caller cleared it
	if _, set := k.Next(now, time.Second); !set {
		t.Fatal("a cleared deadline was taken for an armed one")
	}
	k.Set(now.Add(time.Hour)) // too late to stand for a second's timeout
	if _, set := k.Next(now, time.Second); !set {
		t.Fatal("a deadline an hour away was kept for a second's timeout")
	}
	k.Set(time.Unix(1, 0)) // an interruption
	if _, set := k.Next(now, time.Second); !set {
		t.Fatal("a past deadline was kept")
	}
	k.Forget()
	if _, set := k.Next(now, time.Second); !set {
		t.Fatal("a forgotten deadline was kept")
	}
}

func TestNextWithoutTimeout(t *testing.T) {
	now := time.Now()
	var k Keeper
	if at, set := k.Next(now, 0); !set || !at.IsZero() {
		t.Fatalf("Next(0) on an unknown deadline = %v, %v; want it cleared", at, set)
	}
	if _, set := k.Next(now, 0); set {
		t.Fatal("Next(0) cleared a deadline known to be clear")
	}
	k.Next(now, time.Second)
	if at, set := k.Next(now, -1); !set || !at.IsZero() {
		t.Fatalf("Next(-1) after an armed deadline = %v, %v; want it cleared", at, set)
	}
}

// Over any run of calls, the deadline in place after each is never
// earlier than the timeout asked for, nor later than its slack.
func TestNextNeverEarlyNorMuchLate(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var k Keeper
		var inPlace time.Time // what a connection would hold
		now := time.Now()
		for range 500 {
			now = now.Add(time.Duration(r.Int64N(int64(40 * time.Millisecond))))
			d := []time.Duration{10 * time.Millisecond, time.Second, 30 * time.Second}[r.IntN(3)]
			switch r.IntN(20) {
			case 0:
				inPlace = time.Time{}
				k.Set(inPlace)
			case 1:
				inPlace = time.Unix(1, 0)
				k.Forget()
			}
			if at, set := k.Next(now, d); set {
				inPlace = at
			}
			lo, hi := now.Add(d), now.Add(d+min(d/8, MaxSlack))
			if inPlace.Before(lo) || inPlace.After(hi) {
				t.Fatalf("deadline %v after now for a timeout of %v: outside [%v, %v]", inPlace.Sub(now), d, d, hi.Sub(now))
			}
		}
	}
}
