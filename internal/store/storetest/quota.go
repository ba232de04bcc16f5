package storetest

import (
	"errors"
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

// testConsumerPlans: a consumer's plan and groups are stored, changed
// with an audit entry holding both states, and bump the live version.
func testConsumerPlans(t *testing.T, b Backend) {
	s, _ := b.open(t)
	if err := s.CreateConsumer(ctx, store.Consumer{Name: "acme", Plan: "gold", Groups: []string{"partners"}, CreatedBy: "root"},
		audit("root", "consumer.create", "")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateConsumer(ctx, store.Consumer{Name: "plain", CreatedBy: "root"}, audit("root", "consumer.create", "")); err != nil {
		t.Fatal(err)
	}
	v0, _ := s.LiveVersion(ctx)
	if err := s.UpdateConsumer(ctx, store.Consumer{Name: "acme", Plan: "silver"}, audit("root", "consumer.update", "")); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateConsumer(ctx, store.Consumer{Name: "nobody", Plan: "gold"}, audit("root", "consumer.update", "")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("updating a missing consumer = %v, want ErrNotFound", err)
	}
	cs, err := s.Consumers(ctx)
	if err != nil || len(cs) != 2 {
		t.Fatalf("consumers %+v, %v", cs, err)
	}
	if cs[0].Name != "acme" || cs[0].Plan != "silver" || len(cs[0].Groups) != 0 || cs[1].Plan != "" || len(cs[1].Groups) != 0 {
		t.Fatalf("after the update: %+v", cs)
	}
	if v1, _ := s.LiveVersion(ctx); v1 <= v0 {
		t.Errorf("the live version did not move: %d -> %d", v0, v1)
	}
	entries, err := s.Audit(ctx, store.AuditFilter{Action: "consumer.update"})
	if err != nil || len(entries) != 1 || string(entries[0].Before) != `{"plan":"gold","groups":["partners"]}` ||
		string(entries[0].After) != `{"plan":"silver","groups":[]}` {
		t.Fatalf("audit %+v, %v", entries, err)
	}
}
