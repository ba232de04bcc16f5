package proxy

import (
	"strings"
	"testing"
	"time"
)

// TestIdleWatch: reads through a watch's readers postpone its expiry; it
// expires once, no sooner than its timeout after the last read; a zero
// timeout watches nothing; a stopped watch never expires.
func TestIdleWatch(t *testing.T) {
	t.Parallel()
	const d = 300 * time.Millisecond
	expired := make(chan time.Time, 2)
	w := newIdleWatch(d, func() { expired <- time.Now() })
	r := w.reader(strings.NewReader(strings.Repeat("x", 10)))
	var last time.Time
	buf := make([]byte, 1)
	for range 6 { // 6 reads, d/3 apart: 2 timeouts of activity
		if _, err := r.Read(buf); err != nil {
			t.Fatal(err)
		}
		last = time.Now()
		select {
		case at := <-expired:
			t.Fatalf("expired at %v while reads came every %v", at.Sub(last), d/3)
		case <-time.After(d / 3):
		}
	}
	select {
	case at := <-expired:
		// last is taken just after the read the watch recorded.
		if quiet := at.Sub(last); quiet < d-10*time.Millisecond {
			t.Errorf("expired %v after the last read, want at least %v", quiet, d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("never expired")
	}
	w.stop()
	select {
	case <-expired:
		t.Error("expired twice")
	case <-time.After(2 * d):
	}

	none := newIdleWatch(0, func() { t.Error("a zero timeout expired") })
	stopped := newIdleWatch(d, func() { t.Error("a stopped watch expired") })
	stopped.stop()
	time.Sleep(2 * d)
	none.stop()
}
