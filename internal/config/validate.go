package config

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/urlpath"
)

// AppConsumerPrefix starts the consumer names of the developer portal's
// applications; the config and the admin API may not take one.
const AppConsumerPrefix = "app_"

// Built-in auth method names, usable in any auth list without a policy.
const (
	AuthNone   = "none"
	AuthAPIKey = "api_key"
)

// MinAPIKeyLen is the shortest API key accepted in the file.
const MinAPIKeyLen = 16

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	tokenRE  = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	hostRE   = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
	knownMth = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
)

// Load reads, parses and validates the config file at path.
func Load(path string, getenv func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path) //nolint:gosec // the operator names the config file to read
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	f, err := ParseFile(path, data, getenv)
	if err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f.Config, nil
}

// Validate checks a config built in code, which has no positions.
func Validate(name string, c *Config) error {
	return (&File{Name: name, Config: c}).Validate()
}

// Validate checks everything that decoding cannot: required fields, names,
// references, URLs, templates and conflicts. It returns every problem found,
// as Errors sorted by position.
func (f *File) Validate() error {
	v := &validator{file: f}
	v.config(f.Config)
	if len(v.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(v.errs, func(a, b Error) int {
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line - b.Pos.Line
		}
		return a.Pos.Col - b.Pos.Col
	})
	if v.over {
		v.errs = append(v.errs, Error{File: f.Name, Msg: tooMany})
	}
	return v.errs
}

// tooMany ends a list of problems cut at maxErrors.
var tooMany = fmt.Sprintf("more than %d problems; the rest are not listed — fix these first", maxErrors)

type validator struct {
	file *File
	errs Errors
	over bool // more than maxErrors were found
}

func (v *validator) errorf(path, format string, args ...any) {
	if len(v.errs) == maxErrors {
		v.over = true
		return
	}
	v.errs = append(v.errs, Error{
		File: v.file.Name,
		Pos:  v.file.Pos(path),
		Msg:  path + ": " + fmt.Sprintf(format, args...),
	})
}

func (v *validator) name(path, kind, s string) {
	if s == "" {
		v.errorf(path, "a %s needs a name", kind)
	} else if !nameRE.MatchString(s) {
		v.errorf(path, "%q is not a valid name (letters, digits, '.', '_' and '-', at most 64, starting with a letter or digit)", s)
	}
}

