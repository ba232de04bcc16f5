// Package compiler turns a validated config into a gateway snapshot: each
// route becomes an immutable chain of middlewares ending in the proxy, and
// the routes become a router. This is the seed's central idea — decide at
// load time, once, what every request of a route must go through — so the
// request path only follows pointers.
//
// Compile builds the whole new snapshot before anything serves it; a config
// that fails to compile never replaces the one serving.
package compiler

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/gateway"
	"github.com/portico-gw/portico/internal/llm"
	"github.com/portico-gw/portico/internal/openapi"
	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/policy/access"
	"github.com/portico-gw/portico/internal/policy/apikey"
	"github.com/portico-gw/portico/internal/policy/auth"
	"github.com/portico-gw/portico/internal/policy/basic"
	"github.com/portico-gw/portico/internal/policy/bodylimit"
	"github.com/portico-gw/portico/internal/policy/cors"
	"github.com/portico-gw/portico/internal/policy/filter"
	"github.com/portico-gw/portico/internal/policy/jwt"
	"github.com/portico-gw/portico/internal/policy/mtls"
	"github.com/portico-gw/portico/internal/policy/ratelimit"
	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/telemetry"
	"github.com/portico-gw/portico/internal/transform"
	"github.com/portico-gw/portico/internal/urlpath"
)

// Runtime is what outlives a config: connection pools, metrics and the
// tracker of tunnelled connections.
type Runtime struct {
	Pools   *proxy.Pools
	Metrics *telemetry.Metrics
	Tunnels *proxy.Tunnels
	// LiveKeys are the API keys managed through the admin API (nil: none).
	LiveKeys *apikey.Live
	// JWKS shares the key sets of jwt policies across configs.
	JWKS *jwt.Sources
	// RateLimits keeps rate limit state across configs.
	RateLimits *ratelimit.Tables
	// Quotas keeps plan quota counts across configs.
	Quotas *ratelimit.Quotas
	// Remote, when not nil, keeps rate limits and quotas in Redis.
	Remote *ratelimit.Remote
	// LivePlans are the plans of consumers managed through the admin API
	// (nil: none).
	LivePlans *ratelimit.LivePlans
	// Subscriptions are the portal applications' active subscriptions
	// (nil: applications are not checked).
	Subscriptions *access.Subscriptions
	// Health keeps upstream targets' health and runs their active checks
	// (nil: no state across configs, no active checks).
	Health *proxy.Health
	// Usage receives usage records made outside requests: LLM calls
	// mirrored to a candidate (nil: not recorded).
	Usage llm.UsageSink
}

// Compiled is a compiled config, ready to be activated.
type Compiled struct {
	Snapshot *gateway.Snapshot
	// Quotas are the plans' quotas, whose counts must be loaded from the
	// store before the snapshot serves (ratelimit.Quotas.Load).
	Quotas     []*ratelimit.Quota
	pools      map[*proxy.Pool]bool
	rt         Runtime
	failClosed bool
}

// Activate swaps the compiled snapshot into g and closes the connection
// pools of targets the new config no longer has.
func (c *Compiled) Activate(g *gateway.Gateway) {
	g.Swap(c.Snapshot)
	c.rt.Pools.Retain(c.pools)
	if c.rt.RateLimits != nil {
		c.rt.RateLimits.Retain()
	}
	if c.rt.Remote != nil {
		c.rt.Remote.SetFailClosed(c.failClosed)
	}
	if c.rt.Health != nil {
		c.rt.Health.Retain()
	}
}

