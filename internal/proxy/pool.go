// Package proxy forwards requests to upstreams: pools of keep-alive
// connections per target, target selection, and an HTTP/1.1 client that
// streams request and response bodies and tunnels WebSocket upgrades.
//
// It does not use net/http's Transport: a Transport runs two goroutines per
// connection and hands every request between them over channels, which
// costs about a third of a gateway's throughput on a small machine (see
// docs/adr/0001-http-engine.md). Here the handler's own goroutine writes the
// request and reads the response on a connection it owns for the duration.
package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portico-gw/portico/internal/deadline"
	"github.com/portico-gw/portico/internal/egress"
)

// MaxIdlePerTarget bounds the idle connections kept per target.
const MaxIdlePerTarget = 512

// IdleConnTimeout is how long an idle connection is kept. It is shorter than
// the keep-alive timeout of common servers so that Portico, not the
// upstream, usually closes idle connections.
const IdleConnTimeout = 50 * time.Second

// sweepEvery is how often the idle connections of pools no request
// returns a connection to are looked at, and those that waited
// IdleConnTimeout closed.
const sweepEvery = 10 * time.Second

// Pools owns the connection pools of all targets. Pools outlive configs: a
// reload that keeps a target keeps its warm connections.
type Pools struct {
	// RootCAs verifies HTTPS targets; nil means the system's roots. Set it
	// before the first config is compiled.
	RootCAs *x509.CertPool

	mu    sync.Mutex
	pools map[string]*Pool
	// sweeper closes expired idle connections; nil once closed.
	sweeper *time.Timer
	// egress, when set, is checked on every upstream dial, after name
	// resolution, so no DNS trick reaches a denied address.
	egress atomic.Pointer[egress.Policy]
}

// SetEgress makes p the policy for every dial from now on (nil: none).
func (ps *Pools) SetEgress(p *egress.Policy) { ps.egress.Store(p) }

// Control applies the egress policy to a dial (a net.Dialer.Control
// function), for other clients that must obey it, such as key set fetches.
func (ps *Pools) Control(network, address string, c syscall.RawConn) error {
	return ps.control(network, address, c)
}

func (ps *Pools) control(network, address string, c syscall.RawConn) error {
	if p := ps.egress.Load(); p != nil {
		return p.Control(network, address, c)
	}
	return nil
}

// NewPools returns an empty set of pools. Close stops its sweeper.
func NewPools() *Pools { return newPools(sweepEvery) }

func newPools(every time.Duration) *Pools {
	ps := &Pools{pools: map[string]*Pool{}}
	ps.sweeper = time.AfterFunc(every, func() { ps.sweep(every) })
	return ps
}

// sweep closes, in every pool, the idle connections that waited
// IdleConnTimeout: a pool without traffic holds nothing open for long
// (one with traffic does this as connections come back).
func (ps *Pools) sweep(every time.Duration) {
	ps.mu.Lock()
	pools := make([]*Pool, 0, len(ps.pools))
	for _, p := range ps.pools {
		pools = append(pools, p)
	}
	ps.mu.Unlock()
	now := time.Now()
	for _, p := range pools {
		p.closeExpired(now)
	}
	ps.mu.Lock()
	if ps.sweeper != nil {
		ps.sweeper.Reset(every)
	}
	ps.mu.Unlock()
}

// Get returns the pool for a dial address, creating it on first use.
// serverName is the TLS server name, "" for plain HTTP.
func (ps *Pools) Get(addr, serverName string, tlsOn bool) *Pool {
	key := addr
	if tlsOn {
		key = "tls:" + serverName + "@" + addr
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.pools[key]
	if p == nil {
		p = &Pool{addr: addr, owner: ps}
		if tlsOn {
			p.tls = &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12, RootCAs: ps.RootCAs}
		}
		ps.pools[key] = p
	}
	return p
}

// Retain closes the pools that are not in keep, after a new config no
// longer uses them. Requests still using their connections finish normally.
func (ps *Pools) Retain(keep map[*Pool]bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for k, p := range ps.pools {
		if !keep[p] {
			p.close()
			delete(ps.pools, k)
		}
	}
}

// Close closes every pool's idle connections and stops the sweeper.
func (ps *Pools) Close() {
	ps.mu.Lock()
	if ps.sweeper != nil {
		ps.sweeper.Stop()
		ps.sweeper = nil
	}
	ps.mu.Unlock()
	ps.Retain(nil)
}

// Pool is the idle connections to one target address, kept as a stack:
// a request takes the connection used last, as nginx's keep-alive cache
// does. The few connections a moderate load needs stay warm and fresh —
// the one taken is the least likely to have been closed by the upstream
// meanwhile — while the rest, left at the bottom after a burst, age out
// and are closed.
type Pool struct {
	owner *Pools
	addr  string
	tls   *tls.Config

	mu sync.Mutex
	// idle is oldest first: get takes from the end and put appends there;
	// the first ones are closed once they have waited IdleConnTimeout (by
	// put, or by the pools' sweeper) and when the pool is full.
	idle   []*conn
	closed bool
}

