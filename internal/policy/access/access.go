// Package access decides who may call a route once it is known who is
// calling: consumer allow-lists and client IP allow/deny lists.
package access

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/pipeline"
)

// Consumers admits only the listed consumers; anonymous callers and every
// other consumer get 403.
func Consumers(allowed []string) pipeline.Middleware {
	allowed = slices.Clone(allowed)
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
			if x.Consumer == "" || !slices.Contains(allowed, x.Consumer) {
				return pipeline.ErrForbidden
			}
			return next.Serve(w, r, x)
		})
	}
}

// IPs admits a client whose address is in allow (when allow is not empty)
// and not in deny. The address is the one the gateway computed, which a
// client can only influence through a trusted proxy.
func IPs(allow, deny []netip.Prefix) pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
			if contains(deny, x.ClientIP) || len(allow) > 0 && !contains(allow, x.ClientIP) {
				return pipeline.ErrForbidden
			}
			return next.Serve(w, r, x)
		})
	}
}

func contains(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// RequireGroups admits a consumer that belongs to at least one of groups.
func RequireGroups(groups []string) pipeline.Middleware {
	groups = slices.Clone(groups)
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
			for _, g := range x.Groups {
				if slices.Contains(groups, g) {
					return next.Serve(w, r, x)
				}
			}
			return pipeline.ErrForbidden
		})
	}
}

// RequireScopes admits a consumer whose credential grants every one of
// scopes.
func RequireScopes(scopes []string) pipeline.Middleware {
	scopes = slices.Clone(scopes)
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
			for _, s := range scopes {
				if !slices.Contains(x.Scopes, s) {
					return pipeline.ErrForbidden
				}
			}
			return next.Serve(w, r, x)
		})
	}
}

// AppPrefix starts the consumer names of the developer portal's
// applications: the consumers whose access to an API depends on a
// subscription. No other consumer may take such a name.
const AppPrefix = config.AppConsumerPrefix

// Subscriptions holds the active subscriptions of the portal's
// applications, as live data: consumer -> APIs.
type Subscriptions struct {
	m atomic.Pointer[map[string]map[string]bool]
}

// Set makes subs (read-only) the active subscriptions.
func (s *Subscriptions) Set(subs map[string]map[string]bool) { s.m.Store(&subs) }

func (s *Subscriptions) has(consumer, api string) bool {
	m := s.m.Load()
	return m != nil && (*m)[consumer][api]
}

var errNotSubscribed = &pipeline.Error{Status: http.StatusForbidden, Code: "subscription_required",
	Message: "the application is not subscribed to this API; subscribe in the developer portal"}

var errNotInPortal = &pipeline.Error{Status: http.StatusForbidden, Code: "forbidden",
	Message: "an application of the developer portal calls only the portal's APIs"}

// NoApps refuses the portal's applications, on an API that is not in the
// portal: an application's key, which anyone may get by signing up,
// opens only what the portal offers, never the APIs kept out of it.
func NoApps() pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
			if strings.HasPrefix(x.Consumer, AppPrefix) {
				return errNotInPortal
			}
			return next.Serve(w, r, x)
		})
	}
}

// Subscribed admits an application of the portal only when it has an
// active subscription to api; every other consumer, and anonymous
// callers, pass (their access is the config's business).
func Subscribed(api string, subs *Subscriptions) pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
			if strings.HasPrefix(x.Consumer, AppPrefix) && !subs.has(x.Consumer, api) {
				return errNotSubscribed
			}
			return next.Serve(w, r, x)
		})
	}
}
