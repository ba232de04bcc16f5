package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

// testPortal: developers are unique by email and verified once by their
// token; an application is a consumer; an active subscription sets the
// consumer's plan, a pending one does not.
func testPortal(t *testing.T, b Backend) {
	s, _ := b.open(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	d := store.Developer{ID: "dev1", Email: "ada@example.com", Name: "Ada", PasswordHash: "$argon2id$…", VerifyHash: "vh", //nolint:gosec // test data, not a credential
		VerifyExpires: now.Add(time.Hour), CreatedAt: now}
	if err := s.CreateDeveloper(ctx, d); err != nil {
		t.Fatal(err)
	}
	d2 := d
	d2.ID = "dev2"
	if err := s.CreateDeveloper(ctx, d2); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a second developer with the same email: %v", err)
	}
	if _, err := s.VerifyDeveloper(ctx, "vh", now.Add(2*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an expired verification: %v", err)
	}
	// Until the address is verified, a new sign-up replaces the old one.
	again := d2
	again.Name, again.PasswordHash, again.VerifyHash, again.VerifyExpires = "Ada L.", "$argon2id$new", "vh2", now.Add(2*time.Hour) //nolint:gosec // test data, not a credential
	if err := s.RestartSignup(ctx, again); err != nil {
		t.Fatalf("restart an unverified sign-up: %v", err)
	}
	if got, err := s.DeveloperByEmail(ctx, d.Email); err != nil || got.ID != "dev1" || got.Name != "Ada L." || got.PasswordHash != "$argon2id$new" || got.VerifyHash != "vh2" {
		t.Fatalf("after the restart: %+v %v", got, err)
	}
	if _, err := s.VerifyDeveloper(ctx, "vh", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the replaced sign-up's token still verifies: %v", err)
	}
	if err := s.RestartSignup(ctx, store.Developer{Email: "nobody@example.com"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("restart an address without a developer: %v", err)
	}
	got, err := s.VerifyDeveloper(ctx, "vh2", now)
	if err != nil || got.ID != "dev1" || got.VerifiedAt.IsZero() {
		t.Fatalf("verify: %+v %v", got, err)
	}
	if _, err := s.VerifyDeveloper(ctx, "vh2", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a verification token used twice: %v", err)
	}
	if err := s.RestartSignup(ctx, again); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("restart a verified address: %v", err)
	}
	if got, _ := s.DeveloperByEmail(ctx, d.Email); got.PasswordHash != "$argon2id$new" || got.VerifiedAt.IsZero() {
		t.Fatalf("a restart changed a verified developer: %+v", got)
	}
	if got, err := s.DeveloperByEmail(ctx, "ada@example.com"); err != nil || got.VerifiedAt.IsZero() {
		t.Fatalf("by email: %+v %v", got, err)
	}
	app := store.App{ID: "app1", DeveloperID: "dev1", Name: "My app", CreatedAt: now}
	if err := s.CreateApp(ctx, app, store.Consumer{Name: "app_1", CreatedBy: "developer:ada@example.com"}, audit("developer:ada@example.com", "app.create", "")); err != nil {
		t.Fatal(err)
	}
	apps, err := s.Apps(ctx, "dev1")
	if err != nil || len(apps) != 1 || apps[0].Consumer != "app_1" {
		t.Fatalf("apps: %+v %v", apps, err)
	}
	if other, _ := s.Apps(ctx, "dev2"); len(other) != 0 {
		t.Fatalf("another developer's apps: %+v", other)
	}
	sub := store.Subscription{AppID: "app1", Group: "default", API: "orders", Plan: "gold", State: store.SubscriptionPending, CreatedAt: now}
	if err := s.Subscribe(ctx, sub, audit("developer:ada@example.com", "subscription.request", "default")); err != nil {
		t.Fatal(err)
	}
	plan := func() string {
		cs, _ := s.Consumers(ctx)
		for _, c := range cs {
			if c.Name == "app_1" {
				return c.Plan
			}
		}
		return "?"
	}
	if p := plan(); p != "" {
		t.Fatalf("a pending subscription set the plan %q", p)
	}
	sub.State, sub.DecidedAt, sub.DecidedBy = store.SubscriptionActive, now, "root"
	if err := s.Subscribe(ctx, sub, audit("root", "subscription.approve", "default")); err != nil {
		t.Fatal(err)
	}
	subs, err := s.Subscriptions(ctx, "default", "")
	if err != nil || len(subs) != 1 || subs[0].State != store.SubscriptionActive || plan() != "gold" {
		t.Fatalf("subscriptions %+v (%v), plan %q", subs, err, plan())
	}
	if err := s.Subscribe(ctx, store.Subscription{AppID: "nope", Group: "default", API: "x", State: store.SubscriptionActive}, audit("x", "y", "")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a subscription of an unknown app: %v", err)
	}
}