type conn struct {
	pool     *Pool
	nc       net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
	// scratch holds the current response's header lines while parsing.
	scratch []byte
	// body reads the current response's body.
	body bodyReader
	// abort unblocks any read or write on the connection; it is bound once
	// so that registering it with context.AfterFunc allocates no closure.
	abort func()
	// peeker looks at the socket without reading (alive, readable).
	peeker *peeker
	// dl is the deadline of reads and writes, re-armed for an exchange
	// only when the one in place no longer fits (see package deadline).
	dl deadline.Keeper
}

// within bounds c's next reads and writes to d from now (0: no bound),
// coarsely: a busy connection finds the deadline set for an earlier
// exchange still fits, and leaves it.
func (c *conn) within(d time.Duration) {
	if t, set := c.dl.Next(time.Now(), d); set {
		_ = c.nc.SetDeadline(t)
	}
}

// interrupt unblocks a read or write on c from another goroutine, by a
// deadline in the past that c.dl does not hear of: an interrupted
// connection is closed, never used again (release, and every failure
// path, close it).
func (c *conn) interrupt() { _ = c.nc.SetDeadline(aLongTimeAgo) }

// get returns an idle connection, or dials a new one. reused reports
// whether the connection served a request before, in which case the
// upstream may have closed it meanwhile.
func (p *Pool) get(ctx context.Context, now time.Time, connectTimeout time.Duration) (c *conn, reused bool, err error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if now.Sub(c.lastUsed) < IdleConnTimeout {
			p.mu.Unlock()
			return c, true, nil
		}
		// The newest idle connection has expired, so every other has.
		expired := append([]*conn{c}, p.idle...)
		clear(p.idle)
		p.idle = p.idle[:0]
		p.mu.Unlock()
		for _, c := range expired {
			c.close()
		}
	} else {
		p.mu.Unlock()
	}
	c, err = p.dial(ctx, connectTimeout)
	return c, false, err
}

var bufReaders, bufWriters sync.Pool

func (p *Pool) dial(ctx context.Context, timeout time.Duration) (*conn, error) {
	d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.owner.control}
	nc, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	if p.tls != nil {
		tc := tls.Client(nc, p.tls)
		hctx, cancel := context.WithTimeout(ctx, timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = nc.Close()
			return nil, err
		}
		nc = tc
	}
	c := &conn{pool: p, nc: nc}
	c.abort = c.interrupt
	if br, ok := bufReaders.Get().(*bufio.Reader); ok {
		br.Reset(nc)
		c.br = br
	} else {
		c.br = bufio.NewReaderSize(nc, 4096)
	}
	if bw, ok := bufWriters.Get().(*bufio.Writer); ok {
		bw.Reset(nc)
		c.bw = bw
	} else {
		c.bw = bufio.NewWriterSize(nc, 4096)
	}
	return c, nil
}

// interruptOnCancel makes ctx's cancellation interrupt c until stop is
// called, as context.AfterFunc(ctx, c.abort) does. A context with an
// AfterFunc method of its own — internal/server's request contexts, the
// one a proxied request carries — is asked directly: context.AfterFunc
// would first make its Done channel and a child context around it.
func interruptOnCancel(ctx context.Context, c *conn) (stop func() bool) {
	if a, ok := ctx.(interface{ AfterFunc(func()) func() bool }); ok {
		return a.AfterFunc(c.abort)
	}
	return context.AfterFunc(ctx, c.abort)
}

// put returns a connection whose last response was read to its end, and
// closes the oldest idle one if it has waited IdleConnTimeout, or if the
// pool holds MaxIdlePerTarget: a pool that grew in a burst shrinks back,
// one connection a request, to what the traffic uses, and a full one keeps
// its freshest connections.
func (p *Pool) put(c *conn, now time.Time) {
	if c.br.Buffered() > 0 {
		c.close() // bytes after the response mean the upstream broke framing
		return
	}
	c.lastUsed = now
	var drop *conn
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.close()
		return
	}
	p.idle = append(p.idle, c)
	if first := p.idle[0]; len(p.idle) > MaxIdlePerTarget || now.Sub(first.lastUsed) >= IdleConnTimeout {
		drop = first
		n := copy(p.idle, p.idle[1:])
		p.idle[n] = nil
		p.idle = p.idle[:n]
	}
	p.mu.Unlock()
	if drop != nil {
		drop.close()
	}
}

// closeExpired closes the idle connections that waited IdleConnTimeout.
func (p *Pool) closeExpired(now time.Time) {
	p.mu.Lock()
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].lastUsed) >= IdleConnTimeout {
		n++
	}
	if n == 0 {
		p.mu.Unlock()
		return
	}
	expired := slices.Clone(p.idle[:n])
	k := copy(p.idle, p.idle[n:])
	clear(p.idle[k:])
	p.idle = p.idle[:k]
	p.mu.Unlock()
	for _, c := range expired {
		c.close()
	}
}

func (p *Pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

func (c *conn) close() {
	_ = c.nc.Close()
	if c.br != nil {
		c.br.Reset(nil)
		bufReaders.Put(c.br)
		c.br = nil
	}
	if c.bw != nil {
		c.bw.Reset(nil)
		bufWriters.Put(c.bw)
		c.bw = nil
	}
}
