package admin_test

import (
	"context"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

// TestSubscriptionApproval: a pending subscription is listed, approved by
// an editor (the application's consumer gets the plan), or rejected.
func TestSubscriptionApproval(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	ctx := context.Background()
	now := time.Now().UTC()
	if err := s.st.CreateDeveloper(ctx, store.Developer{ID: "dev_1", Email: "ada@example.com", Name: "Ada", PasswordHash: "x", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"app_1", "app_2"} {
		if err := s.st.CreateApp(ctx, store.App{ID: id, DeveloperID: "dev_1", Name: "App " + id, CreatedAt: now},
			store.Consumer{Name: id, CreatedBy: "developer:ada@example.com"}, store.AuditEntry{Actor: "developer:ada@example.com", Action: "app.create"}); err != nil {
			t.Fatal(err)
		}
		if err := s.st.Subscribe(ctx, store.Subscription{AppID: id, Group: "default", API: "orders", Plan: "gold", State: store.SubscriptionPending, CreatedAt: now},
			store.AuditEntry{Actor: "developer:ada@example.com", Action: "subscription.pending"}); err != nil {
			t.Fatal(err)
		}
	}
	code, list, _ := s.call(rootToken, "GET", "/admin/v1/subscriptions?state=pending", "", "")
	if subs, _ := list["subscriptions"].([]any); code != 200 || len(subs) != 2 || subs[0].(map[string]any)["developer"] != "ada@example.com" {
		t.Fatalf("pending subscriptions: %d %v", code, list)
	}
	if code, body, _ := s.call(rootToken, "POST", "/admin/v1/subscriptions/app_1/orders/approve", "", ""); code != 200 || body["state"] != "active" {
		t.Fatalf("approve: %d %v", code, body)
	}
	if code, body, _ := s.call(rootToken, "POST", "/admin/v1/subscriptions/app_2/orders/reject", "", ""); code != 200 || body["state"] != "rejected" {
		t.Fatalf("reject: %d %v", code, body)
	}
	plans := map[string]string{}
	cs, _ := s.st.Consumers(ctx)
	for _, c := range cs {
		plans[c.Name] = c.Plan
	}
	if plans["app_1"] != "gold" || plans["app_2"] != "" {
		t.Fatalf("plans after the decisions: %v", plans)
	}
	if code, _, _ := s.call(rootToken, "POST", "/admin/v1/subscriptions/app_9/orders/approve", "", ""); code != 404 {
		t.Errorf("approving a subscription that does not exist: %d", code)
	}
	if code, list, _ = s.call(rootToken, "GET", "/admin/v1/subscriptions?state=active", "", ""); len(list["subscriptions"].([]any)) != 1 {
		t.Errorf("active subscriptions: %d %v", code, list)
	}
}
