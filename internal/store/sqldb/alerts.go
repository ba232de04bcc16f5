package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/portico-gw/portico/internal/store"
)

// AlertTransition implements store.Store.
func (s *DB) AlertTransition(ctx context.Context, from string, e store.AlertEvent) (int64, bool, error) {
	var id int64
	moved := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO alert_states (grp, rule, state, since, value) VALUES ($1, $2, $3, $4, 0)
			ON CONFLICT (grp, rule) DO NOTHING`, e.Group, e.Rule, store.AlertOK, ms(e.At)); err != nil {
			return fmt.Errorf("store: alert state: %w", err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE alert_states SET state = $1, since = $2, value = $3 WHERE grp = $4 AND rule = $5 AND state = $6`,
			e.State, ms(e.At), e.Value, e.Group, e.Rule, from)
		if err != nil {
			return fmt.Errorf("store: alert state: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		if e.Delivery == "" {
			e.Delivery = "pending"
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO alert_events (grp, rule, state, metric, value, threshold, at, node, delivery)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
			e.Group, e.Rule, e.State, e.Metric, e.Value, e.Threshold, ms(e.At), e.Node, e.Delivery).Scan(&id)
		if err != nil {
			return fmt.Errorf("store: alert event: %w", err)
		}
		moved = true
		return nil
	})
	return id, moved, err
}

// AlertStates implements store.Store.
func (s *DB) AlertStates(ctx context.Context, group string) ([]store.AlertState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT rule, state, since, value FROM alert_states WHERE grp = $1 ORDER BY rule`, group)
	if err != nil {
		return nil, fmt.Errorf("store: alert states: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []store.AlertState
	for rows.Next() {
		a := store.AlertState{Group: group}
		var since int64
		if err := rows.Scan(&a.Rule, &a.State, &since, &a.Value); err != nil {
			return nil, fmt.Errorf("store: alert states: %w", err)
		}
		a.Since = fromMS(since)
		out = append(out, a)
	}
	return out, rows.Err()
}

// AlertEvents implements store.Store.
func (s *DB) AlertEvents(ctx context.Context, group, rule string, before int64, limit int) ([]store.AlertEvent, error) {
	q := `SELECT id, rule, state, metric, value, threshold, at, node, delivery FROM alert_events WHERE grp = $1`
	args := []any{group}
	if rule != "" {
		args = append(args, rule)
		q += ` AND rule = $` + strconv.Itoa(len(args))
	}
	if before > 0 {
		args = append(args, before)
		q += ` AND id < $` + strconv.Itoa(len(args))
	}
	args = append(args, limit)
	q += ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(args)) //nolint:gosec // constant fragments and placeholder numbers only
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: alert events: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []store.AlertEvent
	for rows.Next() {
		e := store.AlertEvent{Group: group}
		var at int64
		if err := rows.Scan(&e.ID, &e.Rule, &e.State, &e.Metric, &e.Value, &e.Threshold, &at, &e.Node, &e.Delivery); err != nil {
			return nil, fmt.Errorf("store: alert events: %w", err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// SetAlertDelivery implements store.Store.
func (s *DB) SetAlertDelivery(ctx context.Context, id int64, delivery string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE alert_events SET delivery = $1 WHERE id = $2`, delivery, id)
	return s.wrap(err, "alert delivery")
}

// UsageSince implements store.Store.
func (s *DB) UsageSince(ctx context.Context, group string, after int64, skip []string, fn func(string, int64, store.UsageRecord) error) error {
	args := []any{group, after}
	not := ""
	for i, id := range skip {
		if i > 0 {
			not += ", "
		}
		args = append(args, id)
		not += "$" + strconv.Itoa(len(args))
	}
	if not != "" {
		not = " AND b.id NOT IN (" + not + ")"
	}
	rows, err := s.db.QueryContext(ctx, `SELECT b.id, b.written_at, b.node, b.data FROM usage_batches b
		WHERE b.grp = $1 AND b.written_at > $2`+not+` ORDER BY b.written_at, b.id`, args...)
	if err != nil {
		return fmt.Errorf("store: usage since: %w", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var batch, node string
		var written int64
		var data []byte
		if err := rows.Scan(&batch, &written, &node, &data); err != nil {
			return fmt.Errorf("store: usage since: %w", err)
		}
		if err := decodeRecords(data, node, func(r *store.UsageRecord) error { return fn(batch, written, *r) }); err != nil {
			return err
		}
	}
	return rows.Err()
}
