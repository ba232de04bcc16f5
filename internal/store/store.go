// Package store is the management plane's persistence: gateway groups and
// their drafts, immutable numbered revisions with their rollout status per
// node, the append-only audit log, and admin tokens.
//
// Store is implemented twice, on embedded SQLite (store/sqlite, the
// default) and on PostgreSQL (store/postgres); both pass the same contract
// suite (store/storetest). Nothing on the gateway's request path uses a
// Store: a published revision is compiled into a snapshot first.
//
// Every mutation that the audit log must record takes its AuditEntry and
// writes it in the same transaction as the change, so a change is never
// committed without its audit entry, nor the entry without the change.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every implementation; callers match them with
// errors.Is.
var (
	// ErrNotFound: the group, revision or token does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the change lost a race (a draft edited since it was
	// read, a name already taken); reading again and retrying may succeed.
	ErrConflict = errors.New("conflict")
)

// Store is the management plane's persistence.
type Store interface {
	// EnsureGroup creates the gateway group if it does not exist, with an
	// empty draft and no revision. It is not audited: groups are created
	// by the system (the serve node's "default") or by an audited caller.
	EnsureGroup(ctx context.Context, name string) error
	// CreateGroup creates a gateway group (ErrConflict when it exists) and
	// records a.
	CreateGroup(ctx context.Context, name string, a AuditEntry) error
	// Groups lists every group, by name.
	Groups(ctx context.Context) ([]Group, error)
	// Group returns one group.
	Group(ctx context.Context, name string) (Group, error)

	// Settings returns a group's settings document (JSON, "{}" by default).
	Settings(ctx context.Context, group string) ([]byte, error)
	// PutSettings replaces a group's settings and records a.
	PutSettings(ctx context.Context, group string, settings []byte, a AuditEntry) error

	// Draft returns a group's editable draft.
	Draft(ctx context.Context, group string) (Draft, error)
	// PutDraft replaces the draft's content if its version is still
	// expectVersion (ErrConflict otherwise) and records a.
	PutDraft(ctx context.Context, group string, content []byte, expectVersion int64, a AuditEntry) (Draft, error)

	// Publish creates the group's next revision from p and records a, in
	// one transaction: concurrent publishes get consecutive numbers, each
	// with its own whole content.
	Publish(ctx context.Context, p Publication, a AuditEntry) (Revision, error)
	// Revision returns revision number n of a group.
	Revision(ctx context.Context, group string, n int64) (Revision, error)
	// LatestRevision returns the newest revision of a group, which is the
	// one its gateways should run (a rollback is a new revision).
	LatestRevision(ctx context.Context, group string) (Revision, error)
	// Revisions lists a group's revisions newest first, at most limit, of
	// numbers below before (0: from the newest).
	Revisions(ctx context.Context, group string, before int64, limit int) ([]Revision, error)

	// SetRolloutStatus records how a node fared applying a revision.
	SetRolloutStatus(ctx context.Context, s RolloutStatus) error
	// RolloutStatuses lists the node statuses of one revision, by node.
	RolloutStatuses(ctx context.Context, group string, n int64) ([]RolloutStatus, error)

	// AppendAudit records an event that changes nothing else, such as a
	// refused request.
	AppendAudit(ctx context.Context, a AuditEntry) error
	// Audit lists audit entries matching f, newest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)

	// CreateToken stores a new admin token (ErrConflict when the name or
	// hash is taken) and records a.
	CreateToken(ctx context.Context, t Token, a AuditEntry) error
	// TokenByHash finds a token that is not revoked by its hash.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// Tokens lists every token, revoked ones too, by name.
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken revokes a token by name and records a.
	RevokeToken(ctx context.Context, name string, at time.Time, a AuditEntry) error

	// CreateConsumer stores a new consumer (ErrConflict when the name is
	// taken) and records a.
	CreateConsumer(ctx context.Context, c Consumer, a AuditEntry) error
	// Consumers lists the consumers, by name.
	Consumers(ctx context.Context) ([]Consumer, error)
	// UpdateConsumer replaces a consumer's plan and groups (ErrNotFound
	// when there is no such consumer) and records a.
	UpdateConsumer(ctx context.Context, c Consumer, a AuditEntry) error
	// AddKey stores a key for a consumer and records a. When
	// expireOthersAt is not zero, the consumer's other keys that are valid
	// past it expire then: a rotation with an overlap.
	AddKey(ctx context.Context, k Key, expireOthersAt time.Time, a AuditEntry) error
	// RevokeKey revokes one key of a consumer and records a.
	RevokeKey(ctx context.Context, consumer, id string, at time.Time, a AuditEntry) error
	// Keys lists a consumer's keys, revoked and expired ones too, oldest
	// first.
	Keys(ctx context.Context, consumer string) ([]Key, error)
	// ActiveKeys lists every key that is neither revoked nor expired at
	// now, and the live-data version they were read at.
	ActiveKeys(ctx context.Context, now time.Time) ([]Key, int64, error)
	// LiveVersion increases with every change to consumers or keys.
	LiveVersion(ctx context.Context) (int64, error)

	// AddQuotaUsage adds each delta to its consumer's count of a period,
	// in one transaction, and returns the new totals in the same order.
	AddQuotaUsage(ctx context.Context, deltas []QuotaCount) ([]QuotaCount, error)
	// QuotaUsage returns the counts of the given periods.
	QuotaUsage(ctx context.Context, periods []string) ([]QuotaCount, error)

	UsageStore
	AlertStore
	SessionStore
	PortalStore

	// Close releases the store.
	Close() error
}

