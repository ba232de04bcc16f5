// Package cors answers cross-origin resource sharing for an API (the
// Fetch standard's CORS protocol): the gateway answers preflight requests
// itself, without bothering the upstream, and marks the responses of
// allowed origins. On an API with a CORS policy the gateway is the only
// voice: the upstream's own Access-Control-* headers are dropped.
package cors

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/pipeline"
)

// Policy is a compiled CORS policy. Immutable.
type Policy struct {
	anyOrigin   bool
	origins     map[string]bool
	methods     []string // canonical upper case
	allowMethod string
	headers     map[string]bool // lower case
	allowHeader string
	expose      string
	credentials bool
	maxAge      string
}

// Spec is a CORS policy as the config writes it.
type Spec struct {
	Origins, Methods, Headers, ExposeHeaders []string
	Credentials                              bool
	MaxAge                                   time.Duration
}

// New compiles s.
func New(s Spec) *Policy {
	p := &Policy{origins: map[string]bool{}, headers: map[string]bool{}, credentials: s.Credentials}
	for _, o := range s.Origins {
		if o == "*" {
			p.anyOrigin = true
		}
		p.origins[o] = true
	}
	p.methods = s.Methods
	if len(p.methods) == 0 {
		p.methods = []string{"GET", "HEAD", "POST"}
	}
	p.allowMethod = strings.Join(p.methods, ", ")
	var hs []string
	for _, h := range s.Headers {
		p.headers[strings.ToLower(h)] = true
		hs = append(hs, http.CanonicalHeaderKey(h))
	}
	p.allowHeader = strings.Join(hs, ", ")
	p.expose = strings.Join(s.ExposeHeaders, ", ")
	if s.MaxAge > 0 {
		p.maxAge = strconv.FormatInt(int64(s.MaxAge/time.Second), 10)
	}
	return p
}

// IsPreflight reports whether r is a CORS preflight request.
func IsPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && len(r.Header["Origin"]) == 1 && len(r.Header["Access-Control-Request-Method"]) == 1
}

var errRefused = &pipeline.Error{Status: http.StatusForbidden, Code: "cors_refused",
	Message: "CORS preflight refused: the origin, method or a header is not allowed for this API"}

// Preflight answers a preflight request: 204 with the allowed methods and
// headers, or 403 cors_refused (without CORS headers, so the browser
// stops) when the origin, the method or a requested header is not allowed.
func (p *Policy) Preflight(w http.ResponseWriter, r *http.Request) error {
	origin := r.Header["Origin"][0]
	h := w.Header()
	h["Vary"] = []string{"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}
	if !p.allowed(origin) {
		return errRefused
	}
	if m := r.Header["Access-Control-Request-Method"][0]; !slices.Contains(p.methods, m) {
		return errRefused
	}
	for _, list := range r.Header["Access-Control-Request-Headers"] {
		for name := range strings.SplitSeq(list, ",") {
			if name = strings.ToLower(strings.TrimSpace(name)); name != "" && !p.headers[name] && !safelisted(name) {
				return errRefused
			}
		}
	}
	p.allowOrigin(h, origin)
	h["Access-Control-Allow-Methods"] = []string{p.allowMethod}
	if p.allowHeader != "" {
		h["Access-Control-Allow-Headers"] = []string{p.allowHeader}
	}
	if p.maxAge != "" {
		h["Access-Control-Max-Age"] = []string{p.maxAge}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// safelisted are the request headers a browser sends without asking
// (the Fetch standard's CORS-safelisted request headers).
func safelisted(name string) bool {
	switch name {
	case "accept", "accept-language", "content-language", "content-type", "range":
		return true
	}
	return false
}

func (p *Policy) allowed(origin string) bool {
	return p.anyOrigin || p.origins[origin]
}

func (p *Policy) allowOrigin(h http.Header, origin string) {
	if p.anyOrigin && !p.credentials {
		h["Access-Control-Allow-Origin"] = []string{"*"}
	} else {
		h["Access-Control-Allow-Origin"] = []string{origin}
	}
	if p.credentials {
		h["Access-Control-Allow-Credentials"] = []string{"true"}
	}
}

// Middleware marks the responses of an API's routes: a request from an
// allowed origin gets Access-Control-Allow-Origin (and the rest) on every
// answer, the gateway's errors included, so the page's script can read
// a 401 or a 429. It runs first in the chain.
func (p *Policy) Middleware() pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
			x.GatewayCORS = true
			h := w.Header()
			if !p.anyOrigin || p.credentials {
				h["Vary"] = []string{"Origin"}
			}
			if o := r.Header["Origin"]; len(o) == 1 && p.allowed(o[0]) {
				p.allowOrigin(h, o[0])
				if p.expose != "" {
					h["Access-Control-Expose-Headers"] = []string{p.expose}
				}
			}
			return next.Serve(w, r, x)
		})
	}
}