// Compile validates cfg and compiles it. name is used in validation errors.
func Compile(name string, cfg *config.Config, rt Runtime) (*Compiled, error) {
	if err := config.Validate(name, cfg); err != nil {
		return nil, err
	}
	out := &Compiled{pools: map[*proxy.Pool]bool{}, rt: rt}

	upstreams := map[string]*proxy.Upstream{}
	for _, u := range cfg.Upstreams {
		up, err := proxy.NewUpstream(upstreamSpec(u), rt.Pools, rt.Health)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", u.Name, err)
		}
		upstreams[u.Name] = up
		for _, p := range up.Pools() {
			out.pools[p] = true
		}
	}
	for _, u := range cfg.Upstreams {
		if u.Fallback != "" {
			upstreams[u.Name].Fallback = upstreams[u.Fallback]
		}
	}

	keys := map[string][]apikey.Digest{}
	for _, c := range cfg.Consumers {
		for _, k := range c.APIKeys {
			keys[c.Name] = append(keys[c.Name], keyDigest(k))
		}
	}
	keyring := apikey.NewKeyring(keys)
	groups := map[string][]string{}
	for _, c := range cfg.Consumers {
		if len(c.Groups) > 0 {
			groups[c.Name] = c.Groups
		}
	}
	methods := map[string]auth.Method{config.AuthAPIKey: apikey.New(apikey.DefaultHeader, keyring, rt.LiveKeys, groups)}
	for _, p := range cfg.AuthPolicies {
		switch p.Type {
		case "api_key":
			m := apikey.New(p.Header, keyring, rt.LiveKeys, groups)
			if p.QueryParam != "" {
				m = m.WithQueryParam(p.QueryParam)
			}
			methods[p.Name] = m
		case "jwt":
			m, err := jwtMethod(p, rt)
			if err != nil {
				return nil, fmt.Errorf("auth policy %q: %w", p.Name, err)
			}
			methods[p.Name] = m
		case "basic":
			var users []basic.User
			for _, c := range cfg.Consumers {
				for _, b := range c.Basic {
					users = append(users, basic.User{Username: b.Username, PasswordHash: b.PasswordHash, Consumer: c.Name, Groups: c.Groups})
				}
			}
			m, err := basic.New(p.Realm, users)
			if err != nil {
				return nil, fmt.Errorf("auth policy %q: %w", p.Name, err)
			}
			if rt.RateLimits != nil {
				m.LimitGuesses(rt.RateLimits.Limiter("auth-policy|"+p.Name+"|guesses", basic.Guesses, time.Minute))
			}
			methods[p.Name] = m
		case "mtls":
			ca, err := os.ReadFile(p.CAFile)
			if err != nil {
				return nil, fmt.Errorf("auth policy %q: ca_file: %w", p.Name, err)
			}
			m, err := mtls.New(ca, p.ConsumerFrom, groups)
			if err != nil {
				return nil, fmt.Errorf("auth policy %q: %w", p.Name, err)
			}
			methods[p.Name] = m
		}
	}

	plans, err := compilePlans(cfg, rt, out)
	if err != nil {
		return nil, err
	}
	out.failClosed = cfg.RedisFailureMode == "closed"

	router := gateway.NewRouter()
	add := func(a config.API, end func(config.Route) pipeline.Handler, methods map[string]auth.Method) error {
		for _, r := range a.Routes {
			var h pipeline.Handler
			if end != nil {
				h = end(r)
			}
			route, err := compileRoute(a, r, upstreams, methods, plans, rt, h)
			if err != nil {
				return fmt.Errorf("API %q route %q: %w", a.Name, r.Name, err)
			}
			t, err := urlpath.ParseTemplate(r.Path)
			if err != nil {
				return err // validated above; kept for safety
			}
			router.Add(a.Host, t, r.Methods, route)
		}
		return nil
	}
	for _, a := range cfg.APIs {
		if a.LLM != nil {
			la, end := llmAPI(cfg, a, rt, plans.budgets, out.pools)
			if err := add(la, end, llmMethods(methods)); err != nil {
				return nil, err
			}
			continue
		}
		if err := add(a, nil, methods); err != nil {
			return nil, err
		}
		if sa, mock := sandbox(a); mock != nil {
			if err := add(sa, func(config.Route) pipeline.Handler { return mock }, methods); err != nil {
				return nil, err
			}
		}
	}

	trusted := make([]netip.Prefix, 0, len(cfg.TrustedProxies))
	for _, s := range cfg.TrustedProxies {
		p, _ := config.ParsePrefix(s) // validated above
		trusted = append(trusted, p)
	}
	out.Snapshot = &gateway.Snapshot{Router: router, TrustedProxies: trusted}
	return out, nil
}

