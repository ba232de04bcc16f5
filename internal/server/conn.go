package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/deadline"
)

// Connection states, for Shutdown: only idle connections are closed.
const (
	stateActive int32 = iota
	stateIdle
)

// conn is one client connection, served by one goroutine, one request
// after another.
type conn struct {
	srv     *Server
	nc      net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	remote  string
	tls     *tls.ConnectionState
	state   atomic.Int32
	scratch []byte
	tmpl    http.Request // filled by readHead, copied once per request
	resp    response     // the running request's writer (newResponse)
	// rd is the read deadline, re-armed for the wait of a request only
	// when the one in place no longer fits (see package deadline). The
	// serving goroutine uses it; while a request runs, under mu.
	rd deadline.Keeper
	// wd is the write deadline, kept by connWriter within send of every
	// write unless wdFixed: the handler set its own. The serving goroutine
	// uses them.
	wd      deadline.Keeper
	send    time.Duration
	wdFixed bool

	// The disconnect watch (see watch). mu guards what follows.
	mu          sync.Mutex
	timer       *time.Timer
	armed       bool            // timer is set to fire
	began       time.Time       // when the running request began
	ctx         *requestContext // the running request's; nil between requests
	bodyPending bool            // its body is not read to the end yet
	wantWatch   bool            // the timer fired while the body was pending
	watching    bool            // a watch read is in progress
	aborting    bool            // the watch read is being interrupted
	watchDone   chan struct{}
	stash       [1]byte // a byte the watch read of the next request
	stashed     bool
	hijacked    bool
	writeErr    error
	headSent    atomic.Bool // the running request's final response head is written
}

// connWriter is what the connection's bufio.Writer writes to: the socket,
// each write bounded by the send timeout.
type connWriter struct{ c *conn }

func (w connWriter) Write(p []byte) (int, error) {
	c := w.c
	if c.wdFixed {
		return c.nc.Write(p)
	}
	// A long p goes in parts, the deadline kept for each: the timeout is
	// the wait for the client to take some of the answer, not all of it.
	var n int
	for {
		if t, set := c.wd.Next(time.Now(), c.send); set {
			_ = c.nc.SetWriteDeadline(t)
		}
		part := p[n:]
		if len(part) > sendPart {
			part = part[:sendPart]
		}
		m, err := c.nc.Write(part)
		n += m
		if err != nil || n == len(p) {
			return n, err
		}
	}
}

// sendPart is the most connWriter writes under one deadline.
const sendPart = 64 << 10

// connReader is what the connection's bufio.Reader reads from: the byte
// a watch read took first, then the socket.
type connReader struct{ c *conn }

func (r connReader) Read(p []byte) (int, error) {
	c := r.c
	if c.stashed && len(p) > 0 {
		p[0] = c.stash[0]
		c.stashed = false
		return 1, nil
	}
	return c.nc.Read(p)
}

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

func (s *Server) newConn(nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, remote: nc.RemoteAddr().String()}
	c.br = readers.Get().(*bufio.Reader)
	c.br.Reset(connReader{c})
	c.bw = writers.Get().(*bufio.Writer)
	c.bw.Reset(connWriter{c})
	c.send = s.SendTimeout
	c.state.Store(stateIdle)
	return c
}

