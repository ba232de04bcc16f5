// Package storetest is the contract every store.Store implementation must
// meet. Each implementation's tests call Run with a Backend; the suite is
// the same for SQLite and PostgreSQL.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

// Backend creates and opens stores of one implementation.
type Backend struct {
	// New returns the address of a new, empty store (a file path or a
	// database URL), removed when the test ends.
	New func(t *testing.T) string
	// Open opens the store at an address.
	Open func(ctx context.Context, addr string) (store.Store, error)
}

func (b Backend) open(t *testing.T) (store.Store, string) {
	t.Helper()
	addr := b.New(t)
	s, err := b.Open(context.Background(), addr)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, addr
}

// Run runs the contract suite.
func Run(t *testing.T, b Backend) {
	tests := map[string]func(*testing.T, Backend){
		"Reopen":               testReopen,
		"Groups":               testGroups,
		"Settings":             testSettings,
		"Draft":                testDraft,
		"Publish":              testPublish,
		"PublishChecksDraft":   testPublishChecksDraft,
		"ConcurrentPublishes":  testConcurrentPublishes,
		"Rollout":              testRollout,
		"Audit":                testAudit,
		"Tokens":               testTokens,
		"ConsumerKeys":         testConsumerKeys,
		"CrashDuringPublishes": testCrash,
		"QuotaUsage":           testQuotaUsage,
		"ConsumerPlans":        testConsumerPlans,
		"Usage":                testUsage,
		"Alerts":               testAlerts,
		"Sessions":             testSessions,
		"Portal":               testPortal,
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, b)
		})
	}
}

var ctx = context.Background()

func hash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func audit(actor, action, group string) store.AuditEntry {
	return store.AuditEntry{Actor: actor, Action: action, Group: group}
}

