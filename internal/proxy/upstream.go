package proxy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/clock"
	"github.com/portico-gw/portico/internal/pipeline"
)

// Defaults for an upstream's settings.
const (
	DefaultTimeout        = 30 * time.Second
	DefaultConnectTimeout = 5 * time.Second
	// DefaultTunnelIdleTimeout closes a WebSocket tunnel in which nothing
	// moved for this long (Envoy's stream idle timeout; more than the 60 s
	// and 100 s of common load balancers, which WebSocket apps ping within).
	DefaultTunnelIdleTimeout = 5 * time.Minute
	DefaultRetryBase         = 50 * time.Millisecond
)

// UpstreamSpec is what NewUpstream needs to know of an upstream.
type UpstreamSpec struct {
	Name           string
	Targets        []TargetSpec
	Timeout        time.Duration // 0: DefaultTimeout
	ConnectTimeout time.Duration // 0: DefaultConnectTimeout
	// TunnelIdleTimeout closes a quiet WebSocket tunnel; 0:
	// DefaultTunnelIdleTimeout.
	TunnelIdleTimeout time.Duration
	// Retries is the number of retries after the first try.
	Retries int
	// LinearBackoff selects linear instead of exponential backoff.
	LinearBackoff bool
	RetryBase     time.Duration // 0: DefaultRetryBase
	// Balance is round_robin (""), least_requests or hash.
	Balance string
	// HashOn is what hash balancing hashes: consumer, ip or
	// header:<Name>.
	HashOn string
	// Health says how targets are checked.
	Health HealthSpec
	// Breaker configures the circuit breaker (ErrorRate 0: none).
	Breaker BreakerSpec
	// RetryBudget caps retries at this share of requests (0: no cap).
	RetryBudget float64
	// RetryOn are response statuses that are retried like failures.
	RetryOn []int
	// PerTryTimeout bounds each try's wait for the response head (0: the
	// route's or upstream's timeout).
	PerTryTimeout time.Duration
}

// Balancing algorithms.
const (
	RoundRobin    = "round_robin"
	LeastRequests = "least_requests"
	Hash          = "hash"
)

// TargetSpec is one target: its URL and weight.
type TargetSpec struct {
	URL    string
	Weight int
}

// Upstream is a compiled upstream: its targets and a precomputed smooth
// weighted round-robin schedule, picked from with one atomic add.
type Upstream struct {
	Name     string
	targets  []*Target
	schedule []uint16
	next     atomic.Uint64
	balance  string
	hashOn   string // consumer, ip, or a canonical header name
	// checked says targets may be out of rotation (health checks on).
	checked bool
	// Fallback is used only when no target of this upstream is available.
	Fallback       *Upstream
	breaker        *breaker
	budget         *budget
	retryOn        []int
	perTry         time.Duration
	timeout        time.Duration
	connectTimeout time.Duration
	tunnelIdle     time.Duration
	retries        int
	linear         bool
	retryBase      time.Duration
}

// Target is one upstream server.
type Target struct {
	pool *Pool
	// host is the Host header sent upstream: the target URL's host.
	host string
	// basePath is the target URL's path, put in front of forwarded paths.
	basePath string
	// https is the scheme, for logs.
	https bool
	// url is the target as configured; weight its share.
	url    string
	weight int
	state  *targetHealth
}

