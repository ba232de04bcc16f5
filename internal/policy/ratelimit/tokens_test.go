package ratelimit

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/pipeline"
)

// TestReserve: reservations take the most a call may use, settling gives
// back what it did not use, and a reservation beyond the limit waits for
// the time it would take to fit.
func TestReserve(t *testing.T) {
	ts := NewTables()
	defer ts.Close()
	l := ts.Limit("ai/tokens/0", 1000, time.Minute, ByConsumer, "")
	r := httptest.NewRequest("POST", "/", nil)
	x := &pipeline.Exchange{Consumer: "acme"}
	now := time.Now()
	res, ok, _, _ := l.Reserve(r, x, 800, now)
	if !ok {
		t.Fatal("800 of 1000 refused")
	}
	if _, ok, retry, _ := l.Reserve(r, x, 300, now); ok || retry <= 0 || retry > time.Minute {
		t.Fatalf("1100 of 1000: ok %v, retry %v", ok, retry)
	}
	res.Settle(100) // the call used 100 of its 800
	if _, ok, _, _ := l.Reserve(r, x, 850, now); !ok {
		t.Fatal("after settling at 100, 850 more were refused")
	}
	if _, ok, _, _ := l.Reserve(r, &pipeline.Exchange{Consumer: "other"}, 1000, now); !ok {
		t.Fatal("another consumer shares the budget")
	}
	if _, ok, retry, _ := l.Reserve(r, &pipeline.Exchange{Consumer: "big"}, 5000, now); ok || retry != time.Minute {
		t.Fatalf("more than the whole limit: %v %v", ok, retry)
	}
}
