package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

// testSessions: a session reads back until it expires or is revoked, and
// pruning removes ended ones only.
func testSessions(t *testing.T, b Backend) {
	s, _ := b.open(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	live := store.WebSession{IDHash: "h1", Kind: "console", Subject: "tok", CSRF: "c1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	old := store.WebSession{IDHash: "h2", Kind: "console", Subject: "tok", CSRF: "c2", CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}
	for _, w := range []store.WebSession{live, old} {
		if err := s.CreateSession(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateSession(ctx, live); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a second session with the same ID: %v", err)
	}
	got, err := s.Session(ctx, "h1", now)
	if err != nil || got.Subject != "tok" || got.CSRF != "c1" || !got.ExpiresAt.Equal(live.ExpiresAt) {
		t.Fatalf("session %+v %v", got, err)
	}
	if _, err := s.Session(ctx, "h2", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an expired session: %v", err)
	}
	if _, err := s.Session(ctx, "h1", now.Add(2*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a session past its expiry: %v", err)
	}
	if err := s.RevokeSession(ctx, "h1", now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, "h1", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a revoked session: %v", err)
	}
	if n, err := s.PruneSessions(ctx, now.Add(time.Minute)); err != nil || n != 2 {
		t.Fatalf("pruned %d (%v), want 2", n, err)
	}
}
