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
	// LLM calls: the provider's model ("provider/model"), tokens, the cost
	// in 10⁻¹² of the price table's currency, and whether it was priced.
	LLMModel                                           string
	TokensIn, TokensOut, TokensCached, TokensReasoning int64
	CostPico                                           int64
	Unpriced                                           bool
	// Estimated says the provider reported no usage (the client left
	// mid-stream, say) and the tokens were estimated.
	Estimated bool
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
	// LLM calls: tokens, cost (10⁻¹² units) and the calls without a price.
	TokensIn, TokensOut, CostPico, Unpriced int64
	// Estimated counts the LLM calls whose tokens were estimated.
	Estimated int64
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

// AlertStore keeps the state and history of alert rules. It is part of
// Store.
type AlertStore interface {
	// AlertTransition moves a rule from state from to e.State and records
	// e, in one transaction, only if the rule is in state from (a rule
	// never seen is "ok"); it reports whether it did, with e's ID. Of
	// nodes racing for the same transition, one wins.
	AlertTransition(ctx context.Context, from string, e AlertEvent) (int64, bool, error)
	// AlertStates lists a group's rules' states.
	AlertStates(ctx context.Context, group string) ([]AlertState, error)
	// AlertEvents lists a group's events newest first, of one rule when
	// rule is not "", at most limit, with IDs below before (0: from the
	// newest).
	AlertEvents(ctx context.Context, group, rule string, before int64, limit int) ([]AlertEvent, error)
	// SetAlertDelivery records how the notifications of an event fared.
	SetAlertDelivery(ctx context.Context, id int64, delivery string) error
	// UsageSince calls fn with the records of the group's batches written
	// after the time after (Unix milliseconds) but for those in skip,
	// batch by batch in the order they were written, with each batch's ID
	// and write time.
	UsageSince(ctx context.Context, group string, after int64, skip []string, fn func(batch string, writtenAt int64, r UsageRecord) error) error
}

// Alert states.
const (
	AlertOK     = "ok"
	AlertFiring = "firing"
)

// AlertState is a rule's current state.
type AlertState struct {
	Group, Rule string
	State       string
	Since       time.Time
	Value       float64
}

// AlertEvent is one transition of a rule: it fired or resolved.
type AlertEvent struct {
	ID          int64
	Group, Rule string
	// State is the state entered: firing, or ok (resolved).
	State     string
	Metric    string
	Value     float64
	Threshold float64
	At        time.Time
	// Node is the node that saw it and sent the notifications.
	Node string
	// Delivery says how the notifications fared ("pending" at first).
	Delivery string
}

// SessionStore keeps web sessions. It is part of Store.
type SessionStore interface {
	// CreateSession stores a new session.
	CreateSession(ctx context.Context, s WebSession) error
	// Session returns the session with this ID hash if it is neither
	// expired at now nor revoked (ErrNotFound otherwise).
	Session(ctx context.Context, idHash string, now time.Time) (WebSession, error)
	// RevokeSession ends a session.
	RevokeSession(ctx context.Context, idHash string, at time.Time) error
	// PruneSessions deletes sessions that ended before t.
	PruneSessions(ctx context.Context, t time.Time) (int64, error)
}

// WebSession is a signed-in browser.
type WebSession struct {
	// IDHash is the hex SHA-256 of the cookie's secret.
	IDHash string
	// Kind is "console" (Subject: the admin token's hash) or "portal"
	// (Subject: the developer's ID).
	Kind, Subject string
	// CSRF is the token its forms must carry.
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time
}
