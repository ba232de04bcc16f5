package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
		_, err := tx.ExecContext(ctx, `INSERT INTO admin_tokens (name, role, hash, groups, created_at, created_by, revoked_at, consumer)
			VALUES ($1, $2, $3, $4, $5, $6, 0, $7)`,
			t.Name, t.Role, t.Hash, strings.Join(t.Groups, ","), ms(t.CreatedAt), t.CreatedBy, t.Consumer)
		if err != nil {
			return s.wrap(err, "token "+t.Name)
		}
		a.Target = "token/" + t.Name
		return s.appendAudit(ctx, tx, &a)
	})
}

const tokenColumns = `name, role, hash, groups, created_at, created_by, revoked_at, consumer` //nolint:gosec // column names, not a credential

func scanToken(row interface{ Scan(...any) error }) (store.Token, error) {
	var t store.Token
	var groups string
	var created, revoked int64
	err := row.Scan(&t.Name, &t.Role, &t.Hash, &groups, &created, &t.CreatedBy, &revoked, &t.Consumer)
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

// bumpLive increases the live-data version in tx.
func (s *DB) bumpLive(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `UPDATE live_version SET version = version + 1 WHERE id = 1`)
	return s.wrap(err, "bump live version")
}

// CreateConsumer implements store.Store.
func (s *DB) CreateConsumer(ctx context.Context, c store.Consumer, a store.AuditEntry) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now()
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO consumers (name, plan, groups_json, created_at, created_by) VALUES ($1, $2, $3, $4, $5)`,
			c.Name, c.Plan, groupsJSON(c.Groups), ms(c.CreatedAt), c.CreatedBy); err != nil {
			return s.wrap(err, "consumer "+c.Name)
		}
		a.Target = "consumer/" + c.Name
		if err := s.appendAudit(ctx, tx, &a); err != nil {
			return err
		}
		return s.bumpLive(ctx, tx)
	})
}

// Consumers implements store.Store.
func (s *DB) Consumers(ctx context.Context) ([]store.Consumer, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, plan, groups_json, created_at, created_by FROM consumers ORDER BY name`)
	if err != nil {
		return nil, s.wrap(err, "list consumers")
	}
	defer rows.Close()
	var out []store.Consumer
	for rows.Next() {
		var c store.Consumer
		var created int64
		var groups string
		if err := rows.Scan(&c.Name, &c.Plan, &groups, &created, &c.CreatedBy); err != nil {
			return nil, s.wrap(err, "list consumers")
		}
		if err := json.Unmarshal([]byte(groups), &c.Groups); err != nil {
			return nil, fmt.Errorf("store: consumer %s has malformed groups: %w", c.Name, err)
		}
		c.CreatedAt = fromMS(created)
		out = append(out, c)
	}
	return out, s.wrap(rows.Err(), "list consumers")
}