func testReopen(t *testing.T, b Backend) {
	s, addr := b.open(t)
	if err := s.EnsureGroup(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(ctx, store.Publication{Group: "default", Content: []byte(`{"v":1}`), Hash: "h1", Author: "a"}, audit("a", "revision.publish", "default")); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	// Opening again runs the migrations again: a no-op that keeps the data.
	s2, err := b.Open(ctx, addr)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer func() { _ = s2.Close() }()
	r, err := s2.LatestRevision(ctx, "default")
	if err != nil || string(r.Content) != `{"v":1}` {
		t.Fatalf("after reopen: %+v, %v", r, err)
	}
}

func testGroups(t *testing.T, b Backend) {
	s, _ := b.open(t)
	for _, g := range []string{"edge", "default", "edge"} {
		if err := s.EnsureGroup(ctx, g); err != nil {
			t.Fatalf("EnsureGroup(%s): %v", g, err)
		}
	}
	gs, err := s.Groups(ctx)
	if err != nil || len(gs) != 2 || gs[0].Name != "default" || gs[1].Name != "edge" {
		t.Fatalf("Groups = %+v, %v; want default and edge", gs, err)
	}
	if gs[0].CreatedAt.IsZero() || gs[0].LatestRevision != 0 {
		t.Errorf("new group %+v: want a creation time and no revision", gs[0])
	}
	if _, err := s.Group(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Group(missing) = %v, want ErrNotFound", err)
	}
	if err := s.CreateGroup(ctx, "partners", audit("root", "group.create", "")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup(ctx, "partners", audit("root", "group.create", "")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("creating partners twice = %v, want ErrConflict", err)
	}
	if d, err := s.Draft(ctx, "partners"); err != nil || d.Version != 1 {
		t.Errorf("the new group's draft = %+v, %v", d, err)
	}
	if entries, _ := s.Audit(ctx, store.AuditFilter{Group: "partners"}); len(entries) != 1 || entries[0].Target != "group/partners" {
		t.Errorf("group audit %+v", entries)
	}
}

func testDraft(t *testing.T, b Backend) {
	s, _ := b.open(t)
	if err := s.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	d, err := s.Draft(ctx, "g")
	if err != nil || d.Version != 1 || string(d.Content) != "{}" {
		t.Fatalf("new draft = %+v, %v; want version 1, {}", d, err)
	}
	d2, err := s.PutDraft(ctx, "g", []byte(`{"apis":[]}`), 1, audit("alice", "draft.put", "g"))
	if err != nil || d2.Version != 2 {
		t.Fatalf("PutDraft = %+v, %v; want version 2", d2, err)
	}
	if _, err := s.PutDraft(ctx, "g", []byte(`{"stale":true}`), 1, audit("bob", "draft.put", "g")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutDraft with a stale version = %v, want ErrConflict", err)
	}
	got, _ := s.Draft(ctx, "g")
	if string(got.Content) != `{"apis":[]}` || got.Version != 2 || got.UpdatedBy != "alice" {
		t.Fatalf("draft after a refused write = %+v", got)
	}
	entries, err := s.Audit(ctx, store.AuditFilter{Group: "g"})
	if err != nil || len(entries) != 1 {
		t.Fatalf("audit = %+v, %v; want exactly the accepted write", entries, err)
	}
	if e := entries[0]; e.Actor != "alice" || string(e.Before) != "{}" || string(e.After) != `{"apis":[]}` {
		t.Errorf("audit entry %+v: want alice with before {} and the new draft after", e)
	}
	if _, err := s.PutDraft(ctx, "missing", []byte("{}"), 1, audit("a", "draft.put", "missing")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PutDraft(missing) = %v, want ErrNotFound", err)
	}
}

func testPublish(t *testing.T, b Backend) {
	s, _ := b.open(t)
	if err := s.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LatestRevision(ctx, "g"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LatestRevision of a new group = %v, want ErrNotFound", err)
	}
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for i := 1; i <= 3; i++ {
		content := []byte(fmt.Sprintf(`{"n":%d}`, i))
		p := store.Publication{Group: "g", Content: content, Hash: hash(content), Author: "alice", Message: fmt.Sprint("change ", i), At: at}
		if i == 3 {
			p.RollbackOf = 1
		}
		r, err := s.Publish(ctx, p, audit("alice", "revision.publish", "g"))
		if err != nil || r.Number != int64(i) {
			t.Fatalf("publish %d = %+v, %v", i, r, err)
		}
	}
	latest, err := s.LatestRevision(ctx, "g")
	if err != nil || latest.Number != 3 || latest.RollbackOf != 1 || string(latest.Content) != `{"n":3}` ||
		latest.Hash != hash([]byte(`{"n":3}`)) || !latest.CreatedAt.Equal(at) || latest.Message != "change 3" {
		t.Fatalf("LatestRevision = %+v, %v", latest, err)
	}
	r2, err := s.Revision(ctx, "g", 2)
	if err != nil || string(r2.Content) != `{"n":2}` || r2.Author != "alice" {
		t.Fatalf("Revision(2) = %+v, %v", r2, err)
	}
	if _, err := s.Revision(ctx, "g", 9); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Revision(9) = %v, want ErrNotFound", err)
	}
	page, err := s.Revisions(ctx, "g", 0, 2)
	if err != nil || len(page) != 2 || page[0].Number != 3 || page[1].Number != 2 {
		t.Fatalf("Revisions(first page) = %+v, %v", page, err)
	}
	page, err = s.Revisions(ctx, "g", 2, 2)
	if err != nil || len(page) != 1 || page[0].Number != 1 {
		t.Fatalf("Revisions(before 2) = %+v, %v", page, err)
	}
	g, _ := s.Group(ctx, "g")
	if g.LatestRevision != 3 {
		t.Errorf("group latest revision = %d, want 3", g.LatestRevision)
	}
	entries, _ := s.Audit(ctx, store.AuditFilter{Action: "revision.publish"})
	if len(entries) != 3 || entries[0].Target != "revision/3" || string(entries[0].After) != `{"n":3}` {
		t.Errorf("publish audit = %+v; want three, newest first, naming the revision", entries)
	}
	if _, err := s.Publish(ctx, store.Publication{Group: "missing", Content: []byte("{}")}, audit("a", "revision.publish", "missing")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Publish to a missing group = %v, want ErrNotFound", err)
	}
}

func testPublishChecksDraft(t *testing.T, b Backend) {
	s, _ := b.open(t)
	if err := s.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	d, _ := s.PutDraft(ctx, "g", []byte(`{"a":1}`), 1, audit("alice", "draft.put", "g"))
	// Someone edits the draft after alice validated version d.Version.
	if _, err := s.PutDraft(ctx, "g", []byte(`{"a":2}`), d.Version, audit("bob", "draft.put", "g")); err != nil {
		t.Fatal(err)
	}
	_, err := s.Publish(ctx, store.Publication{Group: "g", Content: []byte(`{"a":1}`), DraftVersion: d.Version, Author: "alice"},
		audit("alice", "revision.publish", "g"))
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("publishing a draft version that changed = %v, want ErrConflict", err)
	}
	if _, err := s.LatestRevision(ctx, "g"); !errors.Is(err, store.ErrNotFound) {
		t.Error("a refused publish created a revision")
	}
	if entries, _ := s.Audit(ctx, store.AuditFilter{Action: "revision.publish"}); len(entries) != 0 {
		t.Errorf("a refused publish left audit entries %+v", entries)
	}
}