// llmAPI is an LLM API with its routes: OpenAI's chat completions,
// embeddings, responses and models endpoints and Anthropic's messages
// endpoint, under the API's base path.
func llmAPI(cfg *config.Config, a config.API, rt Runtime, budgets map[string]*ratelimit.Quota, pools map[*proxy.Pool]bool) (config.API, func(config.Route) pipeline.Handler) {
	var events llm.Events = noLLMEvents{}
	if rt.Metrics != nil {
		events = rt.Metrics
	}
	var requests config.RateLimits
	var tokens []*ratelimit.Limit
	for i, rl := range a.RateLimit {
		if rl.Tokens == 0 {
			requests = append(requests, rl)
			continue
		}
		by := cmp.Or(rl.By, ratelimit.ByConsumer)
		if rt.RateLimits != nil {
			tokens = append(tokens, rt.RateLimits.Limit(fmt.Sprintf("%s/tokens/%d", a.Name, i), int(rl.Tokens), rl.Window.D(), by, rl.Header).Shared(rt.Remote))
		}
	}
	ep := llm.New(cfg, a, rt.Pools, events, tokens, budgets)
	for _, p := range ep.Pools() {
		pools[p] = true // kept open across reloads, as upstreams' are
	}
	if rt.Usage != nil {
		ep.RecordUsage(rt.Usage)
	}
	a.Routes = []config.Route{{Name: "models", Methods: []string{http.MethodGet}, Path: "/v1/models"}}
	handlers := map[string]pipeline.Handler{"models": ep.Models()}
	for _, op := range llm.Operations {
		a.Routes = append(a.Routes, config.Route{Name: op.Name(), Methods: []string{http.MethodPost}, Path: op.Path(), RateLimit: requests})
		handlers[op.Name()] = ep.Handler(op)
	}
	return a, func(r config.Route) pipeline.Handler { return handlers[r.Name] }
}

// noLLMEvents drops LLM metrics (a runtime without metrics, in tests).
type noLLMEvents struct{}

func (noLLMEvents) LLMCall(string, string)                                                      {}
func (noLLMEvents) LLMCache(string)                                                             {}
func (noLLMEvents) LLMAnswer(string, time.Duration, time.Duration, time.Duration, int64, int64) {}
func (noLLMEvents) LLMMirror(string, string, string, float64)                                   {}

// llmMethods lets the keys of api_key arrive as "Authorization: Bearer"
// too, as the OpenAI SDKs send them.
func llmMethods(methods map[string]auth.Method) map[string]auth.Method {
	out := make(map[string]auth.Method, len(methods))
	for k, v := range methods {
		out[k] = v
	}
	if m, ok := methods[config.AuthAPIKey].(*apikey.Method); ok {
		out[config.AuthAPIKey] = anyOf{m, m.Bearer()}
	}
	return out
}

// anyOf is one auth method made of several: the first that finds its
// credential decides.
type anyOf []auth.Method

func (a anyOf) Authenticate(r *http.Request) (pipeline.Identity, string, bool) {
	var id pipeline.Identity
	var header string
	for _, m := range a {
		var found bool
		if id, header, found = m.Authenticate(r); found {
			return id, header, true
		}
	}
	return id, header, false
}

// SandboxPrefix is where the sandboxes of the portal's APIs are served:
// /sandbox/<api>/… answers from the API's OpenAPI examples.
const SandboxPrefix = config.SandboxPrefix

