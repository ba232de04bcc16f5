package storetest

import (
	"database/sql"
	"testing"

	"github.com/portico-gw/portico/internal/store"
)

// CheckAppendOnly publishes a revision through s and then tries to change
// history behind the store's back on db, the same database: updating or
// deleting audit entries and updating revisions must fail.
func CheckAppendOnly(t *testing.T, s store.Store, db *sql.DB) {
	t.Helper()
	if err := s.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(ctx, store.Publication{Group: "g", Content: []byte("{}"), Hash: "h"}, audit("a", "revision.publish", "g")); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE audit SET actor = 'mallory'`,
		`DELETE FROM audit`,
		`UPDATE revisions SET content = '{"evil":true}'`,
	} {
		if _, err := db.ExecContext(ctx, q); err == nil {
			t.Errorf("%s succeeded; history must be append-only", q)
		}
	}
	entries, _ := s.Audit(ctx, store.AuditFilter{})
	r, _ := s.Revision(ctx, "g", 1)
	if len(entries) != 1 || entries[0].Actor != "a" || string(r.Content) != "{}" {
		t.Errorf("history changed: %+v, %s", entries, r.Content)
	}
}
