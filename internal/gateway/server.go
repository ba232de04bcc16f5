package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/portico-gw/portico/internal/server"
)

// Server limits. The header limit is far below net/http's 1 MiB default:
// real clients send a few KiB, and every connection may hold this much.
const (
	MaxHeaderBytes    = 32 << 10
	ReadHeaderTimeout = 10 * time.Second
	IdleTimeout       = 60 * time.Second
	// SendTimeout bounds each write of a response on the proxy listener: a
	// client that takes nothing for this long is cut off (nginx's
	// send_timeout, same default).
	SendTimeout = 60 * time.Second
)

// NewServer returns the HTTP server for a listener, with Portico's edge
// limits: a bounded header size (431 above it) and header-read and idle
// timeouts, so trickling clients cannot hold connections open. There is no
// whole-request read or write timeout, which would cut off streams; request
// bodies get the route's timeout instead (see proxy.Handler).
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		MaxHeaderBytes:    MaxHeaderBytes,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		// "OPTIONS *" reaches the gateway, which refuses it, instead of
		// net/http answering 200 on its own.
		DisableGeneralOptionsHandler: true,
	}
}

// NewProxyServer returns the server of the proxy listener: Portico's own
// HTTP/1.1 server (internal/server, ADR 0011) with the same limits as
// NewServer's.
func NewProxyServer(h http.Handler) *server.Server {
	return &server.Server{
		Handler:           h,
		MaxHeaderBytes:    MaxHeaderBytes,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		SendTimeout:       SendTimeout,
	}
}

// Listener is what Serve runs: net/http's server or the proxy's.
type Listener interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// ErrDrainTimeout reports that requests were still running when the drain
// time ran out, and were cut off.
var ErrDrainTimeout = errors.New("drain timeout: in-flight requests were cut off")

// Serve serves srv on ln until ctx is done, then shuts down gracefully:
// it stops accepting, lets in-flight requests finish for up to drain, and
// then closes what is left, returning ErrDrainTimeout.
func Serve(ctx context.Context, srv Listener, ln net.Listener, drain time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		_ = srv.Close()
		err = ErrDrainTimeout
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
