package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

const developerColumns = `id, email, name, password_hash, verify_hash, verify_expires, verified_at, created_at`

func scanDeveloper(row interface{ Scan(...any) error }) (store.Developer, error) {
	var d store.Developer
	var expires, verified, created int64
	err := row.Scan(&d.ID, &d.Email, &d.Name, &d.PasswordHash, &d.VerifyHash, &expires, &verified, &created)
	d.VerifyExpires, d.VerifiedAt, d.CreatedAt = fromMS(expires), fromMS(verified), fromMS(created)
	return d, err
}

// CreateDeveloper implements store.Store.
func (s *DB) CreateDeveloper(ctx context.Context, d store.Developer) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO developers (`+developerColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		d.ID, d.Email, d.Name, d.PasswordHash, d.VerifyHash, ms(d.VerifyExpires), ms(d.VerifiedAt), ms(d.CreatedAt))
	return s.wrap(err, "developer")
}

// RestartSignup implements store.Store. An unverified developer's
// verified_at is 0 or, as CreateDeveloper writes a zero time, negative.
func (s *DB) RestartSignup(ctx context.Context, d store.Developer) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE developers SET name = $1, password_hash = $2, verify_hash = $3, verify_expires = $4
			WHERE email = $5 AND verified_at <= 0`, d.Name, d.PasswordHash, d.VerifyHash, ms(d.VerifyExpires), d.Email)
		if err != nil {
			return s.wrap(err, "developer")
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return s.wrap(err, "developer")
		}
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM developers WHERE email = $1`, d.Email).Scan(&one); err != nil {
			return s.wrap(err, "developer")
		}
		return fmt.Errorf("developer: %w", store.ErrConflict)
	})
}

// DeveloperByEmail implements store.Store.
func (s *DB) DeveloperByEmail(ctx context.Context, email string) (store.Developer, error) {
	d, err := scanDeveloper(s.db.QueryRowContext(ctx, `SELECT `+developerColumns+` FROM developers WHERE email = $1`, email))
	return d, s.wrap(err, "developer")
}

// Developer implements store.Store.
func (s *DB) Developer(ctx context.Context, id string) (store.Developer, error) {
	d, err := scanDeveloper(s.db.QueryRowContext(ctx, `SELECT `+developerColumns+` FROM developers WHERE id = $1`, id))
	return d, s.wrap(err, "developer")
}

// VerifyDeveloper implements store.Store.
func (s *DB) VerifyDeveloper(ctx context.Context, verifyHash string, now time.Time) (store.Developer, error) {
	var d store.Developer
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		d, err = scanDeveloper(tx.QueryRowContext(ctx, `SELECT `+developerColumns+` FROM developers
			WHERE verify_hash = $1 AND verify_hash <> '' AND verify_expires > $2`, verifyHash, ms(now)))
		if err != nil {
			return s.wrap(err, "verification")
		}
		d.VerifiedAt, d.VerifyHash = now, ""
		_, err = tx.ExecContext(ctx, `UPDATE developers SET verified_at = $1, verify_hash = '' WHERE id = $2`, ms(now), d.ID)
		return s.wrap(err, "verification")
	})
	return d, err
}

// CreateApp implements store.Store.
func (s *DB) CreateApp(ctx context.Context, app store.App, c store.Consumer, a store.AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO consumers (name, plan, groups_json, created_at, created_by) VALUES ($1, $2, $3, $4, $5)`,
			c.Name, c.Plan, groupsJSON(c.Groups), ms(app.CreatedAt), c.CreatedBy); err != nil {
			return s.wrap(err, "consumer "+c.Name)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO developer_apps (id, developer_id, name, consumer, created_at) VALUES ($1, $2, $3, $4, $5)`,
			app.ID, app.DeveloperID, app.Name, c.Name, ms(app.CreatedAt)); err != nil {
			return s.wrap(err, "application")
		}
		a.Target = "consumer/" + c.Name
		if err := s.appendAudit(ctx, tx, &a); err != nil {
			return err
		}
		return s.bumpLive(ctx, tx)
	})
}

const appColumns = `id, developer_id, name, consumer, created_at`

func scanApp(row interface{ Scan(...any) error }) (store.App, error) {
	var a store.App
	var created int64
	err := row.Scan(&a.ID, &a.DeveloperID, &a.Name, &a.Consumer, &created)
	a.CreatedAt = fromMS(created)
	return a, err
}

// Apps implements store.Store.
func (s *DB) Apps(ctx context.Context, developerID string) ([]store.App, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+appColumns+` FROM developer_apps WHERE developer_id = $1 ORDER BY created_at, id`, developerID)
	if err != nil {
		return nil, s.wrap(err, "applications")
	}
	defer func() { _ = rows.Close() }()
	var out []store.App
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, s.wrap(err, "applications")
		}
		out = append(out, a)
	}
	return out, s.wrap(rows.Err(), "applications")
}

// App implements store.Store.
func (s *DB) App(ctx context.Context, id string) (store.App, error) {
	a, err := scanApp(s.db.QueryRowContext(ctx, `SELECT `+appColumns+` FROM developer_apps WHERE id = $1`, id))
	return a, s.wrap(err, "application")
}

// Subscribe implements store.Store.
func (s *DB) Subscribe(ctx context.Context, sub store.Subscription, a store.AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var consumer string
		err := tx.QueryRowContext(ctx, `SELECT consumer FROM developer_apps WHERE id = $1`, sub.AppID).Scan(&consumer)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("application %s: %w", sub.AppID, store.ErrNotFound)
		}
		if err != nil {
			return s.wrap(err, "subscription")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO subscriptions (app_id, grp, api, plan, state, created_at, decided_at, decided_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (app_id, grp, api) DO UPDATE SET plan = excluded.plan, state = excluded.state,
				decided_at = excluded.decided_at, decided_by = excluded.decided_by`,
			sub.AppID, sub.Group, sub.API, sub.Plan, sub.State, ms(sub.CreatedAt), ms(sub.DecidedAt), sub.DecidedBy); err != nil {
			return s.wrap(err, "subscription")
		}
		if sub.State == store.SubscriptionActive && sub.Plan != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE consumers SET plan = $1 WHERE name = $2`, sub.Plan, consumer); err != nil {
				return s.wrap(err, "subscription")
			}
		}
		a.Target = "consumer/" + consumer
		if err := s.appendAudit(ctx, tx, &a); err != nil {
			return err
		}
		return s.bumpLive(ctx, tx)
	})
}

// Subscriptions implements store.Store.
func (s *DB) Subscriptions(ctx context.Context, group, appID string) ([]store.Subscription, error) {
	q := `SELECT app_id, grp, api, plan, state, created_at, decided_at, decided_by FROM subscriptions WHERE grp = $1`
	args := []any{group}
	if appID != "" {
		q += ` AND app_id = $2`
		args = append(args, appID)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at, app_id, api`, args...)
	if err != nil {
		return nil, s.wrap(err, "subscriptions")
	}
	defer func() { _ = rows.Close() }()
	var out []store.Subscription
	for rows.Next() {
		var sub store.Subscription
		var created, decided int64
		if err := rows.Scan(&sub.AppID, &sub.Group, &sub.API, &sub.Plan, &sub.State, &created, &decided, &sub.DecidedBy); err != nil {
			return nil, s.wrap(err, "subscriptions")
		}
		sub.CreatedAt, sub.DecidedAt = fromMS(created), fromMS(decided)
		out = append(out, sub)
	}
	return out, s.wrap(rows.Err(), "subscriptions")
}