func (v *validator) config(c *Config) {
	if c.Version != 1 {
		if c.Version == 0 {
			v.errorf("version", "missing; write version: 1")
		} else {
			v.errorf("version", "version %d is not supported; this Portico reads version 1", c.Version)
		}
	}
	upstreams := map[string]bool{}
	fallbacks := map[string]string{}
	for i, u := range c.Upstreams {
		p := fmt.Sprintf("upstreams[%d]", i)
		v.upstream(p, u)
		if upstreams[u.Name] {
			v.errorf(p+".name", "upstream %q is defined twice", u.Name)
		}
		upstreams[u.Name] = true
		fallbacks[u.Name] = u.Fallback
	}
	for i, u := range c.Upstreams {
		p := fmt.Sprintf("upstreams[%d].fallback", i)
		switch fb := u.Fallback; {
		case fb == "":
		case !upstreams[fb]:
			v.errorf(p, "no upstream is named %q", fb)
		case fb == u.Name:
			v.errorf(p, "an upstream cannot be its own fallback")
		case fallbacks[fb] != "":
			v.errorf(p, "upstream %q has a fallback itself; a fallback may not have one", fb)
		}
	}
	policies := map[string]bool{AuthNone: true, AuthAPIKey: true}
	for i, a := range c.AuthPolicies {
		p := fmt.Sprintf("auth_policies[%d]", i)
		v.authPolicy(p, a)
		if policies[a.Name] {
			if a.Name == AuthNone || a.Name == AuthAPIKey {
				v.errorf(p+".name", "%q is built in; choose another name", a.Name)
			} else {
				v.errorf(p+".name", "auth policy %q is defined twice", a.Name)
			}
		}
		policies[a.Name] = true
	}
	plans := v.plans(c)
	consumers := map[string]bool{}
	keys := map[string]string{}
	users := map[string]string{}
	for i, cons := range c.Consumers {
		p := fmt.Sprintf("consumers[%d]", i)
		v.name(p+".name", "consumer", cons.Name)
		if strings.HasPrefix(cons.Name, AppConsumerPrefix) {
			v.errorf(p+".name", "%q: names starting with %s are the developer portal's applications; choose another", cons.Name, AppConsumerPrefix)
		}
		for j, g := range cons.Groups {
			if !nameRE.MatchString(g) {
				v.errorf(fmt.Sprintf("%s.groups[%d]", p, j), "%q is not a valid group name", g)
			}
		}
		if consumers[cons.Name] {
			v.errorf(p+".name", "consumer %q is defined twice", cons.Name)
		}
		consumers[cons.Name] = true
		if cons.Plan != "" && !plans[cons.Plan] {
			v.errorf(p+".plan", "no plan is named %q", cons.Plan)
		}
		v.basicCredentials(p, cons.Basic, users, cons.Name)
		for j, k := range cons.APIKeys {
			kp := fmt.Sprintf("%s.api_keys[%d]", p, j)
			switch owner, dup := keys[HashKey(k)]; {
			case IsHashedKey(k) && !dup:
				// stored form of a key; its strength was checked when it was set
			case len(k) < MinAPIKeyLen:
				v.errorf(kp, "an API key must be at least %d characters", MinAPIKeyLen)
			case !isPrintableASCII(k):
				v.errorf(kp, "an API key may hold only printable ASCII without spaces")
			case dup:
				v.errorf(kp, "this key is already a key of consumer %q; keys must be unique", owner)
			}
			keys[HashKey(k)] = cons.Name
		}
	}
	v.prefixes("trusted_proxies", c.TrustedProxies)

	mappings := map[string]string{}
	apiNames := map[string]bool{}
	for i, a := range c.APIs {
		p := fmt.Sprintf("apis[%d]", i)
		v.name(p+".name", "API", a.Name)
		if apiNames[a.Name] {
			v.errorf(p+".name", "API %q is defined twice", a.Name)
		}
		apiNames[a.Name] = true
		if err := urlpath.ValidBasePath(a.BasePath); err != nil {
			v.errorf(p+".base_path", "%v", err)
		}
		if a.Host != "" && !hostRE.MatchString(a.Host) {
			v.errorf(p+".host", "%q is not a lower-case host name (a leading \"*.\" is allowed; no port)", a.Host)
		}
		key := strings.ToLower(a.Host) + " " + strings.TrimSuffix(a.BasePath, "/")
		if other, dup := mappings[key]; dup {
			v.errorf(p+".base_path", "API %q already maps host %q and base path %q", other, a.Host, a.BasePath)
		}
		mappings[key] = a.Name
		if a.Upstream != "" && !upstreams[a.Upstream] {
			v.errorf(p+".upstream", "no upstream is named %q", a.Upstream)
		}
		if a.Auth != nil {
			v.authList(p+".auth", a.Auth, policies)
		}
		if a.Portal != nil {
			v.portal(p+".portal", a.Portal, plans)
		}
		switch {
		case a.LLM != nil:
			v.llmAPI(p, a, c)
		case len(a.Routes) == 0:
			v.errorf(p, "API %q has no routes; add at least one", a.Name)
		}
		if a.LLM == nil && len(a.RateLimit) > 0 {
			v.errorf(p+".rate_limit", "an API's own rate limits are for LLM APIs; put them on its routes")
		}
		if a.CORS != nil {
			v.cors(p+".cors", a.CORS)
		}
		v.prefixes(p+".ip_allow", a.IPAllow)
		v.prefixes(p+".ip_deny", a.IPDeny)
		v.requestFilters(p+".request_filters", a.RequestFilters)
		v.routes(p, a, upstreams, policies, consumers)
	}
}

