// Package sqldb implements store.Store on database/sql, for every SQL
// database Portico supports. The SQL is written once, with $n placeholders
// that both SQLite and PostgreSQL accept; what differs between them — the
// schema migrations, how a unique violation is reported, how migrations
// are serialised — comes from a Dialect.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

// Dialect is what one database needs beyond the shared SQL.
type Dialect struct {
	Name string
	// Migrations are the schema versions, applied in order at open.
	Migrations []Migration
	// IsUnique reports whether err is a unique-constraint violation.
	IsUnique func(error) bool
	// LockMigrations, when not empty, runs first in each migration's
	// transaction so that nodes starting together migrate one at a time.
	LockMigrations string
	// LockUsage, when not empty, runs first in each usage batch's
	// transaction, so that nodes sharing the database merge rollups one
	// batch at a time.
	LockUsage string
}

// DB is a store.Store on a *sql.DB.
type DB struct {
	db *sql.DB
	d  Dialect
}

var _ store.Store = (*DB)(nil)

// Open migrates db to the newest schema and returns the store.
func Open(ctx context.Context, db *sql.DB, d Dialect) (*DB, error) {
	s := &DB{db: db, d: d}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *DB) Close() error { return s.db.Close() }

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func now() time.Time { return time.Now().UTC() }

// tx runs f in a transaction, committing when it returns nil.
func (s *DB) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// wrap turns driver errors into the store's sentinel errors.
func (s *DB) wrap(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	case s.d.IsUnique(err):
		return fmt.Errorf("%s: %w", what, store.ErrConflict)
	default:
		return fmt.Errorf("store: %s: %w", what, err)
	}
}

// EnsureGroup implements store.Store.
func (s *DB) EnsureGroup(ctx context.Context, name string) error {
	t := ms(now())
	_, err := s.db.ExecContext(ctx, `INSERT INTO groups (name, created_at, draft, draft_version, draft_updated_at, draft_updated_by, latest_revision)
		VALUES ($1, $2, '{}', 1, $2, '', 0) ON CONFLICT (name) DO NOTHING`, name, t)
	return s.wrap(err, "ensure group")
}

// CreateGroup implements store.Store.
func (s *DB) CreateGroup(ctx context.Context, name string, a store.AuditEntry) error {
	t := ms(now())
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO groups (name, created_at, draft, draft_version, draft_updated_at, draft_updated_by, latest_revision)
			VALUES ($1, $2, '{}', 1, $2, $3, 0)`, name, t, a.Actor)
		if err != nil {
			return s.wrap(err, "group "+name)
		}
		a.Group, a.Target = name, "group/"+name
		return s.appendAudit(ctx, tx, &a)
	})
}

// Groups implements store.Store.
func (s *DB) Groups(ctx context.Context) ([]store.Group, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, created_at, latest_revision FROM groups ORDER BY name`)
	if err != nil {
		return nil, s.wrap(err, "list groups")
	}
	defer rows.Close()
	var out []store.Group
	for rows.Next() {
		var g store.Group
		var created int64
		if err := rows.Scan(&g.Name, &created, &g.LatestRevision); err != nil {
			return nil, s.wrap(err, "list groups")
		}
		g.CreatedAt = fromMS(created)
		out = append(out, g)
	}
	return out, s.wrap(rows.Err(), "list groups")
}

