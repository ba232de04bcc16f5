package storetest

import (
	"sync"
	"testing"

	"github.com/portico-gw/portico/internal/store"
)

// testQuotaUsage: counts add up across concurrent writers (nodes sharing
// a database), survive a reopen, and are read per period.
func testQuotaUsage(t *testing.T, b Backend) {
	s, addr := b.open(t)
	const day, month = "day:UTC:2026-11-27", "month:UTC:2026-11"
	got, err := s.AddQuotaUsage(ctx, []store.QuotaCount{{Consumer: "acme", Period: day, Used: 3}, {Consumer: "acme", Period: month, Used: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Used != 3 || got[1].Used != 5 {
		t.Fatalf("first add answered %+v, want totals 3 and 5", got)
	}
	// Four writers, 25 adds of 2 each: every add lands exactly once.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for range 25 {
				if _, err := s.AddQuotaUsage(ctx, []store.QuotaCount{{Consumer: "acme", Period: day, Used: 2}}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := s.AddQuotaUsage(ctx, []store.QuotaCount{{Consumer: "globex", Period: day, Used: 1}}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()

	s2, err := b.Open(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s2.Close() }()
	counts, err := s2.QuotaUsage(ctx, []string{day})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.QuotaCount{{Consumer: "acme", Period: day, Used: 203}, {Consumer: "globex", Period: day, Used: 1}}
	if len(counts) != 2 || counts[0] != want[0] || counts[1] != want[1] {
		t.Fatalf("after reopen: %+v, want %+v", counts, want)
	}
	counts, err = s2.QuotaUsage(ctx, []string{"day:UTC:2026-11-28"})
	if err != nil || len(counts) != 0 {
		t.Fatalf("an unused period: %+v, %v; want none", counts, err)
	}
}
