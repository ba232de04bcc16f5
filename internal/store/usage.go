package store

import (
	"context"
	"time"
)

// UsageStore keeps metered usage: raw request records and the rollups
// analytics reads. It is part of Store.
type UsageStore interface {
	// WriteUsage stores a batch's records and adds its rollups, in one
	// transaction, unless a batch with the same ID was written before:
	// then it changes nothing and reports false. A batch delivered twice
	// (from the spool after a crash) therefore counts once.
	WriteUsage(ctx context.Context, b UsageBatch) (bool, error)
	// Rollups calls fn with every rollup row that f matches, ordered by
	// bucket.
	Rollups(ctx context.Context, f RollupFilter, fn func(Rollup) error) error
	// UsageRecords calls fn with the raw records that f matches (its
	// Granularity is ignored), oldest first.
	UsageRecords(ctx context.Context, f RollupFilter, fn func(UsageRecord) error) error
	// PruneUsage deletes a group's raw records older than records and
	// rollups of granularity g older than the time rollups[g] gives (a
	// zero time keeps them).
	PruneUsage(ctx context.Context, group string, records time.Time, rollups map[string]time.Time) (int64, error)
}

// UsageRecord is one proxied request, as metered.
type UsageRecord struct {
	Time              time.Time
	Node              string
	API, Route        string
	Consumer, Plan    string
	Upstream          string
	RequestID         string
	Status            int
	Latency           time.Duration
	BytesIn, BytesOut int64
}

// UsageBatch is a group of records a node writes at once, with what they
// add to the rollups.
type UsageBatch struct {
	// ID is unique per batch ever made (node, start of the process and a
	// sequence number): what makes a second delivery a no-op.
	ID      string
	Group   string
	Node    string
	Records []UsageRecord
	Rollups []Rollup
}

// Rollup granularities.
const (
	Minute = "minute"
	Hour   = "hour"
	Day    = "day"
)

// Rollup is the usage of one API route by one consumer with one status in
// one time bucket. Rows with the same key add up: counts and sums add, and
// Sketch (a latency distribution in milliseconds, internal/sketch) merges.
type Rollup struct {
	Granularity string
	// Bucket is the start of the bucket, in UTC.
	Bucket            time.Time
	API, Route        string
	Consumer          string
	Status            int
	Requests          int64
	BytesIn, BytesOut int64
	// LatencySum is the sum of the latencies, for means.
	LatencySum time.Duration
	Sketch     []byte
}

// RollupFilter selects rollups (or raw records): the group's rows of one
// granularity with buckets in [From, To), and the given API, route,
// consumer and status range where they are set.
type RollupFilter struct {
	Group       string
	Granularity string
	From, To    time.Time
	API, Route  string
	Consumer    string
	// StatusMin and StatusMax bound the status, inclusive (0: no bound).
	StatusMin, StatusMax int
}