// Group implements store.Store.
func (s *DB) Group(ctx context.Context, name string) (store.Group, error) {
	g := store.Group{Name: name}
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT created_at, latest_revision FROM groups WHERE name = $1`, name).
		Scan(&created, &g.LatestRevision)
	g.CreatedAt = fromMS(created)
	return g, s.wrap(err, "group "+name)
}

// Draft implements store.Store.
func (s *DB) Draft(ctx context.Context, group string) (store.Draft, error) {
	d := store.Draft{Group: group}
	var content string
	var updated int64
	err := s.db.QueryRowContext(ctx, `SELECT draft, draft_version, draft_updated_at, draft_updated_by FROM groups WHERE name = $1`, group).
		Scan(&content, &d.Version, &updated, &d.UpdatedBy)
	d.Content, d.UpdatedAt = []byte(content), fromMS(updated)
	return d, s.wrap(err, "draft of "+group)
}

// PutDraft implements store.Store.
func (s *DB) PutDraft(ctx context.Context, group string, content []byte, expectVersion int64, a store.AuditEntry) (store.Draft, error) {
	d := store.Draft{Group: group, Content: content, UpdatedAt: a.At, UpdatedBy: a.Actor}
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = now()
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var before string
		err := tx.QueryRowContext(ctx, `SELECT draft FROM groups WHERE name = $1`, group).Scan(&before)
		if err != nil {
			return s.wrap(err, "draft of "+group)
		}
		err = tx.QueryRowContext(ctx, `UPDATE groups SET draft = $1, draft_version = draft_version + 1, draft_updated_at = $2, draft_updated_by = $3
			WHERE name = $4 AND draft_version = $5 RETURNING draft_version`,
			string(content), ms(d.UpdatedAt), a.Actor, group, expectVersion).Scan(&d.Version)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("draft of %s changed since version %d: %w", group, expectVersion, store.ErrConflict)
		}
		if err != nil {
			return s.wrap(err, "put draft")
		}
		a.Before, a.After = []byte(before), content
		return s.appendAudit(ctx, tx, &a)
	})
	return d, err
}

// Publish implements store.Store.
func (s *DB) Publish(ctx context.Context, p store.Publication, a store.AuditEntry) (store.Revision, error) {
	if p.At.IsZero() {
		p.At = now()
	}
	r := store.Revision{Group: p.Group, Content: p.Content, Hash: p.Hash, Author: p.Author,
		Message: p.Message, RollbackOf: p.RollbackOf, CreatedAt: p.At.UTC().Truncate(time.Millisecond)}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if p.DraftVersion != 0 {
			var v int64
			if err := tx.QueryRowContext(ctx, `SELECT draft_version FROM groups WHERE name = $1`, p.Group).Scan(&v); err != nil {
				return s.wrap(err, "group "+p.Group)
			}
			if v != p.DraftVersion {
				return fmt.Errorf("draft of %s is at version %d, not the validated %d: %w", p.Group, v, p.DraftVersion, store.ErrConflict)
			}
		}
		// The counter row serialises concurrent publishers of one group.
		err := tx.QueryRowContext(ctx, `UPDATE groups SET latest_revision = latest_revision + 1 WHERE name = $1 RETURNING latest_revision`,
			p.Group).Scan(&r.Number)
		if err != nil {
			return s.wrap(err, "group "+p.Group)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO revisions (grp, number, content, hash, author, message, rollback_of, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			p.Group, r.Number, string(p.Content), p.Hash, p.Author, p.Message, p.RollbackOf, ms(r.CreatedAt))
		if err != nil {
			return s.wrap(err, "insert revision")
		}
		a.Target = fmt.Sprintf("revision/%d", r.Number)
		a.After = p.Content
		return s.appendAudit(ctx, tx, &a)
	})
	if err != nil {
		return store.Revision{}, err
	}
	return r, nil
}

const revisionColumns = `grp, number, content, hash, author, message, rollback_of, created_at`

func scanRevision(row interface{ Scan(...any) error }) (store.Revision, error) {
	var r store.Revision
	var content string
	var created int64
	err := row.Scan(&r.Group, &r.Number, &content, &r.Hash, &r.Author, &r.Message, &r.RollbackOf, &created)
	r.Content, r.CreatedAt = []byte(content), fromMS(created)
	return r, err
}

// Revision implements store.Store.
func (s *DB) Revision(ctx context.Context, group string, n int64) (store.Revision, error) {
	r, err := scanRevision(s.db.QueryRowContext(ctx, `SELECT `+revisionColumns+` FROM revisions WHERE grp = $1 AND number = $2`, group, n))
	return r, s.wrap(err, fmt.Sprintf("revision %d of %s", n, group))
}

// LatestRevision implements store.Store.
func (s *DB) LatestRevision(ctx context.Context, group string) (store.Revision, error) {
	r, err := scanRevision(s.db.QueryRowContext(ctx, `SELECT `+revisionColumns+` FROM revisions
		WHERE grp = $1 ORDER BY number DESC LIMIT 1`, group))
	return r, s.wrap(err, "latest revision of "+group)
}

// Revisions implements store.Store.
func (s *DB) Revisions(ctx context.Context, group string, before int64, limit int) ([]store.Revision, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+revisionColumns+` FROM revisions
		WHERE grp = $1 AND number < $2 ORDER BY number DESC LIMIT $3`, group, before, limit)
	if err != nil {
		return nil, s.wrap(err, "list revisions")
	}
	defer rows.Close()
	var out []store.Revision
	for rows.Next() {
		r, err := scanRevision(rows)
		if err != nil {
			return nil, s.wrap(err, "list revisions")
		}
		out = append(out, r)
	}
	return out, s.wrap(rows.Err(), "list revisions")
}

// SetRolloutStatus implements store.Store.
func (s *DB) SetRolloutStatus(ctx context.Context, st store.RolloutStatus) error {
	if st.UpdatedAt.IsZero() {
		st.UpdatedAt = now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO rollout_status (grp, number, node, state, detail, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (grp, number, node) DO UPDATE SET state = excluded.state, detail = excluded.detail, updated_at = excluded.updated_at`,
		st.Group, st.Number, st.Node, st.State, st.Detail, ms(st.UpdatedAt))
	return s.wrap(err, "set rollout status")
}