func (v *validator) upstream(p string, u Upstream) {
	v.name(p+".name", "upstream", u.Name)
	if len(u.Targets) == 0 {
		v.errorf(p+".targets", "an upstream needs at least one target")
	}
	for j, t := range u.Targets {
		tp := fmt.Sprintf("%s.targets[%d]", p, j)
		if err := checkTargetURL(t.URL); err != nil {
			v.errorf(tp+".url", "%v", err)
		}
		if t.Weight != nil && (*t.Weight < 0 || *t.Weight > 10000) {
			v.errorf(tp+".weight", "must be between 0 and 10000")
		}
	}
	switch u.Balance {
	case "", "round_robin", "least_requests":
		if u.HashOn != "" {
			v.errorf(p+".hash_on", "hash_on is for balance: hash")
		}
	case "hash":
		header, isHeader := strings.CutPrefix(u.HashOn, "header:")
		if u.HashOn != "consumer" && u.HashOn != "ip" && (!isHeader || !tokenRE.MatchString(header)) {
			v.errorf(p+".hash_on", "balance: hash needs hash_on: consumer, ip or header:<Name>")
		}
	default:
		v.errorf(p+".balance", "%q is not round_robin, least_requests or hash", u.Balance)
	}
	if hc := u.HealthCheck; hc != nil {
		hp := p + ".health_check"
		if hc.Path != "" && (!strings.HasPrefix(hc.Path, "/") || strings.ContainsAny(hc.Path, " \t\r\n#")) {
			v.errorf(hp+".path", "%q is not a path starting with /", hc.Path)
		}
		if hc.Interval.D() != 0 && (hc.Interval.D() < 50*time.Millisecond || hc.Interval.D() > time.Hour) {
			v.errorf(hp+".interval", "must be between 50ms and 1h")
		}
		if hc.Timeout.D() < 0 || hc.Timeout.D() > time.Minute {
			v.errorf(hp+".timeout", "must be at most 1m")
		}
		for _, n := range []struct {
			key string
			v   int
		}{{"healthy", hc.Healthy}, {"unhealthy", hc.Unhealthy}} {
			if n.v < 0 || n.v > 100 {
				v.errorf(hp+"."+n.key, "must be between 1 and 100")
			}
		}
		if pc := hc.Passive; pc != nil {
			if pc.Failures < 1 || pc.Failures > 1000 {
				v.errorf(hp+".passive.failures", "must be between 1 and 1000")
			}
			if pc.Ejection.D() < 0 || pc.MaxEjection.D() < 0 || pc.MaxEjection.D() != 0 && pc.MaxEjection.D() < pc.Ejection.D() {
				v.errorf(hp+".passive", "ejection and max_ejection must be positive, max_ejection at least ejection")
			}
		}
		if hc.Path == "" && hc.Passive == nil {
			v.errorf(hp, "set path (active checks), passive, or both")
		}
	}
	if cb := u.CircuitBreaker; cb != nil {
		if cb.ErrorRate <= 0 || cb.ErrorRate > 1 {
			v.errorf(p+".circuit_breaker.error_rate", "must be above 0 and at most 1")
		}
		if cb.MinRequests < 0 || cb.Window.D() < 0 || cb.Cooldown.D() < 0 || cb.Window.D() > time.Hour || cb.Cooldown.D() > time.Hour {
			v.errorf(p+".circuit_breaker", "min_requests, window and cooldown must be positive (window and cooldown at most 1h)")
		}
	}
	if r := u.Retries; r != nil {
		if r.Budget < 0 || r.Budget > 1 {
			v.errorf(p+".retries.budget", "must be between 0 and 1")
		}
		for i, st := range r.OnStatus {
			if st < 400 || st > 599 {
				v.errorf(fmt.Sprintf("%s.retries.on_status[%d]", p, i), "%d is not a 4xx or 5xx status", st)
			}
		}
		if r.Attempts < 0 || r.Attempts > 10 {
			v.errorf(p+".retries.attempts", "must be between 0 and 10")
		}
		if r.Backoff != "" && r.Backoff != "exponential" && r.Backoff != "linear" {
			v.errorf(p+".retries.backoff", "%q is not a backoff; use exponential or linear", r.Backoff)
		}
	}
}