// serve reads and serves requests until the connection closes, fails, is
// hijacked or idles too long.
func (c *conn) serve() {
	defer c.close()
	// A bug in the server itself ends this connection, not the process
	// (handlers' panics are recovered closer, in run).
	defer func() {
		if v := recover(); v != nil {
			c.srv.logger().Error("panic serving a connection", "remote", c.remote, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	s := c.srv
	if tc, ok := c.nc.(*tls.Conn); ok {
		_ = tc.SetDeadline(time.Now().Add(s.ReadHeaderTimeout))
		if err := tc.HandshakeContext(context.Background()); err != nil {
			return
		}
		_ = tc.SetDeadline(time.Time{})
		st := tc.ConnectionState()
		c.tls = &st
	}
	wait := s.ReadHeaderTimeout // the first request's head must arrive in time
	for {
		if c.br.Buffered() == 0 && !c.stashed {
			c.state.Store(stateIdle)
			if s.shuttingDown() {
				return
			}
			c.readWithin(wait)
			if _, err := c.br.Peek(1); err != nil {
				return
			}
		}
		// The head has begun (or was pipelined behind the last request):
		// from now on it must be whole within ReadHeaderTimeout, unless
		// it is all here already.
		if !headBuffered(c.br) {
			c.readWithin(s.ReadHeaderTimeout)
		}
		c.state.Store(stateActive)
		wait = s.IdleTimeout
		h, err := readHead(c.br, &c.scratch, &c.tmpl, s.MaxHeaderBytes+4096)
		if cap(c.scratch) > 8<<10 {
			c.scratch = nil
		}
		if err != nil {
			var bad *badRequest
			if errors.As(err, &bad) {
				c.refuse(bad)
			}
			return
		}
		if !c.serveRequest(h) {
			return
		}
	}
}

// readWithin bounds the next reads to d from now (0: no bound), coarsely:
// a request on a busy connection finds the deadline set for an earlier
// one still fits, and leaves it.
func (c *conn) readWithin(d time.Duration) {
	if t, set := c.rd.Next(time.Now(), d); set {
		_ = c.nc.SetReadDeadline(t)
	}
}

// setReadDeadline sets the read deadline exactly. While a request runs,
// c.mu is held: the watch changes the deadline from the timer's goroutine.
func (c *conn) setReadDeadline(t time.Time) {
	c.rd.Set(t)
	_ = c.nc.SetReadDeadline(t)
}

// headBuffered reports whether a whole request head is in br already.
func headBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	for i := 3; i < len(b); i++ {
		if b[i] == '\n' && b[i-1] == '\r' && b[i-2] == '\n' && b[i-3] == '\r' {
			return true
		}
	}
	return false
}

// serveRequest runs the handler for one request and ends its response;
// false means the connection must not serve another.
func (c *conn) serveRequest(h head) bool {
	ctx := new(requestContext)
	c.tmpl.RemoteAddr = c.remote
	c.tmpl.TLS = c.tls
	r := c.tmpl.WithContext(ctx)
	c.tmpl = http.Request{}
	var b *body
	if noBody(h) {
		r.Body = http.NoBody
	} else {
		b = newBody(c, h)
		r.Body = b
		// A body is read at the handler's pace: the idle deadline set for
		// the head must not cut it off (handlers set their own).
		c.setReadDeadline(time.Time{})
	}
	w := c.newResponse(r)
	if c.wdFixed { // the last request's handler set a write deadline
		c.wdFixed = false
		c.wd.Forget()
	}
	c.headSent.Store(false)
	c.begin(ctx, b != nil)
	aborted := c.run(w, r)
	c.end()
	ctx.cancel()
	if w.hijacked {
		return false
	}
	if b != nil {
		defer b.close()
	}
	if aborted {
		return false
	}
	if err := w.finish(); err != nil || c.writeErr != nil {
		return false
	}
	if w.closeAfter {
		return false
	}
	if b != nil && !b.discard(maxDiscard) {
		c.linger()
		return false
	}
	return true
}

// maxDiscard is the most of an unread request body read and dropped to
// keep the connection; a longer one closes it.
const maxDiscard = 256 << 10

// run calls the handler, recovering a panic: http.ErrAbortHandler aborts
// the response silently, anything else is logged. Both close the
// connection, so the client never takes a cut response for a whole one.
func (c *conn) run(w *response, r *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			aborted = true
			if v != http.ErrAbortHandler { //nolint:errorlint // the sentinel is panicked as is
				c.srv.logger().Error("panic serving request", "remote", c.remote, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			}
		}
	}()
	c.srv.Handler.ServeHTTP(w, r)
	return false
}

// refuse answers a request that could not be parsed, and the connection
// closes after it.
func (c *conn) refuse(bad *badRequest) {
	msg := `{"error":{"code":"` + codeOf(bad.status) + `","message":"` + bad.msg + `"}}` + "\n"
	writeStatus(c.bw, bad.status)
	_, _ = c.bw.WriteString("Content-Type: application/json\r\nConnection: close\r\nContent-Length: ")
	_, _ = c.bw.WriteString(strconv.Itoa(len(msg)))
	_, _ = c.bw.WriteString("\r\nDate: " + date() + "\r\n\r\n" + msg)
	c.send, c.wdFixed = time.Second, false // the connection closes after this
	if c.bw.Flush() == nil {
		c.linger()
	}
}

// linger ends a connection whose client may still be sending (a refused
// head, a body nobody read): closing at once, with unread bytes in the
// socket, would make the kernel answer with a reset that can destroy the
// response before the client reads it. So the server half-closes, reads
// and drops what keeps coming for a moment, then closes — as net/http
// does for the same cases.
func (c *conn) linger() {
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := c.nc.(closeWriter); ok {
		_ = cw.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, c.nc, lingerMax)
}

// How long and how much linger reads at most.
const (
	lingerTime = 500 * time.Millisecond
	lingerMax  = 1 << 20
)

func codeOf(status int) string {
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		return "headers_too_large"
	case http.StatusNotImplemented:
		return "not_implemented"
	case http.StatusHTTPVersionNotSupported:
		return "http_version_not_supported"
	case http.StatusExpectationFailed:
		return "expectation_failed"
	}
	return "bad_request"
}