// testConcurrentPublishes publishes from many clients at once: every
// publish must succeed with its own number and exactly its own content.
func testConcurrentPublishes(t *testing.T, b Backend) {
	s, _ := b.open(t)
	if err := s.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	const clients, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, clients*each)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				content := []byte(fmt.Sprintf(`{"client":%d,"i":%d}`, c, i))
				if _, err := s.Publish(ctx, store.Publication{Group: "g", Content: content, Hash: hash(content), Author: fmt.Sprint(c)},
					audit(fmt.Sprint(c), "revision.publish", "g")); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent publish: %v", err)
	}
	revs, err := s.Revisions(ctx, "g", 0, 1000)
	if err != nil || len(revs) != clients*each {
		t.Fatalf("%d revisions, %v; want %d", len(revs), err, clients*each)
	}
	seen := map[string]bool{}
	for i, r := range revs {
		if want := int64(clients*each - i); r.Number != want {
			t.Fatalf("revision numbers are not consecutive: got %d at position %d", r.Number, i)
		}
		if r.Hash != hash(r.Content) || seen[string(r.Content)] {
			t.Fatalf("revision %d has mixed or repeated content %s", r.Number, r.Content)
		}
		seen[string(r.Content)] = true
	}
	if entries, _ := s.Audit(ctx, store.AuditFilter{Action: "revision.publish", Limit: 1000}); len(entries) != clients*each {
		t.Errorf("%d audit entries for %d publishes", len(entries), clients*each)
	}
}