func checkTargetURL(s string) error {
	if s == "" {
		return fmt.Errorf("a target needs a url")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", s, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: the scheme must be http or https", s)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%q has no host", s)
	case u.User != nil:
		return fmt.Errorf("%q: credentials in target URLs are not supported", s)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return fmt.Errorf("%q: a target URL cannot have a query or fragment", s)
	}
	if u.EscapedPath() != "" && u.EscapedPath() != "/" {
		if err := urlpath.ValidBasePath(u.EscapedPath()); err != nil {
			return fmt.Errorf("target path: %w", err)
		}
	}
	return nil
}

func (v *validator) authPolicy(p string, a AuthPolicy) {
	v.name(p+".name", "auth policy", a.Name)
	switch a.Type {
	case "api_key":
		if a.Header != "" && !tokenRE.MatchString(a.Header) {
			v.errorf(p+".header", "%q is not a valid header name", a.Header)
		}
		if a.QueryParam != "" && !nameRE.MatchString(a.QueryParam) {
			v.errorf(p+".query_param", "%q is not a valid query parameter name", a.QueryParam)
		}
	case "jwt":
		v.jwtPolicy(p, a)
	case "basic":
		if a.Realm != "" && (!isPrintableASCII(strings.ReplaceAll(a.Realm, " ", "_")) || strings.Contains(a.Realm, `"`)) {
			v.errorf(p+".realm", "a realm is printable ASCII without quotes")
		}
	case "mtls":
		if a.CAFile == "" {
			v.errorf(p, "an mtls policy needs ca_file, the PEM certificates of the authorities client certificates chain to")
		}
		switch a.ConsumerFrom {
		case "", "subject_cn", "san_dns", "san_email", "san_uri":
		default:
			v.errorf(p+".consumer_from", "%q is not subject_cn, san_dns, san_email or san_uri", a.ConsumerFrom)
		}
	case "":
		v.errorf(p+".type", "missing; write type: api_key, jwt, basic or mtls")
	default:
		v.errorf(p+".type", "%q is not an auth policy type; use api_key, jwt, basic or mtls", a.Type)
	}
}

func (v *validator) authList(p string, list []string, policies map[string]bool) {
	if len(list) == 0 {
		v.errorf(p, "is empty; list the accepted methods, or write [none] for anonymous access")
		return
	}
	for i, m := range list {
		if !policies[m] {
			v.errorf(fmt.Sprintf("%s[%d]", p, i), "no auth policy is named %q (built in: none, api_key)", m)
		}
		if m == AuthNone && len(list) > 1 {
			v.errorf(fmt.Sprintf("%s[%d]", p, i), "none cannot be combined with other methods")
		}
	}
}

