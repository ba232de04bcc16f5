// Package auth combines a route's accepted authentication methods: a
// request passes when any one of them accepts it.
package auth

import (
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/portico-gw/portico/internal/pipeline"
)

// Method is one way of authenticating a request.
type Method interface {
	// Authenticate returns who a request's credential names (a zero
	// Consumer when it names no one). found reports whether the request
	// carried this method's credential at all; header names the header it
	// came in, which is not forwarded.
	Authenticate(r *http.Request) (id pipeline.Identity, header string, found bool)
}

// Guarded is a Method whose check is slow enough to guess against (a
// password hash): it limits the failed checks of each client, so it
// needs the client's address, the one Portico computed.
type Guarded interface {
	Method
	// AuthenticateFrom is Authenticate for a request from client; retry >
	// 0 means the client is past its budget of failed checks, nothing
	// was checked, and one may be in retry.
	AuthenticateFrom(r *http.Request, client netip.Addr) (id pipeline.Identity, header string, found bool, retry time.Duration)
}

// Injector is a Method that may add headers for the upstream; the names it
// may add are never taken from the client on routes that use it.
type Injector interface {
	InjectedHeaders() []string
}

// Challenger is a Method that names itself in the WWW-Authenticate header
// of a 401 (RFC 9110 section 11.6.1).
type Challenger interface {
	Challenge() string
}

// New returns the middleware that admits a request when one of methods
// authenticates it, and answers 401 otherwise. With anonymous set (the
// config's [none]) every request passes as no consumer.
func New(methods []Method, anonymous bool) pipeline.Middleware {
	var protected []string
	var challenges []string
	for _, m := range methods {
		if in, ok := m.(Injector); ok {
			protected = append(protected, in.InjectedHeaders()...)
		}
		if c, ok := m.(Challenger); ok {
			challenges = append(challenges, c.Challenge())
		}
	}
	refusal := pipeline.ErrUnauthorized
	if len(challenges) > 0 {
		e := *pipeline.ErrUnauthorized
		e.Header = http.Header{"Www-Authenticate": challenges}
		refusal = &e
	}
	guarded := make([]Guarded, len(methods))
	for i, m := range methods {
		guarded[i], _ = m.(Guarded)
	}
	return func(next pipeline.Handler) pipeline.Handler {
		if anonymous {
			return next
		}
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
			x.Protected = protected
			var retry time.Duration
			for i, m := range methods {
				var id pipeline.Identity
				var header string
				var found bool
				if g := guarded[i]; g != nil {
					var wait time.Duration
					id, header, found, wait = g.AuthenticateFrom(r, x.ClientIP)
					retry = max(retry, wait)
				} else {
					id, header, found = m.Authenticate(r)
				}
				if found && id.Consumer != "" {
					x.Consumer, x.Groups, x.Scopes, x.Claims = id.Consumer, id.Groups, id.Scopes, id.Claims
					x.CredentialHeader, x.CredentialQuery, x.Inject = header, id.QueryParam, id.Headers
					return next.Serve(w, r, x)
				}
			}
			if retry > 0 {
				e := *errGuessing
				e.Header = http.Header{"Retry-After": {strconv.FormatInt(int64((retry+time.Second-1)/time.Second), 10)}}
				return &e
			}
			return refusal
		})
	}
}

// errGuessing answers a client past its budget of failed password checks.
var errGuessing = &pipeline.Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
	Message: "too many failed credentials from this client; retry after the time in Retry-After"}