// NewUpstream compiles an upstream, taking its pools from pools and its
// targets' health state from health (nil: no state kept across configs
// and no active checks).
func NewUpstream(spec UpstreamSpec, pools *Pools, health *Health) (*Upstream, error) {
	u := &Upstream{
		Name:           spec.Name,
		balance:        spec.Balance,
		checked:        spec.Health.Path != "" || spec.Health.Failures > 0,
		timeout:        orDefault(spec.Timeout, DefaultTimeout),
		connectTimeout: orDefault(spec.ConnectTimeout, DefaultConnectTimeout),
		tunnelIdle:     orDefault(spec.TunnelIdleTimeout, DefaultTunnelIdleTimeout),
		retries:        spec.Retries,
		linear:         spec.LinearBackoff,
		retryBase:      orDefault(spec.RetryBase, DefaultRetryBase),
		retryOn:        spec.RetryOn,
		perTry:         spec.PerTryTimeout,
	}
	var weights []int
	for _, ts := range spec.Targets {
		if ts.Weight == 0 {
			continue
		}
		t, err := newTarget(ts.URL, pools)
		if err != nil {
			return nil, err
		}
		t.url, t.weight = ts.URL, ts.Weight
		t.state = health.state(spec.Name, ts.URL, spec.Health, t)
		u.targets = append(u.targets, t)
		weights = append(weights, ts.Weight)
	}
	u.schedule = smoothSchedule(weights)
	var events BreakerEvents
	if health != nil {
		events, _ = health.Events.(BreakerEvents)
	}
	u.breaker, u.budget = health.upstream(spec.Name, spec.Breaker, spec.RetryBudget, events)
	switch {
	case spec.HashOn == "consumer" || spec.HashOn == "ip":
		u.hashOn = spec.HashOn
	case strings.HasPrefix(spec.HashOn, "header:"):
		u.hashOn = http.CanonicalHeaderKey(strings.TrimPrefix(spec.HashOn, "header:"))
	}
	return u, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func newTarget(raw string, pools *Pools) (*Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", raw, err)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	return &Target{
		pool:     pools.Get(addr, u.Hostname(), u.Scheme == "https"),
		host:     u.Host,
		basePath: strings.TrimSuffix(u.EscapedPath(), "/"),
		https:    u.Scheme == "https",
	}, nil
}

// Pools lists the pools the upstream uses, so that a reload can close the
// pools no upstream uses any more.
func (u *Upstream) Pools() []*Pool {
	ps := make([]*Pool, len(u.targets))
	for i, t := range u.targets {
		ps[i] = t.pool
	}
	return ps
}

// pick returns the target for a request: one that is available (not
// marked down by active checks, not ejected), other than avoid (the target
// that just failed) when there is another. With none available it picks
// from the fallback upstream, and returns nil when that has none either.
func (u *Upstream) pick(r *http.Request, x *pipeline.Exchange, avoid *Target) *Target {
	if len(u.schedule) == 0 {
		return u.fallback(r, x)
	}
	if len(u.targets) == 1 && !u.checked {
		return u.targets[0]
	}
	var now int64
	if u.checked {
		now = clock.Now()
	}
	var t *Target
	switch u.balance {
	case LeastRequests:
		t = u.leastRequests(now, avoid)
	case Hash:
		t = u.rendezvous(u.hashKey(r, x), now, avoid)
	default:
		t = u.roundRobin(now, avoid)
	}
	if t == nil {
		return u.fallback(r, x)
	}
	return t
}

func (u *Upstream) fallback(r *http.Request, x *pipeline.Exchange) *Target {
	if u.Fallback == nil {
		return nil
	}
	return u.Fallback.pick(r, x, nil)
}

// usable reports whether t may serve now.
func (u *Upstream) usable(t *Target, now int64) bool {
	return !u.checked || t.state.available(now)
}

// roundRobin walks the smooth weighted schedule from the next position to
// the first usable target that is not avoid; avoid itself only when it is
// the only usable one.
func (u *Upstream) roundRobin(now int64, avoid *Target) *Target {
	n := u.next.Add(1)
	size := uint64(len(u.schedule))
	var fallback *Target
	for i := range size {
		t := u.targets[u.schedule[(n+i)%size]]
		if !u.usable(t, now) {
			continue
		}
		if t != avoid {
			return t
		}
		fallback = t
		if !u.checked && len(u.targets) == 1 {
			break
		}
	}
	return fallback
}