func (v *validator) routes(p string, a API, upstreams, policies, consumers map[string]bool) {
	names := map[string]bool{}
	claims := map[string]map[string]string{} // shape -> method ("*" for all) -> route
	for j, r := range a.Routes {
		rp := fmt.Sprintf("%s.routes[%d]", p, j)
		v.name(rp+".name", "route", r.Name)
		if names[r.Name] {
			v.errorf(rp+".name", "route %q is defined twice in API %q", r.Name, a.Name)
		}
		names[r.Name] = true
		for k, m := range r.Methods {
			if !slices.Contains(knownMth, m) {
				v.errorf(fmt.Sprintf("%s.methods[%d]", rp, k), "%q is not a method Portico routes (%s)", m, strings.Join(knownMth, ", "))
			}
		}
		if t, err := urlpath.ParseTemplate(r.Path); err != nil {
			v.errorf(rp+".path", "%v", err)
		} else {
			v.claim(rp, a, r, claims, t.Shape())
		}
		switch {
		case r.Aggregate != nil:
		case len(r.Upstreams) > 0:
			v.split(rp, r, upstreams)
		case r.Upstream != "" && !upstreams[r.Upstream]:
			v.errorf(rp+".upstream", "no upstream is named %q", r.Upstream)
		case r.Upstream == "" && a.Upstream == "":
			v.errorf(rp, "route %q has no upstream; set upstream on the route or its API", r.Name)
		}
		v.transform(rp, r)
		v.aggregate(rp, r, upstreams)
		for k, m := range r.RetryMethods {
			if m != "POST" && m != "PATCH" {
				v.errorf(fmt.Sprintf("%s.retry_methods[%d]", rp, k), "%q: only POST and PATCH need opting in (the other methods are idempotent)", m)
			}
		}
		if m := r.Mirror; m != nil {
			if !upstreams[m.Upstream] {
				v.errorf(rp+".mirror.upstream", "no upstream is named %q", m.Upstream)
			}
			if m.Percent < 1 || m.Percent > 100 {
				v.errorf(rp+".mirror.percent", "must be between 1 and 100")
			}
		}
		if r.Sticky != "" && (r.Sticky != "consumer" || len(r.Upstreams) == 0) {
			v.errorf(rp+".sticky", "sticky is \"consumer\", with upstreams")
		}
		switch {
		case r.Auth != nil:
			v.authList(rp+".auth", r.Auth, policies)
		case a.Auth == nil:
			v.errorf(rp, "route %q has no auth; set auth on the route or its API ([none] for anonymous access)", r.Name)
		}
		for _, list := range []struct {
			key   string
			names []string
		}{{"require_groups", r.RequireGroups}, {"require_scopes", r.RequireScopes}} {
			for k, g := range list.names {
				if g == "" || strings.ContainsAny(g, " \t\r\n") {
					v.errorf(fmt.Sprintf("%s.%s[%d]", rp, list.key, k), "%q is not a group or scope name", g)
				}
			}
		}
		// Consumers may also be created through the admin API, so a name
		// here need not be in this file; it must still be a valid name.
		for k, c := range r.AllowConsumers {
			if !nameRE.MatchString(c) {
				v.errorf(fmt.Sprintf("%s.allow_consumers[%d]", rp, k), "%q is not a valid consumer name", c)
			}
		}
		for k, rl := range r.RateLimit {
			v.rateLimit(fmt.Sprintf("%s.rate_limit[%d]", rp, k), rl)
		}
		v.requestFilters(rp+".request_filters", r.RequestFilters)
		if r.MaxBodyBytes < 0 {
			v.errorf(rp+".max_body_bytes", "must be 0 (no limit) or more")
		}
		v.prefixes(rp+".ip_allow", r.IPAllow)
		v.prefixes(rp+".ip_deny", r.IPDeny)
	}
}

// split checks a route's traffic split.
func (v *validator) split(rp string, r Route, upstreams map[string]bool) {
	if r.Upstream != "" {
		v.errorf(rp+".upstream", "a route has upstream or upstreams, not both")
	}
	total := 0
	for i, u := range r.Upstreams {
		up := fmt.Sprintf("%s.upstreams[%d]", rp, i)
		if !upstreams[u.Name] {
			v.errorf(up+".name", "no upstream is named %q", u.Name)
		}
		if u.Weight < 0 || u.Weight > 10000 {
			v.errorf(up+".weight", "must be between 0 and 10000")
		}
		total += max(u.Weight, 0)
		if m := u.Match; m != nil {
			for h := range m.Headers {
				if !tokenRE.MatchString(h) {
					v.errorf(up+".match.headers", "%q is not a header name", h)
				}
			}
			for k, c := range m.Consumers {
				if !nameRE.MatchString(c) {
					v.errorf(fmt.Sprintf("%s.match.consumers[%d]", up, k), "%q is not a valid consumer name", c)
				}
			}
			if len(m.Headers) == 0 && len(m.Consumers) == 0 {
				v.errorf(up+".match", "a match needs headers or consumers")
			}
		} else if u.Weight == 0 {
			v.errorf(up+".weight", "a side without a match needs a weight")
		}
	}
	if total == 0 {
		v.errorf(rp+".upstreams", "at least one side needs a weight, for the requests no match claims")
	}
}

