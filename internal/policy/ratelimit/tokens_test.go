package ratelimit

import (
	"math"
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

// TestReserveHugeCounts: no count, however large, wraps the limit's
// arithmetic around: a reservation beyond the limit is refused and
// changes nothing, a settlement with an absurd usage fills the limit
// rather than emptying it, and a budget reservation near the largest
// integer is refused.
func TestReserveHugeCounts(t *testing.T) {
	ts := NewTables()
	defer ts.Close()
	l := ts.Limit("ai/tokens/0", 1000, time.Hour, ByConsumer, "")
	r := httptest.NewRequest("POST", "/", nil)
	x := &pipeline.Exchange{Consumer: "acme"}
	now := time.Now()
	for _, n := range []int64{1001, 1 << 40, 1 << 62, math.MaxInt64} {
		if _, ok, _, _ := l.Reserve(r, x, n, now); ok {
			t.Errorf("a reservation of %d of 1000 passed", n)
		}
	}
	res, ok, _, _ := l.Reserve(r, x, 1000, now)
	if !ok {
		t.Fatal("the whole limit, after the refusals, was refused")
	}
	res.Settle(math.MaxInt64) // a provider reporting nonsense
	if _, ok, _, _ := l.Reserve(r, x, 1, now.Add(time.Hour)); ok {
		t.Error("an hour after a settlement of MaxInt64, the limit had room: the count wrapped")
	}
	res.Settle(-1 << 62)
	if _, ok, _, _ := l.Reserve(r, x, 1000, now); !ok {
		t.Error("a negative usage settles as none, which gives back the reservation")
	}

	qs := NewQuotas()
	q := qs.Budget("llmbudget:gold", 1000, "month", time.UTC)
	if ok, _ := q.Reserve("acme", 10, now); !ok {
		t.Fatal("10 of 1000 refused")
	}
	for _, n := range []int64{991, math.MaxInt64 - 5, math.MaxInt64} {
		if ok, _ := q.Reserve("acme", n, now); ok {
			t.Errorf("a budget reservation of %d with 990 left passed", n)
		}
	}
	if ok, _ := q.Reserve("acme", 990, now); !ok {
		t.Error("the 990 left were refused after the refusals")
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