// QuotaCount is a consumer's number of requests in one quota period.
type QuotaCount struct {
	Consumer string
	// Period names the calendar period, such as "day:UTC:2026-11-27".
	Period string
	Used   int64
}

// Consumer is a client of the APIs, managed through the admin API.
type Consumer struct {
	Name string
	// Plan names the consumer's plan in the group's config ("" for none).
	Plan string
	// Groups are the consumer's groups, for routes' require_groups.
	Groups    []string
	CreatedAt time.Time
	CreatedBy string
}

// Key is one API key of a consumer. Only its hash is stored.
type Key struct {
	// ID identifies the key publicly (in listings, for revocation).
	ID       string
	Consumer string
	// Hash is the hex SHA-256 of the secret.
	Hash      string
	CreatedAt time.Time
	// ExpiresAt is zero for a key that does not expire.
	ExpiresAt time.Time
	RevokedAt time.Time
}

// Group is a gateway group: a set of gateways that run the same config.
type Group struct {
	Name      string
	CreatedAt time.Time
	// LatestRevision is the number of its newest revision, 0 for none.
	LatestRevision int64
}

// Draft is a group's editable configuration.
type Draft struct {
	Group string
	// Content is the draft document (JSON).
	Content []byte
	// Version increases with every change; PutDraft checks it.
	Version   int64
	UpdatedAt time.Time
	UpdatedBy string
}

// Publication is what Publish needs.
type Publication struct {
	Group string
	// Content is the whole configuration document (JSON) and Hash its
	// content hash, as the caller computed it.
	Content []byte
	Hash    string
	Author  string
	Message string
	// DraftVersion, when not 0, makes Publish fail with ErrConflict unless
	// the draft is still at that version: what was validated is what is
	// published.
	DraftVersion int64
	// RollbackOf is the revision whose content this one restores (0: none).
	RollbackOf int64
	At         time.Time
}

// Revision is an immutable, numbered configuration of a group.
type Revision struct {
	Group      string
	Number     int64
	Content    []byte
	Hash       string
	Author     string
	Message    string
	RollbackOf int64
	CreatedAt  time.Time
}

// Rollout states of a revision on a node.
const (
	RolloutApplied = "applied"
	RolloutFailed  = "failed"
)

// RolloutStatus is how one node fared applying one revision.
type RolloutStatus struct {
	Group  string
	Number int64
	Node   string
	State  string
	// Detail explains a failure.
	Detail    string
	UpdatedAt time.Time
}

// AuditEntry is one audited event.
type AuditEntry struct {
	// ID is assigned by the store, increasing.
	ID    int64
	At    time.Time
	Actor string
	// Action names what was attempted, such as "draft.put" or
	// "revision.publish".
	Action string
	Group  string
	// Target names the object acted on, such as "revision/7".
	Target string
	// Outcome is "ok", "denied" or "failed".
	Outcome string
	// Before and After hold the object's state around the change (JSON),
	// when that means something.
	Before, After []byte
	Detail        string
}

// AuditFilter selects audit entries; zero fields match everything.
type AuditFilter struct {
	Group, Actor, Action, Outcome string
	Since, Until                  time.Time
	// BeforeID pages backwards: only entries with a smaller ID.
	BeforeID int64
	// Limit caps the result; 0 means 100.
	Limit int
}

// Token is an admin API token. Only its hash is stored.
type Token struct {
	Name string
	// Role is viewer, editor, publisher or admin.
	Role string
	// Hash is the hex SHA-256 of the secret.
	Hash string
	// Groups limits the token to these gateway groups; empty means all.
	Groups []string
	// Consumer, when set, binds a viewer token to one consumer: it reads
	// that consumer's usage and statements and nothing else.
	Consumer  string
	CreatedAt time.Time
	CreatedBy string
	// RevokedAt is zero while the token is valid.
	RevokedAt time.Time
}
