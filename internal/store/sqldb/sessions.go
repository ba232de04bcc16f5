package sqldb

import (
	"context"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

// CreateSession implements store.Store.
func (s *DB) CreateSession(ctx context.Context, w store.WebSession) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO web_sessions (id_hash, kind, subject, csrf, created_at, expires_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, 0)`, w.IDHash, w.Kind, w.Subject, w.CSRF, ms(w.CreatedAt), ms(w.ExpiresAt))
	return s.wrap(err, "create session")
}

// Session implements store.Store.
func (s *DB) Session(ctx context.Context, idHash string, now time.Time) (store.WebSession, error) {
	w := store.WebSession{IDHash: idHash}
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT kind, subject, csrf, created_at, expires_at FROM web_sessions
		WHERE id_hash = $1 AND revoked_at = 0 AND expires_at > $2`, idHash, ms(now)).Scan(&w.Kind, &w.Subject, &w.CSRF, &created, &expires)
	if err != nil {
		return w, s.wrap(err, "session")
	}
	w.CreatedAt, w.ExpiresAt = fromMS(created), fromMS(expires)
	return w, nil
}

// RevokeSession implements store.Store.
func (s *DB) RevokeSession(ctx context.Context, idHash string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE web_sessions SET revoked_at = $1 WHERE id_hash = $2 AND revoked_at = 0`, ms(at), idHash)
	return s.wrap(err, "revoke session")
}

// PruneSessions implements store.Store.
func (s *DB) PruneSessions(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM web_sessions WHERE expires_at < $1 OR (revoked_at > 0 AND revoked_at < $1)`, ms(t))
	if err != nil {
		return 0, s.wrap(err, "prune sessions")
	}
	return res.RowsAffected()
}