// sandbox returns the sandbox of an API in the portal with an OpenAPI
// document: the same routes under /sandbox/<api>, guarded by the same
// authentication, allow-lists, limits and filters, and answered by a mock
// of the document instead of the upstream (no transform, mirror or
// retry: nothing reaches a real service). It is named "sandbox:<api>" in
// logs, metrics and usage.
func sandbox(a config.API) (config.API, *openapi.Mock) {
	p := a.Portal
	if p == nil || p.OpenAPIDocument == "" || (p.Visibility != "public" && p.Visibility != "signed_in") {
		return a, nil
	}
	mock, err := openapi.NewMock([]byte(p.OpenAPIDocument))
	if err != nil {
		return a, nil // validated: a document that does not parse has no sandbox
	}
	sa := config.API{Name: "sandbox:" + a.Name, BasePath: SandboxPrefix + a.Name, Auth: a.Auth, CORS: a.CORS,
		IPAllow: a.IPAllow, IPDeny: a.IPDeny, RequestFilters: a.RequestFilters}
	for _, r := range a.Routes {
		if r.Aggregate != nil {
			continue
		}
		sa.Routes = append(sa.Routes, config.Route{Name: r.Name, Methods: r.Methods, Path: r.Path, Auth: r.Auth,
			AllowConsumers: r.AllowConsumers, RequireGroups: r.RequireGroups, RequireScopes: r.RequireScopes,
			RateLimit: r.RateLimit, MaxBodyBytes: r.MaxBodyBytes, IPAllow: r.IPAllow, IPDeny: r.IPDeny, RequestFilters: r.RequestFilters})
	}
	return sa, mock
}

// jwtMethod builds a jwt policy's verifier and its key set.
func jwtMethod(p config.AuthPolicy, rt Runtime) (*jwt.Method, error) {
	var keys jwt.KeySet
	switch {
	case p.JWKSFile != "":
		data, err := os.ReadFile(p.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("jwks_file: %w", err)
		}
		ks, err := jwt.ParseJWKS(data)
		if err != nil {
			return nil, fmt.Errorf("jwks_file %s: %w", p.JWKSFile, err)
		}
		keys = jwt.StaticKeys(ks)
	case rt.JWKS == nil:
		return nil, fmt.Errorf("no key set fetcher in this runtime")
	case p.Discovery:
		keys = rt.JWKS.Get(p.Issuer, true)
	default:
		keys = rt.JWKS.Get(p.JWKSURL, false)
	}
	algs := p.Algorithms
	if len(algs) == 0 {
		algs = jwt.Asymmetric
	}
	leeway := p.Leeway.D()
	if leeway == 0 {
		leeway = 30 * time.Second
	}
	v, err := jwt.NewVerifierWith(jwt.Policy{
		Algorithms: algs, Issuer: p.Issuer, Audience: p.Audience, Leeway: leeway,
		RequiredClaims: p.RequiredClaims, RequiredScopes: p.RequiredScopes, ConsumerClaim: p.ConsumerClaim,
	}, keys)
	if err != nil {
		return nil, err
	}
	var fwd []jwt.Forward
	for _, f := range p.ForwardClaims {
		fwd = append(fwd, jwt.Forward{Claim: f.Claim, Header: f.Header})
	}
	return jwt.NewMethod(v, fwd...), nil
}

// keyDigest returns the digest of a key given in the clear or, as revisions
// store it, as "sha256:<hex>" (validated before).
func keyDigest(k string) apikey.Digest {
	if config.IsHashedKey(k) {
		var d apikey.Digest
		_, _ = hex.Decode(d[:], []byte(k[len(config.HashedKeyPrefix):]))
		return d
	}
	return apikey.KeyDigest(k)
}