// leastRequests picks the less loaded (requests in flight per weight) of
// two random usable targets — the power of two choices: nearly as good as
// the least loaded of all, without scanning them or herding onto one.
func (u *Upstream) leastRequests(now int64, avoid *Target) *Target {
	var best *Target
	n := len(u.targets)
	i := rand.N(n)                         //nolint:gosec // balancing needs no cryptographic randomness
	j := (i + 1 + rand.N(max(n-1, 1))) % n //nolint:gosec // two distinct targets
	for _, t := range []*Target{u.targets[i], u.targets[j]} {
		if !u.usable(t, now) || t == avoid && n > 1 {
			continue
		}
		if best == nil || t.state.inflight.Load()*int64(best.weight) < best.state.inflight.Load()*int64(t.weight) {
			best = t
		}
	}
	if best != nil {
		return best
	}
	// Both draws were out of rotation: take the least loaded usable one.
	for _, t := range u.targets {
		if u.usable(t, now) && t != avoid && (best == nil || t.state.inflight.Load()*int64(best.weight) < best.state.inflight.Load()*int64(t.weight)) {
			best = t
		}
	}
	if best == nil && avoid != nil && u.usable(avoid, now) {
		best = avoid
	}
	return best
}

// hashKey is what a request is hashed on.
func (u *Upstream) hashKey(r *http.Request, x *pipeline.Exchange) string {
	switch u.hashOn {
	case "consumer":
		return x.Consumer
	case "ip":
		return x.ClientIP.String()
	default:
		if vs := r.Header[u.hashOn]; len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
}

// rendezvous picks by weighted rendezvous hashing: every usable target
// scores -weight/ln(h(key, target)) and the highest wins. The same key
// goes to the same target on every node, and when a target leaves only
// its own keys move.
func (u *Upstream) rendezvous(key string, now int64, avoid *Target) *Target {
	var best *Target
	var bestScore float64
	for _, t := range u.targets {
		if !u.usable(t, now) || t == avoid {
			continue
		}
		h := fnv64(key, t.url)
		unit := (float64(h>>11) + 0.5) / (1 << 53) // in (0, 1)
		score := -float64(t.weight) / math.Log(unit)
		if best == nil || score > bestScore {
			best, bestScore = t, score
		}
	}
	if best == nil && avoid != nil && u.usable(avoid, now) {
		best = avoid
	}
	return best
}

// fnv64 is FNV-1a over a, a zero byte and b: stable across processes, so
// every node maps a key to the same target.
func fnv64(a, b string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(a); i++ {
		h = (h ^ uint64(a[i])) * 1099511628211
	}
	h *= 1099511628211
	for i := 0; i < len(b); i++ {
		h = (h ^ uint64(b[i])) * 1099511628211
	}
	// FNV's low bits mix poorly; finish with a 64-bit mixer.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// backoff is the wait before retry number n (1-based), with full jitter
// over its upper half so that clients retrying together spread out.
func (u *Upstream) backoff(n int) time.Duration {
	d := u.retryBase * time.Duration(n)
	if !u.linear {
		d = u.retryBase << (n - 1)
	}
	half := d / 2
	return half + rand.N(half+1) //nolint:gosec // jitter needs no cryptographic randomness
}

// smoothSchedule precomputes one cycle of nginx's smooth weighted
// round-robin: with weights 5,1,1 it yields a a b a c a a, never a run of
// five. The weights are divided by their greatest common divisor first.
func smoothSchedule(weights []int) []uint16 {
	if len(weights) == 0 {
		return nil
	}
	g := weights[0]
	for _, w := range weights[1:] {
		g = gcd(g, w)
	}
	total := 0
	for i := range weights {
		weights[i] /= g
		total += weights[i]
	}
	current := make([]int, len(weights))
	schedule := make([]uint16, 0, total)
	for range total {
		best := 0
		for i, w := range weights {
			current[i] += w
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= total
		schedule = append(schedule, uint16(best))
	}
	return schedule
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