// sendContinue answers Expect: 100-continue when the handler first reads
// the body — unless the final response has begun, which the client then
// reads instead.
func (c *conn) sendContinue() error {
	if c.headSent.Load() {
		return nil
	}
	_, _ = c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	return c.bw.Flush()
}

// broken records a failed write to the client: the connection closes
// after this request.
func (c *conn) broken(err error) {
	if c.writeErr == nil {
		c.writeErr = err
	}
}

func (c *conn) closing() bool { return c.srv.shuttingDown() }

// A request that runs for longer than watchAfter has its connection
// watched for the client going away, which cancels the request's
// context, as net/http does. net/http starts that watch (a goroutine
// blocked in a read, interrupted by a deadline when the handler returns)
// for every request, a few microseconds each. Here a timer starts it
// only once a request has lasted this long: long enough that a saturated
// node's queueing (requests of a few milliseconds) does not start it,
// short enough that a client leaving a slow upstream or a model's answer
// stops that call within a blink.
const watchAfter = 50 * time.Millisecond

// begin arms the watch for a request. The timer is not set again for
// every request of a busy connection: set for an earlier request, it
// fires early for this one, and sets itself again for the rest of this
// one's watchAfter (fire) — a few times a second at most, instead of a
// timer change at each request's beginning and end.
func (c *conn) begin(ctx *requestContext, hasBody bool) {
	now := time.Now()
	c.mu.Lock()
	c.ctx = ctx
	c.began = now
	c.bodyPending = hasBody
	c.wantWatch = false
	switch {
	case c.timer == nil:
		c.timer = time.AfterFunc(watchAfter, c.fire)
		c.armed = true
	case !c.armed:
		c.timer.Reset(watchAfter)
		c.armed = true
	}
	c.mu.Unlock()
}

// fire runs on the timer: the running request, if any, may have lasted
// watchAfter.
func (c *conn) fire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil || c.hijacked {
		c.armed = false // no request runs: the next one sets the timer
		return
	}
	if left := watchAfter - time.Since(c.began); left > 0 {
		c.timer.Reset(left) // set for an earlier request
		return
	}
	c.armed = false
	if c.bodyPending {
		c.wantWatch = true // bodyRead starts it
		return
	}
	c.startWatch()
}

// bodyRead is called when the request body was read to its end.
func (c *conn) bodyRead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bodyPending = false
	if c.wantWatch && c.ctx != nil && !c.hijacked {
		c.startWatch()
	}
}

// startWatch starts a read that only a closed connection (or more data,
// which is kept) ends. c.mu is held.
func (c *conn) startWatch() {
	if c.watching || c.br.Buffered() > 0 || c.stashed {
		return // the client has sent more already: it is there
	}
	c.watching = true
	c.aborting = false
	c.watchDone = make(chan struct{})
	c.setReadDeadline(time.Time{})
	go c.watchRead(c.ctx, c.watchDone)
}

func (c *conn) watchRead(ctx *requestContext, done chan struct{}) {
	n, err := c.nc.Read(c.stash[:])
	c.mu.Lock()
	if n == 1 {
		c.stashed = true
	}
	// A timeout is Portico's own deadline (end, or a handler's), not the
	// client leaving.
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout()
	if err != nil && !c.aborting && !timeout {
		ctx.cancel() // the client closed or reset the connection
	}
	c.mu.Unlock()
	close(done)
}

// end stops the watch when the handler returned.
func (c *conn) end() {
	c.mu.Lock()
	c.ctx = nil // the timer, if it fires, finds no request
	watching := c.watching
	c.aborting = true
	done := c.watchDone
	c.mu.Unlock()
	if !watching {
		return
	}
	_ = c.nc.SetReadDeadline(aLongTimeAgo)
	<-done
	c.mu.Lock()
	c.watching = false
	c.setReadDeadline(time.Time{})
	c.mu.Unlock()
}

var aLongTimeAgo = time.Unix(1, 0)

// hijack hands the connection to a handler: the watch stops, the
// deadlines the server set are cleared (a tunnel lives as long as its
// ends want), and the server forgets the connection.
func (c *conn) hijack() {
	c.end()
	_ = c.nc.SetDeadline(time.Time{})
	// The handler writes what it likes through the returned writer,
	// without the send timeout (nothing of the response is buffered yet:
	// Hijack refuses a committed one).
	c.bw.Reset(c.nc)
	c.mu.Lock()
	c.hijacked = true
	c.mu.Unlock()
	c.srv.forget(c)
}

// close closes the connection unless it was hijacked, and recycles its
// buffers.
func (c *conn) close() {
	c.mu.Lock()
	hijacked := c.hijacked
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	if hijacked {
		return
	}
	_ = c.nc.Close()
	c.srv.forget(c)
	c.br.Reset(nil)
	readers.Put(c.br)
	c.bw.Reset(nil)
	writers.Put(c.bw)
}

func (s *Server) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}
