package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/sketch"
	"github.com/portico-gw/portico/internal/store"
)

// WriteUsage implements store.Store.
func (s *DB) WriteUsage(ctx context.Context, b store.UsageBatch) (bool, error) {
	var first, last int64
	for i, r := range b.Records {
		at := r.Time.UnixMicro()
		if i == 0 || at < first {
			first = at
		}
		last = max(last, at)
	}
	data := encodeRecords(b.Records)
	written := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if s.d.LockUsage != "" {
			// Nodes sharing a database merge rollup sketches one batch at
			// a time (SQLite's write lock already does this).
			if _, err := tx.ExecContext(ctx, s.d.LockUsage); err != nil {
				return fmt.Errorf("store: usage lock: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO usage_batches (id, grp, node, records, first_at, last_at, written_at, data)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
			b.ID, b.Group, b.Node, len(b.Records), first, last, ms(now()), data)
		if err != nil {
			return fmt.Errorf("store: usage batch: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // written before: nothing more to do
		}
		if len(b.Rollups) > 0 {
			st, err := prepareRollups(ctx, tx)
			if err != nil {
				return err
			}
			defer st.close()
			for i, r := range b.Rollups {
				pause(i, 16)
				if err := st.add(ctx, b.Group, r); err != nil {
					return err
				}
			}
		}
		written = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return written, nil
}

// rollupStmts are the statements that add rollups, prepared once per
// batch.
type rollupStmts struct {
	get, insert, update *sql.Stmt
}

func prepareRollups(ctx context.Context, tx *sql.Tx) (*rollupStmts, error) {
	var st rollupStmts
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{
		{&st.get, `SELECT sketch FROM usage_rollups WHERE grp = $1 AND granularity = $2 AND bucket = $3
			AND api = $4 AND route = $5 AND consumer = $6 AND status = $7`},
		{&st.insert, `INSERT INTO usage_rollups (grp, granularity, bucket, api, route, consumer, status,
			requests, bytes_in, bytes_out, latency_sum_us, sketch, tokens_in, tokens_out, cost_pico, unpriced, estimated)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`},
		{&st.update, `UPDATE usage_rollups SET requests = requests + $8, bytes_in = bytes_in + $9,
			bytes_out = bytes_out + $10, latency_sum_us = latency_sum_us + $11, sketch = $12,
			tokens_in = tokens_in + $13, tokens_out = tokens_out + $14, cost_pico = cost_pico + $15, unpriced = unpriced + $16,
			estimated = estimated + $17
			WHERE grp = $1 AND granularity = $2 AND bucket = $3 AND api = $4 AND route = $5 AND consumer = $6 AND status = $7`},
	} {
		stmt, err := tx.PrepareContext(ctx, p.q) //nolint:sqlclosecheck // closed by rollupStmts.close
		if err != nil {
			st.close()
			return nil, fmt.Errorf("store: usage rollup: %w", err)
		}
		*p.dst = stmt
	}
	return &st, nil
}

func (st *rollupStmts) close() {
	for _, s := range []*sql.Stmt{st.get, st.insert, st.update} {
		if s != nil {
			_ = s.Close()
		}
	}
}

// add adds r to its row: counts and sums add, sketches merge.
func (st *rollupStmts) add(ctx context.Context, group string, r store.Rollup) error {
	key := []any{group, r.Granularity, r.Bucket.Unix(), r.API, r.Route, r.Consumer, r.Status}
	var old []byte
	err := st.get.QueryRowContext(ctx, key...).Scan(&old)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = st.insert.ExecContext(ctx, append(key, r.Requests, r.BytesIn, r.BytesOut, r.LatencySum.Microseconds(), r.Sketch,
			r.TokensIn, r.TokensOut, r.CostPico, r.Unpriced, r.Estimated)...)
	case err == nil:
		merged, merr := sketch.MergeBytes(old, r.Sketch)
		if merr != nil {
			return fmt.Errorf("store: usage rollup: %w", merr)
		}
		_, err = st.update.ExecContext(ctx, append(key, r.Requests, r.BytesIn, r.BytesOut, r.LatencySum.Microseconds(), merged,
			r.TokensIn, r.TokensOut, r.CostPico, r.Unpriced, r.Estimated)...)
	}
	if err != nil {
		return fmt.Errorf("store: usage rollup: %w", err)
	}
	return nil
}

// rollupWhere builds the WHERE clause of f over usage_rollups.
func rollupWhere(f store.RollupFilter) (string, []any) {
	conds := []string{"grp = $1", "bucket >= $2", "bucket < $3", "granularity = $4"}
	args := []any{f.Group, f.From.Unix(), f.To.Unix(), f.Granularity}
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.API != "" {
		add("api = ?", f.API)
	}
	if f.Route != "" {
		add("route = ?", f.Route)
	}
	if f.Consumer != "" {
		add("consumer = ?", f.Consumer)
	}
	if f.StatusMin > 0 {
		add("status >= ?", f.StatusMin)
	}
	if f.StatusMax > 0 {
		add("status <= ?", f.StatusMax)
	}
	return strings.Join(conds, " AND "), args
}

// Rollups implements store.Store.
func (s *DB) Rollups(ctx context.Context, f store.RollupFilter, fn func(store.Rollup) error) error {
	where, args := rollupWhere(f)
	const columns = `bucket, api, route, consumer, status, requests, bytes_in, bytes_out, latency_sum_us, sketch, tokens_in, tokens_out, cost_pico, unpriced, estimated`
	q := `SELECT ` + columns + ` FROM usage_rollups WHERE ` + where + ` ORDER BY bucket` //nolint:gosec // constant fragments and placeholders only
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: usage rollups: %w", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		r := store.Rollup{Granularity: f.Granularity}
		var bucket, lat int64
		if err := rows.Scan(&bucket, &r.API, &r.Route, &r.Consumer, &r.Status, &r.Requests, &r.BytesIn, &r.BytesOut, &lat, &r.Sketch,
			&r.TokensIn, &r.TokensOut, &r.CostPico, &r.Unpriced, &r.Estimated); err != nil {
			return fmt.Errorf("store: usage rollups: %w", err)
		}
		r.Bucket, r.LatencySum = time.Unix(bucket, 0).UTC(), time.Duration(lat)*time.Microsecond
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// UsageRecords implements store.Store.
func (s *DB) UsageRecords(ctx context.Context, f store.RollupFilter, fn func(store.UsageRecord) error) error {
	from, to := f.From.UnixMicro(), f.To.UnixMicro()
	rows, err := s.db.QueryContext(ctx, `SELECT node, data FROM usage_batches WHERE grp = $1 AND last_at >= $2 AND first_at < $3
		ORDER BY first_at, id`, f.Group, from, to)
	if err != nil {
		return fmt.Errorf("store: usage records: %w", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var node string
		var data []byte
		if err := rows.Scan(&node, &data); err != nil {
			return fmt.Errorf("store: usage records: %w", err)
		}
		err := decodeRecords(data, node, func(r *store.UsageRecord) error {
			at := r.Time.UnixMicro()
			if at < from || at >= to || f.API != "" && r.API != f.API || f.Route != "" && r.Route != f.Route ||
				f.Consumer != "" && r.Consumer != f.Consumer || f.StatusMin > 0 && r.Status < f.StatusMin || f.StatusMax > 0 && r.Status > f.StatusMax {
				return nil
			}
			return fn(*r)
		})
		if err != nil {
			return err
		}
	}
	return rows.Err()
}

// PruneUsage implements store.Store.
func (s *DB) PruneUsage(ctx context.Context, group string, records time.Time, rollups map[string]time.Time) (int64, error) {
	var n int64
	del := func(q string, args ...any) error {
		res, err := s.db.ExecContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("store: pruning usage: %w", err)
		}
		c, _ := res.RowsAffected()
		n += c
		return nil
	}
	if !records.IsZero() {
		// A batch's ID goes with its records: a spooled copy arriving
		// later than the retention of raw records would count twice.
		if err := del(`DELETE FROM usage_batches WHERE grp = $1 AND last_at < $2`, group, records.UnixMicro()); err != nil {
			return n, err
		}
	}
	for g, before := range rollups {
		if before.IsZero() {
			continue
		}
		if err := del(`DELETE FROM usage_rollups WHERE grp = $1 AND granularity = $2 AND bucket < $3`, group, g, before.Unix()); err != nil {
			return n, err
		}
	}
	return n, nil
}
