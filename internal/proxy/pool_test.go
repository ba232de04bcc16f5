package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// acceptor is an upstream that only accepts connections and keeps them,
// so a test can tell which of the pool's connections were closed.
type acceptor struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[string]net.Conn // by the client's address
}

func newAcceptor(t *testing.T) *acceptor {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &acceptor{ln: ln, conns: map[string]net.Conn{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.mu.Lock()
			a.conns[c.RemoteAddr().String()] = c
			a.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, c := range a.conns {
			c.Close()
		}
	})
	return a
}

// closed reports whether the pool's connection c was closed, as the
// upstream sees it: its end reads EOF rather than waiting.
func (a *acceptor) closed(t *testing.T, c *conn) bool {
	t.Helper()
	addr := c.nc.LocalAddr().String()
	var sc net.Conn
	for range 100 {
		a.mu.Lock()
		sc = a.conns[addr]
		a.mu.Unlock()
		if sc != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if sc == nil {
		t.Fatalf("the upstream never accepted %s", addr)
	}
	_ = sc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err := sc.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, io.EOF)
}

// idleCount is how many idle connections p holds.
func (p *Pool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// idleAfterABurst returns a pool of NewPools holding n idle connections
// to a, opened together and put back at t0, oldest first.
func idleAfterABurst(t *testing.T, n int) (a *acceptor, p *Pool, cs []*conn, t0 time.Time) {
	t.Helper()
	ps := NewPools()
	t.Cleanup(ps.Close)
	return idleIn(t, ps, n)
}

// idleIn is idleAfterABurst in pools of the caller's.
func idleIn(t *testing.T, ps *Pools, n int) (a *acceptor, p *Pool, cs []*conn, t0 time.Time) {
	t.Helper()
	a = newAcceptor(t)
	p = ps.Get(a.ln.Addr().String(), "", false)
	for range n {
		c, reused, err := p.get(context.Background(), time.Now(), time.Second)
		if err != nil || reused {
			t.Fatalf("get on an empty pool: reused %v, %v", reused, err)
		}
		cs = append(cs, c)
	}
	t0 = time.Now()
	for _, c := range cs {
		p.put(c, t0)
	}
	return a, p, cs, t0
}

// TestPoolTakesTheConnectionUsedLast: the pool is a stack, as nginx's
// keep-alive cache is, so a moderate load keeps reusing the same few
// connections — the freshest, the least likely to have been closed by the
// upstream meanwhile.
func TestPoolTakesTheConnectionUsedLast(t *testing.T) {
	t.Parallel()
	_, p, cs, t0 := idleAfterABurst(t, 3)
	get := func(want *conn) {
		t.Helper()
		c, reused, err := p.get(context.Background(), t0.Add(time.Second), time.Second)
		if err != nil || !reused || c != want {
			t.Fatalf("get: reused %v, %v; got connection %p, want %p", reused, err, c, want)
		}
	}
	get(cs[2])
	get(cs[1])
	p.put(cs[2], t0.Add(time.Second))
	get(cs[2]) // the one put back last, not the one waiting longest
	get(cs[0])
	for _, c := range cs {
		p.put(c, t0.Add(time.Second))
	}
}

// TestPoolShrinksAfterABurst: connections opened for a burst and then left
// at the bottom of the stack are closed once they have waited
// IdleConnTimeout, while the one the traffic keeps using stays open.
func TestPoolShrinksAfterABurst(t *testing.T) {
	t.Parallel()
	a, p, cs, t0 := idleAfterABurst(t, 3)
	// One request every 10 s, on one connection at a time.
	for at := t0.Add(10 * time.Second); at.Before(t0.Add(IdleConnTimeout + 30*time.Second)); at = at.Add(10 * time.Second) {
		c, reused, err := p.get(context.Background(), at, time.Second)
		if err != nil || !reused || c != cs[2] {
			t.Fatalf("at +%v: reused %v, %v; want the connection used last", at.Sub(t0), reused, err)
		}
		p.put(c, at)
		// Each return closes the oldest idle connection once it has
		// waited IdleConnTimeout (50 s).
		want := 3
		switch elapsed := at.Sub(t0); {
		case elapsed >= IdleConnTimeout+10*time.Second:
			want = 1
		case elapsed >= IdleConnTimeout:
			want = 2
		}
		if n := p.idleCount(); n != want {
			t.Fatalf("at +%v: %d idle connections, want %d", at.Sub(t0), n, want)
		}
	}
	if !a.closed(t, cs[0]) || !a.closed(t, cs[1]) {
		t.Error("the connections left idle since the burst are still open")
	}
	if a.closed(t, cs[2]) {
		t.Error("the connection in use was closed")
	}
}

// TestPoolClosesWhatExpiredBeforeDialling: after a quiet spell longer than
// IdleConnTimeout every idle connection is closed and a new one dialled.
func TestPoolClosesWhatExpiredBeforeDialling(t *testing.T) {
	t.Parallel()
	a, p, cs, t0 := idleAfterABurst(t, 2)
	c, reused, err := p.get(context.Background(), t0.Add(IdleConnTimeout), time.Second)
	if err != nil || reused || c == cs[0] || c == cs[1] {
		t.Fatalf("after IdleConnTimeout: reused %v, %v; want a new connection", reused, err)
	}
	defer c.close()
	if n := p.idleCount(); n != 0 {
		t.Errorf("%d idle connections left, want 0", n)
	}
	for i, old := range cs {
		if !a.closed(t, old) {
			t.Errorf("expired connection %d is still open", i)
		}
	}
}

// TestFullPoolKeepsItsFreshestConnections: a connection returned to a pool
// holding MaxIdlePerTarget takes the place of the oldest, which is closed.
func TestFullPoolKeepsItsFreshestConnections(t *testing.T) {
	t.Parallel()
	a, p, cs, t0 := idleAfterABurst(t, MaxIdlePerTarget+1)
	if n := p.idleCount(); n != MaxIdlePerTarget {
		t.Fatalf("%d idle connections, want %d", n, MaxIdlePerTarget)
	}
	if !a.closed(t, cs[0]) {
		t.Error("the oldest connection of a full pool is still open")
	}
	if a.closed(t, cs[len(cs)-1]) {
		t.Error("the connection returned to a full pool was closed")
	}
	if c, _, _ := p.get(context.Background(), t0, time.Second); c != cs[len(cs)-1] {
		t.Error("the connection returned last is not the next one taken")
	}
}

// TestIdleConnectionsAgeOutWithoutTraffic: a pool no request uses any more
// closes its idle connections once they have waited IdleConnTimeout, by
// the pools' sweeper.
func TestIdleConnectionsAgeOutWithoutTraffic(t *testing.T) {
	t.Parallel()
	ps := newPools(20 * time.Millisecond)
	t.Cleanup(ps.Close)
	a, p, cs, _ := idleIn(t, ps, 2)
	// The older one has waited long enough now; the newer one has not.
	p.mu.Lock()
	cs[0].lastUsed = time.Now().Add(-IdleConnTimeout - time.Second)
	p.mu.Unlock()
	deadline := time.Now().Add(2 * time.Second)
	for p.idleCount() > 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := p.idleCount(); n != 1 {
		t.Fatalf("%d idle connections after the sweeper's turns, want 1", n)
	}
	if !a.closed(t, cs[0]) {
		t.Error("the expired idle connection is still open")
	}
	if a.closed(t, cs[1]) {
		t.Error("a fresh idle connection was closed")
	}
	ps.Close()
	if n := p.idleCount(); n != 0 {
		t.Errorf("%d idle connections after Close, want 0", n)
	}
}
