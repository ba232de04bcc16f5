package clock_test

import (
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/clock"
	"github.com/portico-gw/portico/internal/clock/clocktest"
)

// TestSettingTheWallClockDoesNotMoveTheLine: a second later is a second
// later on the time line, whether the wall clock was set back an hour or
// forward a day in between.
func TestSettingTheWallClockDoesNotMoveTheLine(t *testing.T) {
	now := time.Now()
	at := clock.Of(now)
	for _, step := range []time.Duration{time.Hour, -24 * time.Hour, 0} {
		later := clocktest.Stepped(now, step, time.Second)
		if d := time.Duration(clock.Of(later) - at); d != time.Second {
			t.Errorf("wall clock set back %v: %v later on the line, want 1s", step, d)
		}
	}
	if n := clock.Now(); n < at || n > clock.Of(time.Now()) {
		t.Errorf("Now %d is not between %d and Of(time.Now())", n, at)
	}
	// A timestamp never set (zero) is long before now.
	if clock.Now() < int64(300*24*time.Hour) {
		t.Errorf("Now = %d: a zero timestamp would be recent", clock.Now())
	}
	// Far times saturate instead of wrapping round.
	if far := clock.Of(now.Add(290 * 365 * 24 * time.Hour)); far < at {
		t.Errorf("a time 290 years on is %d, before now (%d)", far, at)
	}
	if d := time.Until(clock.Wall(clock.Now() + int64(time.Minute))); d < 59*time.Second || d > time.Minute {
		t.Errorf("Wall of a minute on is %v away", d)
	}
}
