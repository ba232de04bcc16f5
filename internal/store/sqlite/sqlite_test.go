package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/sqlite"
	"github.com/portico-gw/portico/internal/store/storetest"
)

func open(ctx context.Context, path string) (store.Store, error) { return sqlite.Open(ctx, path) }

func TestMain(m *testing.M) {
	storetest.CrashChild(open)
	os.Exit(m.Run())
}

func TestContract(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		New:  func(t *testing.T) string { return filepath.Join(t.TempDir(), "portico.db") },
		Open: open,
	})
}

func TestRefusesABadPath(t *testing.T) {
	if _, err := sqlite.Open(context.Background(), "/tmp/x?mode=memory"); err == nil {
		t.Fatal("a path with ? was accepted")
	}
}

func TestAppendOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "portico.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.CheckAppendOnly(t, s, db)
}

func TestWALMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "portico.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, _ := sql.Open("sqlite", path)
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
}

func BenchmarkWriteUsage(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "portico.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchWriteUsage(b, s)
}
