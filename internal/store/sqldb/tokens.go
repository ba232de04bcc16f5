package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

// Token groups are stored comma-separated: group names cannot hold commas.

// CreateToken implements store.Store.
func (s *DB) CreateToken(ctx context.Context, t store.Token, a store.AuditEntry) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO admin_tokens (name, role, hash, groups, created_at, created_by, revoked_at)
			VALUES ($1, $2, $3, $4, $5, $6, 0)`,
			t.Name, t.Role, t.Hash, strings.Join(t.Groups, ","), ms(t.CreatedAt), t.CreatedBy)
		if err != nil {
			return s.wrap(err, "token "+t.Name)
		}
		a.Target = "token/" + t.Name
		return s.appendAudit(ctx, tx, &a)
	})
}

const tokenColumns = `name, role, hash, groups, created_at, created_by, revoked_at` //nolint:gosec // column names, not a credential

func scanToken(row interface{ Scan(...any) error }) (store.Token, error) {
	var t store.Token
	var groups string
	var created, revoked int64
	err := row.Scan(&t.Name, &t.Role, &t.Hash, &groups, &created, &t.CreatedBy, &revoked)
	if groups != "" {
		t.Groups = strings.Split(groups, ",")
	}
	t.CreatedAt, t.RevokedAt = fromMS(created), fromMS(revoked)
	return t, err
}

// TokenByHash implements store.Store.
func (s *DB) TokenByHash(ctx context.Context, hash string) (store.Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM admin_tokens WHERE hash = $1 AND revoked_at = 0`, hash))
	return t, s.wrap(err, "token")
}

// Tokens implements store.Store.
func (s *DB) Tokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM admin_tokens ORDER BY name`)
	if err != nil {
		return nil, s.wrap(err, "list tokens")
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, s.wrap(err, "list tokens")
		}
		out = append(out, t)
	}
	return out, s.wrap(rows.Err(), "list tokens")
}

// RevokeToken implements store.Store.
func (s *DB) RevokeToken(ctx context.Context, name string, at time.Time, a store.AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE admin_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at = 0`, ms(at), name)
		if err != nil {
			return s.wrap(err, "revoke token")
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("token %s: %w", name, store.ErrNotFound)
		}
		a.Target = "token/" + name
		return s.appendAudit(ctx, tx, &a)
	})
}
