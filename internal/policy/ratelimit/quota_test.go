package ratelimit

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/store/sqlite"
)

func TestQuotaPeriods(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	qs := NewQuotas()
	for _, c := range []struct {
		period string
		at     string // UTC
		key    string
		end    string // UTC
	}{
		// 23:30 UTC is already the next day in Paris.
		{"day", "2026-11-27T23:30:00Z", "day:Europe/Paris:2026-11-28", "2026-11-28T23:00:00Z"},
		{"day", "2026-11-27T22:59:59Z", "day:Europe/Paris:2026-11-27", "2026-11-27T23:00:00Z"},
		// The day clocks go back is 25 hours long.
		{"day", "2026-10-25T12:00:00Z", "day:Europe/Paris:2026-10-25", "2026-10-25T23:00:00Z"},
		{"month", "2026-12-31T23:30:00Z", "month:Europe/Paris:2027-01", "2027-01-31T23:00:00Z"},
		{"month", "2026-03-15T00:00:00Z", "month:Europe/Paris:2026-03", "2026-03-31T22:00:00Z"},
	} {
		q := qs.Quota(10, c.period, paris)
		at, _ := time.Parse(time.RFC3339, c.at)
		s := q.span(at)
		if s.key != c.key || s.end.UTC().Format(time.RFC3339) != c.end {
			t.Errorf("%s at %s: %s ending %s, want %s ending %s", c.period, c.at, s.key, s.end.UTC().Format(time.RFC3339), c.key, c.end)
		}
		// The cached span is left for the next one at its end.
		if next := q.span(s.end); next.key == s.key {
			t.Errorf("%s: the period after %s is the same one", c.period, s.key)
		}
	}
}

// TestQuotaSurvivesRestart: counts written to a real SQLite store are where
// a restarted node (new Quotas) starts from, and two nodes sharing the
// store see each other's counts after a flush.
func TestQuotaSurvivesRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()

	first := NewQuotas()
	q := first.Quota(5, "month", time.UTC)
	if err := first.Load(ctx, st, []*Quota{q}, now); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if ok, _ := q.takeLocal("acme", now); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	if err := first.Flush(ctx, st, now); err != nil {
		t.Fatal(err)
	}

	// A restart: the new process loads 3 and has 2 left.
	second := NewQuotas()
	q2 := second.Quota(5, "month", time.UTC)
	if err := second.Load(ctx, st, []*Quota{q2}, now); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		ok, retry := q2.takeLocal("acme", now)
		if ok != (i < 2) {
			t.Fatalf("after the restart, request %d: ok=%v, want %v", i, ok, i < 2)
		}
		if !ok && (retry <= 0 || retry > 31*24*time.Hour) {
			t.Fatalf("Retry-After %v is not the time until the month ends", retry)
		}
	}

	// The first node, still running, counts one more; after both flush,
	// each knows the sum (3 + 2 + 1 = 6 of 5: the overshoot of nodes that
	// share only a database is bounded by one flush interval of traffic).
	q.takeLocal("acme", now)
	for _, qs := range []*Quotas{second, first} {
		if err := qs.Flush(ctx, st, now); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := q.takeLocal("acme", now); ok {
		t.Fatal("after flushing, the first node still believed there was room")
	}
	counts, err := st.QuotaUsage(ctx, []string{q.CurrentPeriod(now)})
	if err != nil || len(counts) != 1 || counts[0].Used != 6 {
		t.Fatalf("stored counts %+v, %v; want acme at 6", counts, err)
	}
}

// TestQuotaFlushFailureKeepsCounts: a store that fails loses nothing; the
// counts go out with the next flush.
func TestQuotaFlushFailureKeepsCounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	qs := NewQuotas()
	q := qs.Quota(100, "day", time.UTC)
	for range 4 {
		q.takeLocal("acme", now)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := qs.Flush(canceled, st, now); err == nil {
		t.Fatal("a flush with a canceled context succeeded")
	}
	q.takeLocal("acme", now)
	if err := qs.Flush(ctx, st, now); err != nil {
		t.Fatal(err)
	}
	counts, err := st.QuotaUsage(ctx, []string{q.CurrentPeriod(now)})
	if err != nil || len(counts) != 1 || counts[0].Used != 5 {
		t.Fatalf("stored counts %+v, %v; want acme at 5", counts, err)
	}
}

// openStore opens a real SQLite store in the test's directory.
func openStore(t *testing.T) QuotaStore {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}