func upstreamSpec(u config.Upstream) proxy.UpstreamSpec {
	spec := proxy.UpstreamSpec{
		Name:              u.Name,
		Timeout:           u.Timeout.D(),
		ConnectTimeout:    u.ConnectTimeout.D(),
		TunnelIdleTimeout: u.WebSocketIdleTimeout.D(),
	}
	for _, t := range u.Targets {
		w := 1
		if t.Weight != nil {
			w = *t.Weight
		}
		spec.Targets = append(spec.Targets, proxy.TargetSpec{URL: t.URL, Weight: w})
	}
	if r := u.Retries; r != nil {
		spec.Retries = r.Attempts
		spec.LinearBackoff = r.Backoff == "linear"
		spec.RetryBase = r.Base.D()
		spec.RetryBudget = r.Budget
		spec.RetryOn = r.OnStatus
		spec.PerTryTimeout = r.PerTryTimeout.D()
	}
	if cb := u.CircuitBreaker; cb != nil {
		spec.Breaker = proxy.BreakerSpec{ErrorRate: cb.ErrorRate, Window: cmp.Or(cb.Window.D(), 10*time.Second),
			MinRequests: cmp.Or(cb.MinRequests, 20), Cooldown: cmp.Or(cb.Cooldown.D(), 30*time.Second)}
	}
	spec.Balance, spec.HashOn = u.Balance, u.HashOn
	if hc := u.HealthCheck; hc != nil {
		spec.Health = proxy.HealthSpec{Path: hc.Path, Interval: hc.Interval.D(), Timeout: hc.Timeout.D(), Healthy: hc.Healthy, Unhealthy: hc.Unhealthy}
		if spec.Health.Path != "" {
			spec.Health.Interval = cmp.Or(spec.Health.Interval, 10*time.Second)
			spec.Health.Timeout = cmp.Or(spec.Health.Timeout, 2*time.Second)
			spec.Health.Healthy = cmp.Or(spec.Health.Healthy, 2)
			spec.Health.Unhealthy = cmp.Or(spec.Health.Unhealthy, 3)
		}
		if pc := hc.Passive; pc != nil {
			spec.Health.Failures = pc.Failures
			spec.Health.Ejection = cmp.Or(pc.Ejection.D(), 10*time.Second)
			spec.Health.MaxEjection = cmp.Or(pc.MaxEjection.D(), 5*time.Minute)
		}
	}
	return spec
}

