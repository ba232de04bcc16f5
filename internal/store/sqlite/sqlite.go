// Package sqlite is the embedded store: a SQLite database file in the data
// directory, through a pure-Go driver (no cgo), in WAL mode with full
// fsync on commit, so a committed change survives a crash or power loss.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/portico-gw/portico/internal/store/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// SQLite result codes for unique and primary-key violations.
const (
	constraintPrimaryKey = 1555
	constraintUnique     = 2067
)

// Open opens (creating if needed) the database file at path and migrates it.
func Open(ctx context.Context, path string) (*sqldb.DB, error) {
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: the SQLite path %q may not contain ? or #", path)
	}
	// Every transaction takes the write lock at BEGIN (immediate), so two
	// writers queue on busy_timeout instead of failing mid-transaction.
	dsn := "file:" + path + "?_txlock=immediate" +
		"&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: opening %s: %w", path, err)
	}
	ms, err := sqldb.LoadMigrations(migrations, "migrations")
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s, err := sqldb.Open(ctx, db, sqldb.Dialect{Name: "SQLite", Migrations: ms, IsUnique: isUnique})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func isUnique(err error) bool {
	var coded interface{ Code() int }
	if !errors.As(err, &coded) {
		return false
	}
	return coded.Code() == constraintUnique || coded.Code() == constraintPrimaryKey
}
