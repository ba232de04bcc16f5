package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/sketch"
	"github.com/portico-gw/portico/internal/store"
)

// recordColumns are the columns of usage_records, in insert order.
const recordColumns = "batch_id, seq, grp, node, at, api, route, consumer, plan, upstream, request_id, status, latency_us, bytes_in, bytes_out"

// insertRecords returns the INSERT of n usage records (15 parameters
// each).
func insertRecordsSQL(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO usage_records (" + recordColumns + ") VALUES ")
	p := 1
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := range 15 {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString("$" + strconv.Itoa(p))
			p++
		}
		b.WriteByte(')')
	}
	return b.String()
}

// WriteUsage implements store.Store.
func (s *DB) WriteUsage(ctx context.Context, b store.UsageBatch) (bool, error) {
	written := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if s.d.LockUsage != "" {
			// Nodes sharing a database merge rollup sketches one batch at
			// a time (SQLite's write lock already does this).
			if _, err := tx.ExecContext(ctx, s.d.LockUsage); err != nil {
				return fmt.Errorf("store: usage lock: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO usage_batches (id, grp, node, records, written_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO NOTHING`, b.ID, b.Group, b.Node, len(b.Records), ms(now()))
		if err != nil {
			return fmt.Errorf("store: usage batch: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // written before: nothing more to do
		}
		if err := s.insertRecords(ctx, tx, b); err != nil {
			return err
		}
		for _, r := range b.Rollups {
			if err := addRollup(ctx, tx, b.Group, r); err != nil {
				return err
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

func (s *DB) insertRecords(ctx context.Context, tx *sql.Tx, b store.UsageBatch) error {
	per := s.d.RecordsPerInsert
	var stmt *sql.Stmt
	args := make([]any, 0, 15*per)
	for start := 0; start < len(b.Records); start += per {
		chunk := b.Records[start:min(start+per, len(b.Records))]
		args = args[:0]
		for i, r := range chunk {
			args = append(args, b.ID, start+i, b.Group, b.Node, r.Time.UnixMicro(), r.API, r.Route, r.Consumer, r.Plan,
				r.Upstream, r.RequestID, r.Status, r.Latency.Microseconds(), r.BytesIn, r.BytesOut)
		}
		var err error
		if len(chunk) == per {
			if stmt == nil {
				if stmt, err = tx.PrepareContext(ctx, s.insertFull); err != nil {
					return fmt.Errorf("store: usage records: %w", err)
				}
				defer func() { _ = stmt.Close() }()
			}
			_, err = stmt.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, insertRecordsSQL(len(chunk)), args...) // the last, shorter chunk
		}
		if err != nil {
			return fmt.Errorf("store: usage records: %w", err)
		}
	}
	return nil
}

// addRollup adds r to its row: counts and sums add, sketches merge.
func addRollup(ctx context.Context, tx *sql.Tx, group string, r store.Rollup) error {
	key := []any{group, r.Granularity, r.Bucket.Unix(), r.API, r.Route, r.Consumer, r.Status}
	var old []byte
	err := tx.QueryRowContext(ctx, `SELECT sketch FROM usage_rollups WHERE grp = $1 AND granularity = $2 AND bucket = $3
		AND api = $4 AND route = $5 AND consumer = $6 AND status = $7`, key...).Scan(&old)
	switch {
	case err == sql.ErrNoRows: //nolint:errorlint // QueryRow returns it unwrapped
		_, err = tx.ExecContext(ctx, `INSERT INTO usage_rollups (grp, granularity, bucket, api, route, consumer, status,
			requests, bytes_in, bytes_out, latency_sum_us, sketch) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			append(key, r.Requests, r.BytesIn, r.BytesOut, r.LatencySum.Microseconds(), r.Sketch)...)
	case err == nil:
		merged, merr := sketch.MergeBytes(old, r.Sketch)
		if merr != nil {
			return fmt.Errorf("store: usage rollup: %w", merr)
		}
		_, err = tx.ExecContext(ctx, `UPDATE usage_rollups SET requests = requests + $8, bytes_in = bytes_in + $9,
			bytes_out = bytes_out + $10, latency_sum_us = latency_sum_us + $11, sketch = $12
			WHERE grp = $1 AND granularity = $2 AND bucket = $3 AND api = $4 AND route = $5 AND consumer = $6 AND status = $7`,
			append(key, r.Requests, r.BytesIn, r.BytesOut, r.LatencySum.Microseconds(), merged)...)
	}
	if err != nil {
		return fmt.Errorf("store: usage rollup: %w", err)
	}
	return nil
}

// usageWhere builds the WHERE clause of f over a table whose time column
// is col, with its arguments.
func usageWhere(f store.RollupFilter, col string, from, to int64, granularity bool) (string, []any) {
	conds := []string{"grp = $1", col + " >= $2", col + " < $3"}
	args := []any{f.Group, from, to}
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if granularity {
		add("granularity = ?", f.Granularity)
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
	where, args := usageWhere(f, "bucket", f.From.Unix(), f.To.Unix(), true)
	rows, err := s.db.QueryContext(ctx, `SELECT bucket, api, route, consumer, status, requests, bytes_in, bytes_out, latency_sum_us, sketch
		FROM usage_rollups WHERE `+where+` ORDER BY bucket`, args...)
	if err != nil {
		return fmt.Errorf("store: usage rollups: %w", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		r := store.Rollup{Granularity: f.Granularity}
		var bucket, lat int64
		if err := rows.Scan(&bucket, &r.API, &r.Route, &r.Consumer, &r.Status, &r.Requests, &r.BytesIn, &r.BytesOut, &lat, &r.Sketch); err != nil {
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
	where, args := usageWhere(f, "at", f.From.UnixMicro(), f.To.UnixMicro(), false)
	rows, err := s.db.QueryContext(ctx, `SELECT at, node, api, route, consumer, plan, upstream, request_id, status, latency_us, bytes_in, bytes_out
		FROM usage_records WHERE `+where+` ORDER BY at, batch_id, seq`, args...)
	if err != nil {
		return fmt.Errorf("store: usage records: %w", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var r store.UsageRecord
		var at, lat int64
		if err := rows.Scan(&at, &r.Node, &r.API, &r.Route, &r.Consumer, &r.Plan, &r.Upstream, &r.RequestID, &r.Status, &lat, &r.BytesIn, &r.BytesOut); err != nil {
			return fmt.Errorf("store: usage records: %w", err)
		}
		r.Time, r.Latency = time.UnixMicro(at).UTC(), time.Duration(lat)*time.Microsecond
		if err := fn(r); err != nil {
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
		if err := del(`DELETE FROM usage_records WHERE grp = $1 AND at < $2`, group, records.UnixMicro()); err != nil {
			return n, err
		}
		// Batch IDs are remembered as long as a spooled copy could still
		// arrive: as long as the records.
		if err := del(`DELETE FROM usage_batches WHERE grp = $1 AND written_at < $2`, group, ms(records)); err != nil {
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
