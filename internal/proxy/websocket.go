package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/clock"
	"github.com/portico-gw/portico/internal/pipeline"
)

// isWebSocketUpgrade reports whether r asks to upgrade to WebSocket. Every
// other upgrade (h2c above all) is dropped: the request is forwarded as a
// plain request without its Upgrade and Connection headers.
func isWebSocketUpgrade(r *http.Request) bool {
	if r.Method != http.MethodGet || r.ProtoMajor != 1 {
		return false
	}
	if !strings.EqualFold(strings.TrimSpace(r.Header.Get("Upgrade")), "websocket") {
		return false
	}
	for _, t := range connectionTokens(r.Header) {
		if t == "Upgrade" {
			return true
		}
	}
	return false
}

// Tunnels tracks hijacked connections, which http.Server.Shutdown does not
// wait for, so that shutdown can give them a deadline and then close them.
type Tunnels struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewTunnels returns an empty tracker.
func NewTunnels() *Tunnels { return &Tunnels{conns: map[net.Conn]struct{}{}} }

func (t *Tunnels) add(c net.Conn) {
	t.mu.Lock()
	t.conns[c] = struct{}{}
	t.wg.Add(1)
	t.mu.Unlock()
}

func (t *Tunnels) remove(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	t.wg.Done()
}

// Len is the number of open tunnels.
func (t *Tunnels) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// Shutdown waits for the tunnels to end until ctx is done, then closes the
// ones still open.
func (t *Tunnels) Shutdown(ctx context.Context) {
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	t.mu.Lock()
	for c := range t.conns {
		_ = c.Close()
	}
	t.mu.Unlock()
	<-done
}

// tunnel forwards a WebSocket handshake on a new connection and, when the
// upstream accepts it, splices the client and upstream connections.
func (h *Handler) tunnel(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
	t := h.up.pick(r, x, nil)
	if t == nil {
		return pipeline.ErrNoUpstream
	}
	c, err := t.pool.dial(r.Context(), h.up.connectTimeout)
	if err != nil {
		return h.classify("connect", err)
	}
	c.within(h.timeout)
	writeRequestHead(c.bw, r, x, t, 0, true)
	if err := c.bw.Flush(); err != nil {
		c.close()
		return h.classify("reset", err)
	}
	stop := interruptOnCancel(r.Context(), c)
	hd, err := readHead(c, w.Header(), http.MethodGet, x.GatewayCORS)
	if err != nil {
		stop()
		c.close()
		return h.classify(readErrorKind(err), err)
	}
	if hd.status != http.StatusSwitchingProtocols {
		// Refused: pass the answer on; the connection is not reused.
		hd.close = true
		return h.respond(w, r, x, c, hd, stop)
	}
	if !strings.EqualFold(hd.upgrade, "websocket") {
		stop()
		c.close()
		return h.classify("protocol", errors.New("upstream upgraded to something other than websocket"))
	}
	// From here the copy loops end when either side closes; the hook that
	// interrupts c on a client disconnect is not needed any more.
	stop()
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		c.close()
		return pipeline.BadRequest("this connection cannot be upgraded")
	}
	if rw, ok := w.(*pipeline.ResponseWriter); ok {
		rw.Status = http.StatusSwitchingProtocols
	}
	h.tunnels.add(client)
	defer h.tunnels.remove(client)
	defer func() { _ = client.Close() }()
	defer c.close()
	_ = client.SetDeadline(time.Time{})
	c.within(0)

	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	hdr := w.Header()
	hdr.Set("Connection", "Upgrade")
	hdr.Set("Upgrade", "websocket")
	hdr.Set("X-Request-Id", x.RequestID)
	_ = hdr.Write(brw)
	brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		return nil
	}
	// A tunnel in which nothing moves either way for the upstream's idle
	// timeout is closed, so quiet connections cannot pile up.
	idle := newIdleWatch(h.up.tunnelIdle, func() {
		_ = client.Close()
		_ = c.nc.Close()
	})
	defer idle.stop()
	done := make(chan struct{})
	go func() {
		// Upstream to client, starting with what the upstream sent after
		// its 101 and is already buffered.
		_, _ = io.Copy(client, idle.reader(c.br))
		_ = client.Close()
		close(done)
	}()
	_, _ = io.Copy(c.nc, idle.reader(brw.Reader))
	_ = c.nc.Close()
	<-done
	return nil
}

// idleWatch calls expire once nothing was read through its readers for
// its timeout. Reads only record the time; one timer checks it, so a busy
// tunnel costs no timer resets.
type idleWatch struct {
	timeout time.Duration
	expire  func()
	last    atomic.Int64 // UnixNano of the last read that returned data
	mu      sync.Mutex
	t       *time.Timer
	stopped bool
}

// newIdleWatch returns a watch; a timeout of 0 or less watches nothing.
func newIdleWatch(timeout time.Duration, expire func()) *idleWatch {
	w := &idleWatch{timeout: timeout, expire: expire}
	w.last.Store(clock.Now())
	if timeout > 0 {
		w.mu.Lock()
		w.t = time.AfterFunc(timeout, w.check)
		w.mu.Unlock()
	}
	return w
}

func (w *idleWatch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	quiet := time.Duration(clock.Now() - w.last.Load())
	if quiet >= w.timeout {
		w.stopped = true
		w.expire()
		return
	}
	w.t.Reset(w.timeout - quiet)
}

func (w *idleWatch) stop() {
	w.mu.Lock()
	w.stopped = true
	if w.t != nil {
		w.t.Stop()
	}
	w.mu.Unlock()
}

// reader returns r, recording each read that returns data as activity.
func (w *idleWatch) reader(r io.Reader) io.Reader { return &activeReader{r: r, w: w} }

type activeReader struct {
	r io.Reader
	w *idleWatch
}

func (a *activeReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.w.last.Store(clock.Now())
	}
	return n, err
}