// claim records the methods of r on its path shape, and reports a route of
// the same API that already matches one of them.
func (v *validator) claim(rp string, a API, r Route, claims map[string]map[string]string, shape string) {
	methods := r.Methods
	if len(methods) == 0 {
		methods = []string{"*"}
	}
	byMethod := claims[shape]
	if byMethod == nil {
		byMethod = map[string]string{}
		claims[shape] = byMethod
	}
	for _, m := range methods {
		owner := byMethod[m]
		if owner == "" {
			owner = byMethod["*"]
		}
		if owner == "" && m == "*" {
			for _, o := range byMethod {
				owner = o
				break
			}
		}
		if owner != "" {
			what := m + " " + a.BasePath + r.Path
			if m == "*" {
				what = a.BasePath + r.Path
			}
			v.errorf(rp+".path", "route %q and route %q both match %s", owner, r.Name, what)
			return
		}
	}
	for _, m := range methods {
		byMethod[m] = r.Name
	}
}

func (v *validator) prefixes(p string, list []string) {
	for i, s := range list {
		if _, err := ParsePrefix(s); err != nil {
			v.errorf(fmt.Sprintf("%s[%d]", p, i), "%v", err)
		}
	}
}

// ParsePrefix parses an IP address or CIDR; an address is a prefix of its
// full length. IPv4-mapped IPv6 forms are reduced to IPv4.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// jwtAlgorithms are the algorithms a jwt policy may list.
var jwtAlgorithms = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func (v *validator) jwtPolicy(p string, a AuthPolicy) {
	sources := 0
	for _, set := range []bool{a.JWKSURL != "", a.Discovery, a.JWKSFile != ""} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		v.errorf(p, "a jwt policy needs exactly one key source: jwks_url, discovery (with issuer) or jwks_file")
	}
	if a.JWKSURL != "" {
		if u, err := url.Parse(a.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			v.errorf(p+".jwks_url", "%q is not an http(s) URL", a.JWKSURL)
		}
	}
	if a.Discovery {
		if u, err := url.Parse(a.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			v.errorf(p+".issuer", "discovery needs the issuer's URL, such as https://id.example.com")
		}
	}
	for i, alg := range a.Algorithms {
		if !slices.Contains(jwtAlgorithms, alg) {
			v.errorf(fmt.Sprintf("%s.algorithms[%d]", p, i), "%q is not an algorithm Portico verifies (%s)", alg, strings.Join(jwtAlgorithms, ", "))
		}
	}
	if a.Leeway.D() > 5*time.Minute {
		v.errorf(p+".leeway", "at most 5m")
	}
	if a.Header != "" {
		v.errorf(p+".header", "a jwt policy reads Authorization: Bearer; header is for api_key policies")
	}
	for i, f := range a.ForwardClaims {
		fp := fmt.Sprintf("%s.forward_claims[%d]", p, i)
		switch h := http.CanonicalHeaderKey(f.Header); {
		case f.Claim == "":
			v.errorf(fp+".claim", "name the claim to forward")
		case !tokenRE.MatchString(f.Header) || strings.Contains(f.Header, "_"):
			v.errorf(fp+".header", "%q is not a header name Portico forwards (no underscores)", f.Header)
		case slices.Contains([]string{"Authorization", "Host", "Connection", "Content-Length", "Transfer-Encoding", "X-Consumer", "X-Request-Id", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}, h):
			v.errorf(fp+".header", "%s is set by Portico itself", h)
		}
	}
}
