// Package governance checks a configuration against a gateway group's
// publish-time rules. Each violation blocks the publish unless an
// exception names the rule and the API, with a reason and an expiry date,
// and has not expired.
package governance

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/config"
)

// Rule names.
const (
	RouteAuthExplicit      = "route_auth_explicit"
	NoAnonymousWithoutRate = "no_anonymous_without_rate_limit"
	UpstreamHTTPS          = "upstream_https"
	RouteNamePattern       = "route_name_pattern"
)

// Rules are the built-in rules a group may turn on.
type Rules struct {
	// RouteAuthExplicit: every route states its own auth, instead of
	// inheriting the API's.
	RouteAuthExplicit bool `json:"route_auth_explicit,omitempty"`
	// NoAnonymousWithoutRateLimit: a route with auth [none] must have a
	// rate limit. (Until rate limits are available, no route may be
	// anonymous.)
	NoAnonymousWithoutRateLimit bool `json:"no_anonymous_without_rate_limit,omitempty"`
	// UpstreamHTTPS: upstream targets use https, except hosts listed in
	// AllowHTTP ("10.0.0.5", "localhost", "*.svc.cluster.local").
	UpstreamHTTPS *HTTPSRule `json:"upstream_https,omitempty"`
	// RouteNamePattern: route names match this regular expression.
	RouteNamePattern string `json:"route_name_pattern,omitempty"`
}

// HTTPSRule configures UpstreamHTTPS.
type HTTPSRule struct {
	AllowHTTP []string `json:"allow_http,omitempty"`
}

// Exception lets one API break one rule until Expires.
type Exception struct {
	Rule    string    `json:"rule"`
	API     string    `json:"api"`
	Reason  string    `json:"reason"`
	Expires time.Time `json:"expires"`
}

// Policy is a group's governance settings.
type Policy struct {
	Rules      Rules       `json:"rules"`
	Exceptions []Exception `json:"exceptions,omitempty"`
}

// Violation is one broken rule.
type Violation struct {
	Rule string
	API  string
	// Path is the config path of the offending value.
	Path    string
	Message string
}

func (v Violation) String() string { return fmt.Sprintf("%s: %s (rule %s)", v.Path, v.Message, v.Rule) }

// Validate reports what is wrong with the policy itself.
func (p Policy) Validate() error {
	if p.Rules.RouteNamePattern != "" {
		if _, err := regexp.Compile(p.Rules.RouteNamePattern); err != nil {
			return fmt.Errorf("governance: route_name_pattern: %w", err)
		}
	}
	known := map[string]bool{RouteAuthExplicit: true, NoAnonymousWithoutRate: true, UpstreamHTTPS: true, RouteNamePattern: true}
	for i, e := range p.Exceptions {
		switch {
		case !known[e.Rule]:
			return fmt.Errorf("governance: exceptions[%d]: %q is not a rule", i, e.Rule)
		case e.API == "":
			return fmt.Errorf("governance: exceptions[%d]: name the API it applies to", i)
		case strings.TrimSpace(e.Reason) == "":
			return fmt.Errorf("governance: exceptions[%d]: give a reason", i)
		case e.Expires.IsZero():
			return fmt.Errorf("governance: exceptions[%d]: give an expiry date (RFC 3339)", i)
		}
	}
	return nil
}

// excepted reports whether an unexpired exception covers rule for api.
func (p Policy) excepted(rule, api string, now time.Time) bool {
	for _, e := range p.Exceptions {
		if e.Rule == rule && e.API == api && now.Before(e.Expires) {
			return true
		}
	}
	return false
}

// Check returns the violations of c at now that no exception covers.
func (p Policy) Check(c *config.Config, now time.Time) []Violation {
	var out []Violation
	add := func(rule, api, path, msg string) {
		if !p.excepted(rule, api, now) {
			out = append(out, Violation{Rule: rule, API: api, Path: path, Message: msg})
		}
	}
	var namePattern *regexp.Regexp
	if p.Rules.RouteNamePattern != "" {
		namePattern, _ = regexp.Compile(p.Rules.RouteNamePattern) // validated when stored
	}
	upstreams := map[string]config.Upstream{}
	for _, u := range c.Upstreams {
		upstreams[u.Name] = u
	}
	for i, a := range c.APIs {
		for j, r := range a.Routes {
			rp := fmt.Sprintf("apis[%d].routes[%d]", i, j)
			if p.Rules.RouteAuthExplicit && r.Auth == nil {
				add(RouteAuthExplicit, a.Name, rp, fmt.Sprintf("route %q does not state its own auth", r.Name))
			}
			auth := r.Auth
			if auth == nil {
				auth = a.Auth
			}
			if p.Rules.NoAnonymousWithoutRateLimit && len(auth) == 1 && auth[0] == config.AuthNone && r.RateLimit == nil {
				add(NoAnonymousWithoutRate, a.Name, rp, fmt.Sprintf("route %q is anonymous without a rate limit", r.Name))
			}
			if namePattern != nil && !namePattern.MatchString(r.Name) {
				add(RouteNamePattern, a.Name, rp+".name", fmt.Sprintf("route name %q does not match %s", r.Name, p.Rules.RouteNamePattern))
			}
			if p.Rules.UpstreamHTTPS != nil {
				up := r.Upstream
				if up == "" {
					up = a.Upstream
				}
				for k, t := range upstreams[up].Targets {
					if strings.HasPrefix(t.URL, "http://") && !p.Rules.UpstreamHTTPS.allows(t.URL) {
						add(UpstreamHTTPS, a.Name, rp, fmt.Sprintf("route %q reaches upstream %s target %d over plain http (%s)", r.Name, up, k, t.URL))
					}
				}
			}
		}
	}
	return dedupe(out)
}

func (h *HTTPSRule) allows(url string) bool {
	host := strings.TrimPrefix(url, "http://")
	if i := strings.IndexAny(host, "/"); i >= 0 {
		host = host[:i]
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	host = strings.Trim(host, "[]")
	for _, a := range h.AllowHTTP {
		if a == host || strings.HasPrefix(a, "*.") && strings.HasSuffix(host, a[1:]) {
			return true
		}
	}
	return false
}

// dedupe keeps one violation per rule, API and message.
func dedupe(vs []Violation) []Violation {
	seen := map[string]bool{}
	out := vs[:0]
	for _, v := range vs {
		k := v.Rule + "\x00" + v.API + "\x00" + v.Message
		if !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out
}

// FromSettings reads the governance section of a group's settings
// document (none: no rules).
func FromSettings(doc []byte) (Policy, error) {
	var s struct {
		Governance Policy `json:"governance"`
	}
	if len(doc) > 0 {
		if err := json.Unmarshal(doc, &s); err != nil {
			return Policy{}, fmt.Errorf("governance: %w", err)
		}
	}
	return s.Governance, s.Governance.Validate()
}

// Error lists violations as one error.
func Error(vs []Violation) error {
	msgs := make([]string, len(vs))
	for i, v := range vs {
		msgs[i] = v.String()
	}
	return fmt.Errorf("governance: %s", strings.Join(msgs, "; "))
}
