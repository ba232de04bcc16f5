package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/postgres"
	"github.com/portico-gw/portico/internal/store/storetest"
	"github.com/portico-gw/portico/internal/testenv"
)

func open(ctx context.Context, addr string) (store.Store, error) { return postgres.Open(ctx, addr) }

func TestMain(m *testing.M) {
	storetest.CrashChild(open)
	os.Exit(m.Run())
}

// newSchema creates an empty schema for one test and returns a URL whose
// connections use it, so tests run in parallel against one database.
func newSchema(t testing.TB, base string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "portico_test_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("creating schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err == nil {
			_, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE")
			_ = db.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestContract(t *testing.T) {
	base := testenv.PostgresURL(t)
	storetest.Run(t, storetest.Backend{
		New:  func(t *testing.T) string { return newSchema(t, base) },
		Open: open,
	})
}

func TestAppendOnly(t *testing.T) {
	addr := newSchema(t, testenv.PostgresURL(t))
	s, err := postgres.Open(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := sql.Open("pgx", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.CheckAppendOnly(t, s, db)
}

func BenchmarkWriteUsage(b *testing.B) {
	s, err := postgres.Open(context.Background(), newSchema(b, testenv.PostgresURL(b)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchWriteUsage(b, s)
}
