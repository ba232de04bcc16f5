// Package server is the HTTP/1.1 server of the proxy listener: the part
// of the request path before the gateway's handler. It serves any
// http.Handler, like net/http's server, but spends less per request —
// no sorted header snapshot, no goroutine watching every request for a
// client that leaves (only requests that last get one), one string for a
// request's whole head — which is what separates a Go proxy from nginx
// on a small machine (ADR 0011).
//
// It is strict where request smuggling lives (RFC 9112 §11.2): obsolete
// line folding, bare LF, Content-Length with Transfer-Encoding, any
// transfer coding but chunked, duplicate Host or conflicting lengths are
// refused before a handler sees the request. Chunked bodies are decoded
// by the standard library's reader. TLS connections (tls.Listener) are
// served too, HTTP/1.1 only; the admin and portal listeners stay on
// net/http.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.1 on listeners. Its zero timeouts mean none; set
// them.
type Server struct {
	Handler http.Handler
	// MaxHeaderBytes bounds a request head (request line and fields);
	// longer heads are answered 431.
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds the time from a connection's first byte
	// (or a request's) to the end of its head.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive
	// connection.
	IdleTimeout time.Duration
	// SendTimeout bounds each write of a response: a client that takes
	// nothing of it for this long (it stopped reading, or vanished without
	// a word) is cut off, as nginx's send_timeout does. It bounds the wait
	// between two successful writes, not a whole response, so a stream
	// lasts as long as its client keeps reading.
	SendTimeout time.Duration
	// Log receives panics of handlers; slog.Default() when nil.
	Log *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	down      atomic.Bool
}

// Serve accepts connections on ln until the server shuts down (returning
// http.ErrServerClosed) or ln fails.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.down.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
		s.conns = map[*conn]struct{}{}
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.down.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Out of descriptors or a transient failure: wait and
				// retry, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := s.newConn(nc)
		s.mu.Lock()
		if s.down.Load() {
			s.mu.Unlock()
			_ = nc.Close()
			return http.ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go c.serve()
	}
}

func (s *Server) shuttingDown() bool { return s.down.Load() }

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown stops accepting, closes idle connections, and waits for the
// active ones to finish their request (each closes after it) until ctx
// ends, returning ctx's error then. Hijacked connections are not waited
// for.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if s.closeIdle() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.closeListeners()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.nc.Close()
	}
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down.Store(true)
	for ln := range s.listeners {
		_ = ln.Close()
	}
}

// closeIdle closes the connections waiting for a request and reports
// whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.Load() == stateIdle {
			_ = c.nc.Close()
		}
	}
	return len(s.conns) == 0
}
