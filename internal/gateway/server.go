package gateway

import (
	"context"
	"errors"
	"io"
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
	// BodyReadTimeout bounds each wait for more of a request body on the
	// admin and portal listeners (nginx's client_body_timeout, the same
	// default): a form or a draft that stops coming is cut off, one that
	// comes steadily however slowly is not. The proxy listener bounds a
	// body by its route's timeout instead.
	BodyReadTimeout = 60 * time.Second
)

// NewServer returns the HTTP server of the admin and portal listeners,
// with Portico's edge limits: a bounded header size (431 above it),
// header-read and idle timeouts, and BodyReadTimeout on each read of a
// request body, so trickling clients cannot hold connections open. There
// is no whole-request read or write timeout: net/http's ReadTimeout would
// also cancel the context of a handler that runs longer than it
// (go.dev/issue/70834), and a write timeout would cut off a large export
// to a slow client.
func NewServer(h http.Handler) *http.Server { return newServer(h, BodyReadTimeout) }

func newServer(h http.Handler, bodyRead time.Duration) *http.Server {
	return &http.Server{
		Handler:           bodyTimeout(h, bodyRead),
		MaxHeaderBytes:    MaxHeaderBytes,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		// "OPTIONS *" reaches the gateway, which refuses it, instead of
		// net/http answering 200 on its own.
		DisableGeneralOptionsHandler: true,
	}
}

// bodyTimeout gives each read of a request body d to return: the
// connection's read deadline is set before each read and cleared when the
// body ends, so a handler that runs long after reading its body is not
// cut off, and a body read that times out fails the request.
func bodyTimeout(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: http.NewResponseController(w), d: d}
		}
		h.ServeHTTP(w, r)
	})
}

type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	d    time.Duration
	over bool // the body ended: no more deadlines
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.over {
		return b.ReadCloser.Read(p)
	}
	_ = b.rc.SetReadDeadline(time.Now().Add(b.d))
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.over = true
		if errors.Is(err, io.EOF) {
			// Whole: the connection waits for its next request (or for
			// the client to leave) without a deadline again. After any
			// other error the passed deadline stays, and the connection
			// closes.
			_ = b.rc.SetReadDeadline(time.Time{})
		}
	}
	return n, err
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