// compileRoute builds one route's chain. The order is fixed and cheap
// checks come first: CORS marking (so that every answer, errors too,
// carries it), client IP rules (the API's, then the route's), request
// filters (the API's, then the route's), authentication, the consumer
// allow-list, required groups and scopes, rate limits and quotas, the body
// limit, the transform, mirroring, then the proxy (or a split between
// upstreams).
func compileRoute(a config.API, r config.Route, upstreams map[string]*proxy.Upstream, methods map[string]auth.Method, plans compiledPlans, rt Runtime, end pipeline.Handler) (*gateway.Route, error) {
	synthetic := end // a sandbox's or the LLM endpoint's end: no upstream
	if end == nil {
		var err error
		if end, err = routeEnd(a, r, upstreams, rt); err != nil {
			return nil, err
		}
	}

	var mws []pipeline.Middleware
	var corsPolicy *cors.Policy
	if c := a.CORS; c != nil {
		corsPolicy = cors.New(cors.Spec{Origins: c.Origins, Methods: c.Methods, Headers: c.Headers,
			ExposeHeaders: c.ExposeHeaders, Credentials: c.Credentials, MaxAge: c.MaxAge.D()})
		mws = append(mws, corsPolicy.Middleware())
	}
	if len(a.IPAllow) > 0 || len(a.IPDeny) > 0 {
		mws = append(mws, access.IPs(prefixes(a.IPAllow), prefixes(a.IPDeny)))
	}
	if len(r.IPAllow) > 0 || len(r.IPDeny) > 0 {
		mws = append(mws, access.IPs(prefixes(r.IPAllow), prefixes(r.IPDeny)))
	}
	if len(a.RequestFilters)+len(r.RequestFilters) > 0 {
		var rules []*filter.Rule
		for i, f := range append(slices.Clip(a.RequestFilters), r.RequestFilters...) {
			name := f.Name
			if name == "" {
				name = fmt.Sprintf("%s/%s#%d", a.Name, r.Name, i)
			}
			spec := filter.Spec{Name: name, LogOnly: f.LogOnly, BlockMethods: f.BlockMethods, BlockPath: f.BlockPath, BlockQuery: f.BlockQuery}
			if h := f.BlockHeader; h != nil {
				spec.Header, spec.HeaderPattern = h.Name, h.Pattern
			}
			rule, err := filter.Compile(spec)
			if err != nil {
				return nil, fmt.Errorf("request filter %s: %w", name, err)
			}
			rules = append(rules, rule)
		}
		var counter filter.Counter
		if rt.Metrics != nil {
			counter = rt.Metrics
		}
		mws = append(mws, filter.New(rules, counter))
	}
	authList := r.Auth
	if authList == nil {
		authList = a.Auth
	}
	anonymous := len(authList) == 1 && authList[0] == config.AuthNone
	var ms []auth.Method
	if !anonymous {
		for _, name := range authList {
			m := methods[name]
			if m == nil {
				return nil, fmt.Errorf("no auth policy %q", name)
			}
			ms = append(ms, m)
		}
	}
	mws = append(mws, auth.New(ms, anonymous))
	if len(r.AllowConsumers) > 0 {
		mws = append(mws, access.Consumers(r.AllowConsumers))
	}
	if len(r.RequireGroups) > 0 {
		mws = append(mws, access.RequireGroups(r.RequireGroups))
	}
	// An application of the portal calls a portal API only once
	// subscribed (its sandbox is open to every application), and no
	// API outside the portal at all.
	switch {
	case synthetic != nil || anonymous:
	case a.Portal == nil:
		mws = append(mws, access.NoApps())
	case rt.Subscriptions != nil:
		mws = append(mws, access.Subscribed(a.Name, rt.Subscriptions))
	}
	if len(r.RequireScopes) > 0 {
		mws = append(mws, access.RequireScopes(r.RequireScopes))
	}
	// Authenticated routes check the caller's plan when the config has
	// plans, or when consumers of the admin API may name one.
	withPlans := !anonymous && (len(plans.byName) > 0 || rt.LivePlans != nil)
	if len(r.RateLimit) > 0 || withPlans {
		p := ratelimit.Policy{Remote: rt.Remote}
		if withPlans {
			p.Plans, p.ByName, p.Live = plans.byConsumer, plans.byName, rt.LivePlans
		}
		for i, rl := range r.RateLimit {
			by := rl.By
			if by == "" {
				by = ratelimit.ByConsumer
				if anonymous {
					by = ratelimit.ByIP
				}
			}
			p.Limits = append(p.Limits, rt.RateLimits.Limit(fmt.Sprintf("%s/%s/%d", a.Name, r.Name, i), rl.Limit, rl.Window.D(), by, rl.Header))
		}
		mws = append(mws, ratelimit.New(p))
	}
	if r.MaxBodyBytes > 0 {
		mws = append(mws, bodylimit.New(r.MaxBodyBytes))
	}
	if t := r.Transform; t != nil {
		tr, err := compileTransform(a, r, t)
		if err != nil {
			return nil, fmt.Errorf("transform: %w", err)
		}
		mws = append(mws, tr.Middleware())
	}
	if m := r.Mirror; m != nil {
		shadow := upstreams[m.Upstream]
		if shadow == nil {
			return nil, fmt.Errorf("no upstream %q", m.Upstream)
		}
		mws = append(mws, proxy.NewMirror(shadow, m.Percent, rt.Pools, rt.Metrics).Middleware())
	}
	strip := a.StripBasePath == nil || *a.StripBasePath
	base := a.BasePath
	if base == "/" {
		base = ""
	}
	return &gateway.Route{
		API:           a.Name,
		Name:          r.Name,
		BasePath:      base,
		StripBasePath: strip,
		Handler:       pipeline.Chain(end, mws...),
		Metrics:       rt.Metrics.Route(a.Name, r.Name),
		CORS:          corsPolicy,
	}, nil
}