// UpdateConsumer implements store.Store.
func (s *DB) UpdateConsumer(ctx context.Context, c store.Consumer, a store.AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var before store.Consumer
		var groups string
		err := tx.QueryRowContext(ctx, `SELECT plan, groups_json FROM consumers WHERE name = $1`, c.Name).Scan(&before.Plan, &groups)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("consumer %s: %w", c.Name, store.ErrNotFound)
		}
		if err != nil {
			return s.wrap(err, "consumer "+c.Name)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE consumers SET plan = $1, groups_json = $2 WHERE name = $3`,
			c.Plan, groupsJSON(c.Groups), c.Name); err != nil {
			return s.wrap(err, "consumer "+c.Name)
		}
		a.Target = "consumer/" + c.Name
		a.Before = []byte(`{"plan":` + strconv.Quote(before.Plan) + `,"groups":` + groups + `}`)
		a.After = []byte(`{"plan":` + strconv.Quote(c.Plan) + `,"groups":` + groupsJSON(c.Groups) + `}`)
		if err := s.appendAudit(ctx, tx, &a); err != nil {
			return err
		}
		return s.bumpLive(ctx, tx)
	})
}

func groupsJSON(groups []string) string {
	if groups == nil {
		groups = []string{}
	}
	b, _ := json.Marshal(groups)
	return string(b)
}

// AddKey implements store.Store.
func (s *DB) AddKey(ctx context.Context, k store.Key, expireOthersAt time.Time, a store.AuditEntry) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = now()
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM consumers WHERE name = $1`, k.Consumer).Scan(&exists); err != nil {
			return s.wrap(err, "consumer "+k.Consumer)
		}
		if exists == 0 {
			return fmt.Errorf("consumer %s: %w", k.Consumer, store.ErrNotFound)
		}
		if !expireOthersAt.IsZero() {
			if _, err := tx.ExecContext(ctx, `UPDATE consumer_keys SET expires_at = $1
				WHERE consumer = $2 AND revoked_at = 0 AND (expires_at = 0 OR expires_at > $1)`,
				ms(expireOthersAt), k.Consumer); err != nil {
				return s.wrap(err, "expire keys")
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO consumer_keys (id, consumer, hash, created_at, expires_at, revoked_at)
			VALUES ($1, $2, $3, $4, $5, 0)`, k.ID, k.Consumer, k.Hash, ms(k.CreatedAt), msOrZero(k.ExpiresAt)); err != nil {
			return s.wrap(err, "key "+k.ID)
		}
		a.Target = "consumer/" + k.Consumer + "/key/" + k.ID
		if err := s.appendAudit(ctx, tx, &a); err != nil {
			return err
		}
		return s.bumpLive(ctx, tx)
	})
}

func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return ms(t)
}

// RevokeKey implements store.Store.
func (s *DB) RevokeKey(ctx context.Context, consumer, id string, at time.Time, a store.AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE consumer_keys SET revoked_at = $1 WHERE consumer = $2 AND id = $3 AND revoked_at = 0`,
			ms(at), consumer, id)
		if err != nil {
			return s.wrap(err, "revoke key")
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("key %s of %s: %w", id, consumer, store.ErrNotFound)
		}
		a.Target = "consumer/" + consumer + "/key/" + id
		if err := s.appendAudit(ctx, tx, &a); err != nil {
			return err
		}
		return s.bumpLive(ctx, tx)
	})
}

const keyColumns = `id, consumer, hash, created_at, expires_at, revoked_at`

func (s *DB) queryKeys(ctx context.Context, q string, args ...any) ([]store.Key, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.wrap(err, "list keys")
	}
	defer rows.Close()
	var out []store.Key
	for rows.Next() {
		var k store.Key
		var created, expires, revoked int64
		if err := rows.Scan(&k.ID, &k.Consumer, &k.Hash, &created, &expires, &revoked); err != nil {
			return nil, s.wrap(err, "list keys")
		}
		k.CreatedAt, k.ExpiresAt, k.RevokedAt = fromMS(created), fromMS(expires), fromMS(revoked)
		out = append(out, k)
	}
	return out, s.wrap(rows.Err(), "list keys")
}

// Keys implements store.Store.
func (s *DB) Keys(ctx context.Context, consumer string) ([]store.Key, error) {
	return s.queryKeys(ctx, `SELECT `+keyColumns+` FROM consumer_keys WHERE consumer = $1 ORDER BY created_at, id`, consumer)
}

// ActiveKeys implements store.Store.
func (s *DB) ActiveKeys(ctx context.Context, at time.Time) ([]store.Key, int64, error) {
	v, err := s.LiveVersion(ctx)
	if err != nil {
		return nil, 0, err
	}
	keys, err := s.queryKeys(ctx, `SELECT `+keyColumns+` FROM consumer_keys
		WHERE revoked_at = 0 AND (expires_at = 0 OR expires_at > $1) ORDER BY consumer, id`, ms(at))
	return keys, v, err
}

// LiveVersion implements store.Store.
func (s *DB) LiveVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT version FROM live_version WHERE id = 1`).Scan(&v)
	return v, s.wrap(err, "live version")
}
