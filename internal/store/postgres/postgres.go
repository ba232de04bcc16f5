// Package postgres is the production store: PostgreSQL through pgx.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/portico-gw/portico/internal/store/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key that serialises migrations of
// nodes starting together ("portico" in ASCII).
const migrationLock = `SELECT pg_advisory_xact_lock(112111114116105)`

// usageLock serialises usage batches of nodes sharing the database
// ("usage" in ASCII).
const usageLock = `SELECT pg_advisory_xact_lock(117115097103101)`

// Open connects to the database at url (postgres://…) and migrates it.
func Open(ctx context.Context, url string) (*sqldb.DB, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: connecting to PostgreSQL: %w", err)
	}
	ms, err := sqldb.LoadMigrations(migrations, "migrations")
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s, err := sqldb.Open(ctx, db, sqldb.Dialect{Name: "PostgreSQL", Migrations: ms, IsUnique: isUnique, LockMigrations: migrationLock, LockUsage: usageLock})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