// RolloutStatuses implements store.Store.
func (s *DB) RolloutStatuses(ctx context.Context, group string, n int64) ([]store.RolloutStatus, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT node, state, detail, updated_at FROM rollout_status
		WHERE grp = $1 AND number = $2 ORDER BY node`, group, n)
	if err != nil {
		return nil, s.wrap(err, "rollout status")
	}
	defer rows.Close()
	var out []store.RolloutStatus
	for rows.Next() {
		st := store.RolloutStatus{Group: group, Number: n}
		var updated int64
		if err := rows.Scan(&st.Node, &st.State, &st.Detail, &updated); err != nil {
			return nil, s.wrap(err, "rollout status")
		}
		st.UpdatedAt = fromMS(updated)
		out = append(out, st)
	}
	return out, s.wrap(rows.Err(), "rollout status")
}

// AppendAudit implements store.Store.
func (s *DB) AppendAudit(ctx context.Context, a store.AuditEntry) error {
	return s.appendAudit(ctx, s.db, &a)
}

type execer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *DB) appendAudit(ctx context.Context, db execer, a *store.AuditEntry) error {
	if a.At.IsZero() {
		a.At = now()
	}
	if a.Outcome == "" {
		a.Outcome = "ok"
	}
	err := db.QueryRowContext(ctx, `INSERT INTO audit (at, actor, action, grp, target, outcome, before_doc, after_doc, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		ms(a.At), a.Actor, a.Action, a.Group, a.Target, a.Outcome, nullable(a.Before), nullable(a.After), a.Detail).Scan(&a.ID)
	return s.wrap(err, "append audit")
}

func nullable(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

const auditQuery = `SELECT id, at, actor, action, grp, target, outcome, before_doc, after_doc, detail FROM audit
	WHERE %s ORDER BY id DESC LIMIT $%d`

// Audit implements store.Store.
func (s *DB) Audit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.Group != "" {
		add("grp = $%d", f.Group)
	}
	if f.Actor != "" {
		add("actor = $%d", f.Actor)
	}
	if f.Action != "" {
		add("action = $%d", f.Action)
	}
	if f.Outcome != "" {
		add("outcome = $%d", f.Outcome)
	}
	if !f.Since.IsZero() {
		add("at >= $%d", ms(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < $%d", ms(f.Until))
	}
	if f.BeforeID > 0 {
		add("id < $%d", f.BeforeID)
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	cond := "TRUE"
	if len(where) > 0 {
		cond = strings.Join(where, " AND ")
	}
	args = append(args, f.Limit)
	// The query is built from constant fragments; every value is a parameter.
	q := fmt.Sprintf(auditQuery, cond, len(args)) //nolint:gosec // cond holds constant fragments only
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.wrap(err, "list audit")
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var a store.AuditEntry
		var at int64
		var before, after sql.NullString
		if err := rows.Scan(&a.ID, &at, &a.Actor, &a.Action, &a.Group, &a.Target, &a.Outcome, &before, &after, &a.Detail); err != nil {
			return nil, s.wrap(err, "list audit")
		}
		a.At = fromMS(at)
		if before.Valid {
			a.Before = []byte(before.String)
		}
		if after.Valid {
			a.After = []byte(after.String)
		}
		out = append(out, a)
	}
	return out, s.wrap(rows.Err(), "list audit")
}

// Settings implements store.Store.
func (s *DB) Settings(ctx context.Context, group string) ([]byte, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT settings FROM groups WHERE name = $1`, group).Scan(&v)
	return []byte(v), s.wrap(err, "settings of "+group)
}

// PutSettings implements store.Store.
func (s *DB) PutSettings(ctx context.Context, group string, settings []byte, a store.AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var before string
		if err := tx.QueryRowContext(ctx, `SELECT settings FROM groups WHERE name = $1`, group).Scan(&before); err != nil {
			return s.wrap(err, "settings of "+group)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE groups SET settings = $1 WHERE name = $2`, string(settings), group); err != nil {
			return s.wrap(err, "put settings")
		}
		a.Before, a.After, a.Target = []byte(before), settings, "settings"
		return s.appendAudit(ctx, tx, &a)
	})
}