func testRollout(t *testing.T, b Backend) {
	s, _ := b.open(t)
	if err := s.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(ctx, store.Publication{Group: "g", Content: []byte("{}")}, audit("a", "revision.publish", "g")); err != nil {
		t.Fatal(err)
	}
	for _, st := range []store.RolloutStatus{
		{Group: "g", Number: 1, Node: "node-b", State: store.RolloutFailed, Detail: "upstream x: bad URL"},
		{Group: "g", Number: 1, Node: "node-a", State: store.RolloutFailed, Detail: "first try"},
		{Group: "g", Number: 1, Node: "node-a", State: store.RolloutApplied},
	} {
		if err := s.SetRolloutStatus(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	sts, err := s.RolloutStatuses(ctx, "g", 1)
	if err != nil || len(sts) != 2 || sts[0].Node != "node-a" || sts[0].State != store.RolloutApplied || sts[0].Detail != "" ||
		sts[1].State != store.RolloutFailed || sts[1].Detail != "upstream x: bad URL" || sts[0].UpdatedAt.IsZero() {
		t.Fatalf("RolloutStatuses = %+v, %v", sts, err)
	}
	if err := s.SetRolloutStatus(ctx, store.RolloutStatus{Group: "g", Number: 7, Node: "n", State: store.RolloutApplied}); err == nil {
		t.Error("a status for a revision that does not exist was accepted")
	}
}

func testAudit(t *testing.T, b Backend) {
	s, _ := b.open(t)
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	entries := []store.AuditEntry{
		{At: base, Actor: "alice", Action: "draft.put", Group: "g1"},
		{At: base.Add(time.Hour), Actor: "bob", Action: "revision.publish", Group: "g1"},
		{At: base.Add(2 * time.Hour), Actor: "eve", Action: "draft.put", Group: "g2", Outcome: "denied", Detail: "role viewer"},
		{At: base.Add(3 * time.Hour), Actor: "alice", Action: "revision.publish", Group: "g2"},
	}
	for _, e := range entries {
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		desc string
		f    store.AuditFilter
		want []string // actors, newest first
	}{
		{"all", store.AuditFilter{}, []string{"alice", "eve", "bob", "alice"}},
		{"by group", store.AuditFilter{Group: "g1"}, []string{"bob", "alice"}},
		{"by actor", store.AuditFilter{Actor: "alice"}, []string{"alice", "alice"}},
		{"by action", store.AuditFilter{Action: "draft.put"}, []string{"eve", "alice"}},
		{"by outcome", store.AuditFilter{Outcome: "denied"}, []string{"eve"}},
		{"time range", store.AuditFilter{Since: base.Add(time.Hour), Until: base.Add(3 * time.Hour)}, []string{"eve", "bob"}},
		{"limit", store.AuditFilter{Limit: 1}, []string{"alice"}},
	}
	for _, tt := range tests {
		got, err := s.Audit(ctx, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		var actors []string
		for _, e := range got {
			actors = append(actors, e.Actor)
		}
		if fmt.Sprint(actors) != fmt.Sprint(tt.want) {
			t.Errorf("%s: %v, want %v", tt.desc, actors, tt.want)
		}
	}
	all, _ := s.Audit(ctx, store.AuditFilter{})
	older, _ := s.Audit(ctx, store.AuditFilter{BeforeID: all[1].ID})
	if len(older) != 2 || older[0].ID != all[2].ID {
		t.Errorf("paging before ID %d: %+v", all[1].ID, older)
	}
	if all[1].Outcome != "denied" || all[1].Detail != "role viewer" || !all[1].At.Equal(base.Add(2*time.Hour)) || all[0].Outcome != "ok" {
		t.Errorf("entries did not round-trip: %+v", all[:2])
	}
}

func testTokens(t *testing.T, b Backend) {
	s, _ := b.open(t)
	tok := store.Token{Name: "ci", Role: "publisher", Hash: hash([]byte("secret-1")), Groups: []string{"edge", "default"}, CreatedBy: "admin"}
	if err := s.CreateToken(ctx, tok, audit("admin", "token.create", "")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, store.Token{Name: "ci", Role: "viewer", Hash: hash([]byte("other"))}, audit("admin", "token.create", "")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second token named ci = %v, want ErrConflict", err)
	}
	if err := s.CreateToken(ctx, store.Token{Name: "ci2", Role: "viewer", Hash: tok.Hash}, audit("admin", "token.create", "")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second token with the same hash = %v, want ErrConflict", err)
	}
	got, err := s.TokenByHash(ctx, tok.Hash)
	if err != nil || got.Name != "ci" || got.Role != "publisher" || fmt.Sprint(got.Groups) != "[edge default]" || got.CreatedAt.IsZero() {
		t.Fatalf("TokenByHash = %+v, %v", got, err)
	}
	if _, err := s.TokenByHash(ctx, hash([]byte("wrong"))); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TokenByHash(wrong) = %v, want ErrNotFound", err)
	}
	revokedAt := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	if err := s.RevokeToken(ctx, "ci", revokedAt, audit("admin", "token.revoke", "")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TokenByHash(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a revoked token still authenticates: %v", err)
	}
	if err := s.RevokeToken(ctx, "ci", revokedAt, audit("admin", "token.revoke", "")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking twice = %v, want ErrNotFound", err)
	}
	list, _ := s.Tokens(ctx)
	if len(list) != 1 || !list[0].RevokedAt.Equal(revokedAt) {
		t.Errorf("Tokens = %+v; want ci, revoked", list)
	}
	entries, _ := s.Audit(ctx, store.AuditFilter{})
	if len(entries) != 2 || entries[0].Target != "token/ci" || entries[0].Action != "token.revoke" {
		t.Errorf("token audit = %+v; want create and revoke only", entries)
	}
}

func testSettings(t *testing.T, b Backend) {
	s, _ := b.open(t)
	if err := s.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Settings(ctx, "g"); err != nil || string(v) != "{}" {
		t.Fatalf("default settings = %s, %v", v, err)
	}
	if err := s.PutSettings(ctx, "g", []byte(`{"upstream_allow":["169.254.0.0/16"]}`), audit("root", "settings.put", "g")); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Settings(ctx, "g"); string(v) != `{"upstream_allow":["169.254.0.0/16"]}` {
		t.Fatalf("settings = %s", v)
	}
	entries, _ := s.Audit(ctx, store.AuditFilter{Action: "settings.put"})
	if len(entries) != 1 || string(entries[0].Before) != "{}" {
		t.Errorf("settings audit %+v", entries)
	}
	if _, err := s.Settings(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("settings of a missing group: %v", err)
	}
	if err := s.PutSettings(ctx, "missing", []byte("{}"), audit("root", "settings.put", "missing")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("put settings of a missing group: %v", err)
	}
}

func testConsumerKeys(t *testing.T, b Backend) {
	s, _ := b.open(t)
	v0, _ := s.LiveVersion(ctx)
	if err := s.CreateConsumer(ctx, store.Consumer{Name: "acme", CreatedBy: "root"}, audit("root", "consumer.create", "")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateConsumer(ctx, store.Consumer{Name: "acme"}, audit("root", "consumer.create", "")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second acme = %v, want ErrConflict", err)
	}
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	k1 := store.Key{ID: "key_1", Consumer: "acme", Hash: hash([]byte("secret-1")), CreatedAt: t0}
	if err := s.AddKey(ctx, k1, time.Time{}, audit("root", "key.create", "")); err != nil {
		t.Fatal(err)
	}
	if err := s.AddKey(ctx, store.Key{ID: "key_x", Consumer: "nobody", Hash: "h"}, time.Time{}, audit("root", "key.create", "")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a key for a missing consumer = %v, want ErrNotFound", err)
	}
	if err := s.AddKey(ctx, store.Key{ID: "key_dup", Consumer: "acme", Hash: k1.Hash}, time.Time{}, audit("root", "key.create", "")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a duplicate key hash = %v, want ErrConflict", err)
	}
	// Rotate: the new key is valid at once, the old one until the overlap ends.
	overlapEnd := t0.Add(24 * time.Hour)
	k2 := store.Key{ID: "key_2", Consumer: "acme", Hash: hash([]byte("secret-2")), CreatedAt: t0.Add(time.Minute)}
	if err := s.AddKey(ctx, k2, overlapEnd, audit("root", "key.rotate", "")); err != nil {
		t.Fatal(err)
	}
	active, v1, err := s.ActiveKeys(ctx, t0.Add(time.Hour))
	if err != nil || len(active) != 2 || v1 <= v0 {
		t.Fatalf("during the overlap: %+v, version %d (was %d), %v", active, v1, v0, err)
	}
	active, _, _ = s.ActiveKeys(ctx, overlapEnd.Add(time.Second))
	if len(active) != 1 || active[0].ID != "key_2" {
		t.Fatalf("after the overlap: %+v, want key_2 only", active)
	}
	if err := s.RevokeKey(ctx, "acme", "key_2", t0.Add(2*time.Hour), audit("root", "key.revoke", "")); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeKey(ctx, "acme", "key_2", t0, audit("root", "key.revoke", "")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking twice = %v, want ErrNotFound", err)
	}
	if active, _, _ := s.ActiveKeys(ctx, t0.Add(3*time.Hour)); len(active) != 1 || active[0].ID != "key_1" {
		t.Errorf("after revoking key_2: %+v, want key_1 (still in its overlap)", active)
	}
	keys, _ := s.Keys(ctx, "acme")
	if len(keys) != 2 || !keys[0].ExpiresAt.Equal(overlapEnd) || keys[1].RevokedAt.IsZero() {
		t.Errorf("Keys = %+v", keys)
	}
	cs, _ := s.Consumers(ctx)
	if len(cs) != 1 || cs[0].CreatedBy != "root" {
		t.Errorf("Consumers = %+v", cs)
	}
	if entries, _ := s.Audit(ctx, store.AuditFilter{}); len(entries) != 4 {
		t.Errorf("%d audit entries, want consumer.create, key.create, key.rotate, key.revoke", len(entries))
	}
}
