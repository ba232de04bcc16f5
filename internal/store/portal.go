package store

import (
	"context"
	"time"
)

// PortalStore keeps the developer portal's developers, applications and
// subscriptions. It is part of Store.
type PortalStore interface {
	// CreateDeveloper stores a new developer (ErrConflict when the email
	// is taken).
	CreateDeveloper(ctx context.Context, d Developer) error
	// RestartSignup gives the unverified developer with d.Email d's name,
	// password hash and verification token (hash and expiry), as a new
	// sign-up would: until an address is verified, its latest sign-up
	// is the one that counts. ErrConflict when the address is verified,
	// ErrNotFound when it has no developer.
	RestartSignup(ctx context.Context, d Developer) error
	// DeveloperByEmail and Developer find a developer.
	DeveloperByEmail(ctx context.Context, email string) (Developer, error)
	Developer(ctx context.Context, id string) (Developer, error)
	// VerifyDeveloper marks verified the developer whose verification
	// token has this hash and has not expired at now (ErrNotFound
	// otherwise); the token cannot be used again.
	VerifyDeveloper(ctx context.Context, verifyHash string, now time.Time) (Developer, error)
	// CreateApp stores an application with its consumer, and records a.
	CreateApp(ctx context.Context, app App, c Consumer, a AuditEntry) error
	// Apps lists a developer's applications, oldest first.
	Apps(ctx context.Context, developerID string) ([]App, error)
	// App returns one application.
	App(ctx context.Context, id string) (App, error)
	// Subscribe records s (replacing the application's subscription to
	// the same API), sets the consumer's plan when s is active, and
	// records a.
	Subscribe(ctx context.Context, s Subscription, a AuditEntry) error
	// Subscriptions lists the subscriptions of an application, or every
	// application's in a group when appID is "".
	Subscriptions(ctx context.Context, group, appID string) ([]Subscription, error)
}

// Developer is a person signed up in the portal.
type Developer struct {
	ID, Email, Name string
	// PasswordHash is an argon2id hash in PHC form.
	PasswordHash string
	// VerifyHash is the SHA-256 of the email verification token, valid
	// until VerifyExpires.
	VerifyHash    string
	VerifyExpires time.Time
	// VerifiedAt is zero until the email is verified.
	VerifiedAt time.Time
	CreatedAt  time.Time
}

// App is a developer's application: a consumer of the APIs.
type App struct {
	ID, DeveloperID, Name string
	// Consumer is the consumer the application calls the APIs as.
	Consumer  string
	CreatedAt time.Time
}

// Subscription states.
const (
	SubscriptionActive   = "active"
	SubscriptionPending  = "pending"
	SubscriptionRejected = "rejected"
)

// Subscription is an application's access to an API under a plan.
type Subscription struct {
	AppID, Group, API, Plan string
	// State is active or pending (awaiting an admin's approval).
	State     string
	CreatedAt time.Time
	DecidedAt time.Time
	DecidedBy string
}