// routeEnd is the end of a route's chain: the proxy to its upstream, or a
// split between several.
func routeEnd(a config.API, r config.Route, upstreams map[string]*proxy.Upstream, rt Runtime) (pipeline.Handler, error) {
	if ag := r.Aggregate; ag != nil {
		route, err := urlpath.ParseTemplate(r.Path)
		if err != nil {
			return nil, err
		}
		params := transform.Params(route)
		calls := make([]proxy.Call, 0, len(ag.Calls))
		for _, c := range ag.Calls {
			up := upstreams[c.Upstream]
			if up == nil {
				return nil, fmt.Errorf("no upstream %q", c.Upstream)
			}
			path, err := transform.ParseTemplate(c.Path, params)
			if err != nil {
				return nil, err
			}
			calls = append(calls, proxy.Call{Name: c.Name, Upstream: up, Path: path})
		}
		base := a.BasePath
		if base == "/" {
			base = ""
		}
		return proxy.NewAggregate(calls, ag.Timeout.D(), ag.OnError == "fail", route, base, rt.Pools), nil
	}
	handler := func(name string) (*proxy.Handler, error) {
		up := upstreams[name]
		if up == nil {
			return nil, fmt.Errorf("no upstream %q", name)
		}
		h := proxy.NewHandler(up, r.Timeout.D(), rt.Metrics, rt.Tunnels)
		if len(r.RetryMethods) > 0 {
			h = h.WithRetryMethods(r.RetryMethods)
		}
		return h, nil
	}
	if len(r.Upstreams) == 0 {
		return handler(cmp.Or(r.Upstream, a.Upstream))
	}
	sides := make([]proxy.Side, 0, len(r.Upstreams))
	for _, u := range r.Upstreams {
		h, err := handler(u.Name)
		if err != nil {
			return nil, err
		}
		side := proxy.Side{Handler: h, Weight: u.Weight}
		if m := u.Match; m != nil {
			side.Headers, side.Consumers = m.Headers, m.Consumers
		}
		sides = append(sides, side)
	}
	return proxy.NewSplit(sides, r.Sticky == "consumer"), nil
}

// compileTransform compiles a route's transform (validated before).
func compileTransform(a config.API, r config.Route, t *config.Transform) (*transform.Transform, error) {
	route, err := urlpath.ParseTemplate(r.Path)
	if err != nil {
		return nil, err
	}
	params := transform.Params(route)
	tmpl := func(s string) (*transform.Template, error) { return transform.ParseTemplate(s, params) }
	headers := func(h *config.HeaderTransform, canonical bool) (transform.HeaderOps, error) {
		var ops transform.HeaderOps
		if h == nil {
			return ops, nil
		}
		name := func(s string) string {
			if canonical {
				return http.CanonicalHeaderKey(s)
			}
			return s
		}
		for _, n := range h.Remove {
			ops.Remove = append(ops.Remove, name(n))
		}
		for _, from := range config.SortedKeys(h.Rename) {
			ops.Rename = append(ops.Rename, [2]string{name(from), name(h.Rename[from])})
		}
		for _, m := range []struct {
			vals map[string]string
			dst  *[]transform.NamedTemplate
		}{{h.Set, &ops.Set}, {h.Add, &ops.Add}} {
			for _, k := range config.SortedKeys(m.vals) {
				v, err := tmpl(m.vals[k])
				if err != nil {
					return ops, err
				}
				*m.dst = append(*m.dst, transform.NamedTemplate{Name: name(k), Value: v})
			}
		}
		return ops, nil
	}
	body := func(b *config.BodyTransform) (*transform.BodyMapping, error) {
		if b == nil {
			return nil, nil
		}
		m := &transform.BodyMapping{}
		for _, from := range config.SortedKeys(b.Rename) {
			f, err := transform.ParsePath(from)
			if err != nil {
				return nil, err
			}
			to, err := transform.ParsePath(b.Rename[from])
			if err != nil {
				return nil, err
			}
			m.Rename = append(m.Rename, [2]transform.Path{f, to})
		}
		for _, s := range b.Remove {
			p, err := transform.ParsePath(s)
			if err != nil {
				return nil, err
			}
			m.Remove = append(m.Remove, p)
		}
		for _, kv := range []struct {
			vals map[string]string
			dst  *[]transform.PathValue
		}{{b.Set, &m.Set}, {b.Defaults, &m.Defaults}} {
			for _, k := range config.SortedKeys(kv.vals) {
				p, err := transform.ParsePath(k)
				if err != nil {
					return nil, err
				}
				v, err := tmpl(kv.vals[k])
				if err != nil {
					return nil, err
				}
				*kv.dst = append(*kv.dst, transform.PathValue{Path: p, Value: v})
			}
		}
		return m, nil
	}
	var req *transform.Request
	if q := t.Request; q != nil {
		req = &transform.Request{}
		if req.Headers, err = headers(q.Headers, true); err != nil {
			return nil, err
		}
		if req.Query, err = headers(q.Query, false); err != nil {
			return nil, err
		}
		if q.Path != "" {
			if req.Path, err = tmpl(q.Path); err != nil {
				return nil, err
			}
		}
		if req.Body, err = body(q.Body); err != nil {
			return nil, err
		}
	}
	var resp *transform.Response
	if s := t.Response; s != nil {
		resp = &transform.Response{Status: map[int]int{}}
		if resp.Headers, err = headers(s.Headers, true); err != nil {
			return nil, err
		}
		if resp.Body, err = body(s.Body); err != nil {
			return nil, err
		}
		for from, to := range s.Status {
			n, _ := strconv.Atoi(from) // validated
			resp.Status[n] = to
		}
		for _, name := range s.Modifiers {
			m, ok := transform.LookupModifier(name)
			if !ok {
				return nil, fmt.Errorf("no response modifier %q", name)
			}
			resp.Modifiers = append(resp.Modifiers, m)
		}
	}
	base := a.BasePath
	if base == "/" {
		base = ""
	}
	tr := transform.New(req, resp, t.MaxBodyBytes, route, base)
	if t.Convert != "" {
		tr = tr.WithConversion(t.Convert, t.XMLRoot)
	}
	return tr, nil
}

