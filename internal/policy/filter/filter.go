// Package filter blocks requests by method, path, query or header pattern,
// in the spirit of a web application firewall: a first line that turns
// away scanners and known-bad requests before they cost an authentication
// or reach an upstream. Patterns are RE2 (linear time whatever the input,
// so a hostile request cannot make a pattern backtrack for seconds).
//
// A rule in log-only mode blocks nothing: the request goes on, and the
// match shows in the access log's "filter" field and in the
// portico_request_filter_matches_total metric — the way to try a rule on
// real traffic before enforcing it.
package filter

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/portico-gw/portico/internal/pipeline"
)

// Rule is one compiled filter.
type Rule struct {
	Name    string
	LogOnly bool
	methods []string
	path    *regexp.Regexp
	query   *regexp.Regexp
	header  string // canonical
	value   *regexp.Regexp
}

// Spec is a rule as the config writes it.
type Spec struct {
	Name                  string
	LogOnly               bool
	BlockMethods          []string
	BlockPath, BlockQuery string
	Header, HeaderPattern string
}

// Compile compiles s (its patterns were validated with the config).
func Compile(s Spec) (*Rule, error) {
	r := &Rule{Name: s.Name, LogOnly: s.LogOnly, methods: s.BlockMethods, header: http.CanonicalHeaderKey(s.Header)}
	var err error
	for _, p := range []struct {
		src string
		dst **regexp.Regexp
	}{{s.BlockPath, &r.path}, {s.BlockQuery, &r.query}, {s.HeaderPattern, &r.value}} {
		if p.src != "" {
			if *p.dst, err = regexp.Compile(p.src); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// matches reports whether the rule matches r. The path is tried both as
// routing saw it (normalised) and as the client sent it, and the query
// both raw and decoded ('+' as a space), so neither an encoding nor a dot
// segment slips a blocked request past the rule.
func (f *Rule) matches(r *http.Request, x *pipeline.Exchange) bool {
	switch {
	case f.methods != nil:
		return slices.Contains(f.methods, r.Method)
	case f.path != nil:
		raw, _, _ := strings.Cut(r.RequestURI, "?")
		return f.path.MatchString(x.Path) || f.path.MatchString(raw)
	case f.query != nil:
		q := r.URL.RawQuery
		if f.query.MatchString(q) {
			return true
		}
		d, err := url.QueryUnescape(q)
		return err == nil && d != q && f.query.MatchString(d)
	case f.value != nil:
		for _, v := range r.Header[f.header] {
			if f.value.MatchString(v) {
				return true
			}
		}
	}
	return false
}

// Counter counts matches for the metrics (telemetry.Metrics implements it).
type Counter interface {
	FilterMatched(name string, blocked bool)
}

var errBlocked = &pipeline.Error{Status: http.StatusForbidden, Code: "request_blocked", Message: "the request was blocked by a request filter"}

// New returns the middleware applying rules in order: the first blocking
// rule that matches answers 403 request_blocked; log-only matches are
// recorded (the last one names itself in the access log).
func New(rules []*Rule, c Counter) pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
			for _, f := range rules {
				if !f.matches(r, x) {
					continue
				}
				if c != nil {
					c.FilterMatched(f.Name, !f.LogOnly)
				}
				x.Filter = f.Name
				if !f.LogOnly {
					return errBlocked
				}
			}
			return next.Serve(w, r, x)
		})
	}
}
