package sqldb

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/portico-gw/portico/internal/store"
)

// AddQuotaUsage implements store.Store.
func (s *DB) AddQuotaUsage(ctx context.Context, deltas []store.QuotaCount) ([]store.QuotaCount, error) {
	out := make([]store.QuotaCount, 0, len(deltas))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		at := ms(now())
		for _, d := range deltas {
			var used int64
			err := tx.QueryRowContext(ctx, `INSERT INTO quota_usage (consumer, period, used, updated_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (consumer, period) DO UPDATE SET used = quota_usage.used + excluded.used, updated_at = excluded.updated_at
				RETURNING used`, d.Consumer, d.Period, d.Used, at).Scan(&used)
			if err != nil {
				return fmt.Errorf("store: add quota usage: %w", err)
			}
			out = append(out, store.QuotaCount{Consumer: d.Consumer, Period: d.Period, Used: used})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// QuotaUsage implements store.Store.
func (s *DB) QuotaUsage(ctx context.Context, periods []string) ([]store.QuotaCount, error) {
	var out []store.QuotaCount
	for _, p := range periods {
		counts, err := s.quotaUsage(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("store: quota usage: %w", err)
		}
		out = append(out, counts...)
	}
	return out, nil
}

func (s *DB) quotaUsage(ctx context.Context, period string) ([]store.QuotaCount, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT consumer, used FROM quota_usage WHERE period = $1 ORDER BY consumer`, period)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []store.QuotaCount
	for rows.Next() {
		c := store.QuotaCount{Period: period}
		if err := rows.Scan(&c.Consumer, &c.Used); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