// compiledPlans are a config's plans, by name and by the config's
// consumers.
type compiledPlans struct {
	byName, byConsumer map[string]*ratelimit.Plan
	// budgets are the plans' LLM budgets, by plan name.
	budgets map[string]*ratelimit.Quota
}

// compilePlans compiles the plans.
func compilePlans(cfg *config.Config, rt Runtime, out *Compiled) (compiledPlans, error) {
	var cp compiledPlans
	if len(cfg.Plans) == 0 {
		return cp, nil
	}
	if rt.RateLimits == nil || rt.Quotas == nil {
		return cp, fmt.Errorf("no rate limit or quota state in this runtime")
	}
	loc := time.UTC
	if cfg.QuotaTimeZone != "" {
		l, err := time.LoadLocation(cfg.QuotaTimeZone)
		if err != nil {
			return cp, fmt.Errorf("quota_time_zone: %w", err)
		}
		loc = l
	}
	byName := map[string]*ratelimit.Plan{}
	for _, p := range cfg.Plans {
		plan := &ratelimit.Plan{Name: p.Name}
		for i, rl := range p.RateLimits {
			plan.Limits = append(plan.Limits, rt.RateLimits.Limit(fmt.Sprintf("plan:%s/%d", p.Name, i), rl.Limit, rl.Window.D(), ratelimit.ByConsumer, ""))
		}
		// A quota whose overage is billed refuses nothing: the requests
		// past it are priced by the plan's tiers instead.
		if q := p.Quota; q != nil && (p.Pricing == nil || p.Pricing.Overage != "bill") {
			plan.Quota = rt.Quotas.Quota(q.Limit, q.Period, loc)
			out.Quotas = append(out.Quotas, plan.Quota)
		}
		byName[p.Name] = plan
		if b := p.LLMBudget; b != nil {
			if cp.budgets == nil {
				cp.budgets = map[string]*ratelimit.Quota{}
			}
			q := rt.Quotas.Budget("llmbudget:"+p.Name, llm.Pico(b.Amount), b.Period, loc).Shared(rt.Remote)
			cp.budgets[p.Name] = q
			out.Quotas = append(out.Quotas, q)
		}
	}
	byConsumer := map[string]*ratelimit.Plan{}
	for _, c := range cfg.Consumers {
		if c.Plan != "" {
			byConsumer[c.Name] = byName[c.Plan]
		}
	}
	return compiledPlans{byName: byName, byConsumer: byConsumer, budgets: cp.budgets}, nil
}

func prefixes(list []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, _ := config.ParsePrefix(s) // validated
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Bits() > out[j].Bits() })
	return out
}
