package proxy

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults for an upstream's settings.
const (
	DefaultTimeout        = 30 * time.Second
	DefaultConnectTimeout = 5 * time.Second
	DefaultRetryBase      = 50 * time.Millisecond
)

// UpstreamSpec is what NewUpstream needs to know of an upstream.
type UpstreamSpec struct {
	Name           string
	Targets        []TargetSpec
	Timeout        time.Duration // 0: DefaultTimeout
	ConnectTimeout time.Duration // 0: DefaultConnectTimeout
	// Retries is the number of retries after the first try.
	Retries int
	// LinearBackoff selects linear instead of exponential backoff.
	LinearBackoff bool
	RetryBase     time.Duration // 0: DefaultRetryBase
}

// TargetSpec is one target: its URL and weight.
type TargetSpec struct {
	URL    string
	Weight int
}

// Upstream is a compiled upstream: its targets and a precomputed smooth
// weighted round-robin schedule, picked from with one atomic add.
type Upstream struct {
	Name           string
	targets        []*Target
	schedule       []uint16
	next           atomic.Uint64
	timeout        time.Duration
	connectTimeout time.Duration
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
}

// NewUpstream compiles an upstream, taking its pools from pools.
func NewUpstream(spec UpstreamSpec, pools *Pools) (*Upstream, error) {
	u := &Upstream{
		Name:           spec.Name,
		timeout:        orDefault(spec.Timeout, DefaultTimeout),
		connectTimeout: orDefault(spec.ConnectTimeout, DefaultConnectTimeout),
		retries:        spec.Retries,
		linear:         spec.LinearBackoff,
		retryBase:      orDefault(spec.RetryBase, DefaultRetryBase),
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
		u.targets = append(u.targets, t)
		weights = append(weights, ts.Weight)
	}
	u.schedule = smoothSchedule(weights)
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

// pick returns the next target in the schedule, or nil when the upstream
// has no target in rotation.
func (u *Upstream) pick() *Target {
	if len(u.schedule) == 0 {
		return nil
	}
	if len(u.schedule) == 1 {
		return u.targets[0]
	}
	n := u.next.Add(1)
	return u.targets[u.schedule[n%uint64(len(u.schedule))]]
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
