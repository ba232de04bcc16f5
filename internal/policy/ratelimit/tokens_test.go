package ratelimit

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/testenv"
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

// TestRedisBudgetAcrossNodes: two nodes reserve from one LLM budget in
// Redis and settle each call to its cost: calls pass while their
// reservation fits what both have spent, exactly as one node would.
func TestRedisBudgetAcrossNodes(t *testing.T) {
	t.Parallel()
	url, prefix := testenv.RedisURL(t), uniquePrefix(t)
	a, b := newNode(t, url, prefix), newNode(t, url, prefix)
	now := time.Now()
	budgets := []*Quota{
		a.quotas.Budget("llmbudget:gold", 1000, "month", time.UTC).Shared(a.remote),
		b.quotas.Budget("llmbudget:gold", 1000, "month", time.UTC).Shared(b.remote),
	}
	// Each call reserves 300 and costs 70: the n-th passes while
	// 70 × (n-1) + 300 ≤ 1000, so 11 pass.
	passed := 0
	for i := range 20 {
		q := budgets[i%2]
		if ok, retry := q.Reserve("acme", 300, now); ok {
			passed++
			q.Adjust("acme", 70-300, now)
		} else if retry <= 0 {
			t.Fatal("a refusal without a retry time")
		}
	}
	if passed != 11 {
		t.Fatalf("%d calls passed across two nodes, want exactly 11", passed)
	}
	if got := budgets[0].Used("acme", now); got != 770 {
		t.Fatalf("node a sees a spend of %d, want 770", got)
	}
	// Another consumer has its own budget.
	if ok, _ := budgets[1].Reserve("other", 1000, now); !ok {
		t.Fatal("another consumer's budget was spent")
	}
}
