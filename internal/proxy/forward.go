package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/clock"
	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/server"
)

// ErrClientGone is returned when the client went away before a response
// could be written; the edge logs it as status 499 and writes nothing.
var ErrClientGone = errors.New("client closed the connection")

var errCircuitOpen = &pipeline.Error{Status: http.StatusServiceUnavailable, Code: "circuit_open",
	Message: "the upstream is failing; requests are held back for a while"}

// ErrorCounter is told of each failed upstream request, by upstream name
// and kind (connect, timeout, protocol, reset, body).
type ErrorCounter interface {
	UpstreamError(upstream, kind string)
}

// Handler is the end of every route's chain: it sends the request to one of
// the upstream's targets and streams the response back.
type Handler struct {
	up      *Upstream
	timeout time.Duration
	errs    ErrorCounter
	tunnels *Tunnels
	// retryMethods are methods the route lets be retried although they
	// are not idempotent.
	retryMethods []string
}

// WithRetryMethods returns h also retrying these methods (the route's
// retry_methods), their bodies replayed when at most MaxReplayBody long.
func (h *Handler) WithRetryMethods(methods []string) *Handler {
	c := *h
	c.retryMethods = methods
	return &c
}

// MaxReplayBody is the largest request body kept to be sent again on a
// retry.
const MaxReplayBody = 64 << 10

// replayBody keeps what the first try read of a request body, so that a
// retry can send it again (then read on from the client where it left).
type replayBody struct {
	src io.ReadCloser
	buf []byte
	pos int
}

func (b *replayBody) Read(p []byte) (int, error) {
	if b.pos < len(b.buf) {
		n := copy(p, b.buf[b.pos:])
		b.pos += n
		return n, nil
	}
	n, err := b.src.Read(p)
	b.buf = append(b.buf, p[:n]...)
	b.pos += n
	return n, err
}

func (b *replayBody) Close() error { return b.src.Close() }

// NewHandler returns the proxy handler for an upstream. timeout, when not 0,
// overrides the upstream's (a route's own timeout).
func NewHandler(up *Upstream, timeout time.Duration, errs ErrorCounter, tunnels *Tunnels) *Handler {
	if timeout == 0 {
		timeout = up.timeout
	}
	return &Handler{up: up, timeout: timeout, errs: errs, tunnels: tunnels}
}

var _ pipeline.Handler = (*Handler)(nil)

// Serve forwards r.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange) error {
	x.Upstream = h.up.Name
	if isWebSocketUpgrade(r) {
		return h.tunnel(w, r, x)
	}
	bodyLen := r.ContentLength
	hasBody := r.Body != nil && r.Body != http.NoBody && bodyLen != 0
	if !hasBody {
		bodyLen = 0
	}
	if hasBody {
		// The client must send its body within the route's timeout.
		_ = http.NewResponseController(w).SetReadDeadline(x.Start.Add(h.timeout))
	}
	attempts := 1
	retryable := idempotent(r.Method) || slices.Contains(h.retryMethods, r.Method)
	var replay *replayBody
	switch {
	case retryable && !hasBody:
		attempts += h.up.retries
	case retryable && h.up.retries > 0 && bodyLen > 0 && bodyLen <= MaxReplayBody:
		replay = &replayBody{src: r.Body, buf: make([]byte, 0, bodyLen)}
		r.Body = replay
		attempts += h.up.retries
	}
	up := h.up
	var now int64
	if up.breaker != nil || up.budget != nil {
		now = clock.Now()
	}
	if up.breaker != nil {
		switch ok, trial := up.breaker.allow(now); {
		case !ok && up.Fallback == nil:
			return errCircuitOpen
		case !ok:
			up = up.Fallback // an open circuit is an upstream with no target to offer
		case trial:
			br := up.breaker
			defer func() {
				if br.state.Load() == CircuitHalfOpen && br.trial.Load() {
					br.untried() // the trial never reached the upstream
				}
			}()
		}
	}
	if up.budget != nil {
		up.budget.request(now)
	}
	var last *Target
	for try := 1; ; try++ {
		t := up.pick(r, x, last)
		if t == nil {
			return pipeline.ErrNoUpstream
		}
		last = t
		if up.balance == LeastRequests {
			t.state.inflight.Add(1)
		}
		var saved http.Header
		retryStatus := len(up.retryOn) > 0 && try < attempts
		if retryStatus {
			saved = w.Header().Clone() // to undo the upstream's headers if its answer is retried
		}
		c, hd, stop, err := h.roundTrip(w.Header(), r, x, t, hasBody, bodyLen)
		if err == nil && retryStatus && slices.Contains(up.retryOn, hd.status) &&
			(up.budget == nil || up.budget.retry(clock.Now())) {
			// A status the upstream says to retry: drop this answer.
			stop()
			c.close()
			t.state.answered(hd.status)
			if up.breaker != nil {
				up.breaker.record(clock.Now(), hd.status >= 500)
			}
			if up.balance == LeastRequests {
				t.state.inflight.Add(-1)
			}
			hdrs := w.Header()
			clear(hdrs)
			for k, v := range saved {
				hdrs[k] = v
			}
			if replay != nil {
				replay.pos = 0
			}
			select {
			case <-time.After(up.backoff(try)):
			case <-r.Context().Done():
				return ErrClientGone
			}
			continue
		}
		if err == nil {
			t.state.answered(hd.status)
			if up.breaker != nil {
				up.breaker.record(clock.Now(), hd.status == http.StatusBadGateway || hd.status == http.StatusServiceUnavailable || hd.status == http.StatusGatewayTimeout)
			}
			err := h.respond(w, r, x, c, hd, stop)
			if up.balance == LeastRequests {
				t.state.inflight.Add(-1)
			}
			return err
		}
		if up.balance == LeastRequests {
			t.state.inflight.Add(-1)
		}
		if err != pipeline.ErrBodyTooLarge && err.Status != http.StatusBadRequest && r.Context().Err() == nil {
			failedAt := clock.Now()
			t.state.failed(failedAt)
			if up.breaker != nil {
				up.breaker.record(failedAt, true)
			}
		}
		if try >= attempts || err == pipeline.ErrBodyTooLarge || err.Status == http.StatusBadRequest || r.Context().Err() != nil {
			return h.failed(r, err)
		}
		if replay != nil {
			replay.pos = 0 // the next try sends the body again from its start
		}
		if up.budget != nil && !up.budget.retry(clock.Now()) {
			return h.failed(r, err) // the retry budget is spent
		}
		select {
		case <-time.After(h.up.backoff(try)):
		case <-r.Context().Done():
			return ErrClientGone
		}
	}
}

func (h *Handler) failed(r *http.Request, err *pipeline.Error) error {
	if r.Context().Err() != nil {
		return ErrClientGone
	}
	return err
}

// roundTrip sends the request on a connection to t and reads the response
// head into dst. A connection that turns out to be stale before anything
// was read from it is replaced by a fresh one, once, when the request can
// be resent. On success the caller must call stop when done with c: until
// then, the client going away interrupts c.
func (h *Handler) roundTrip(dst http.Header, r *http.Request, x *pipeline.Exchange, t *Target, hasBody bool, bodyLen int64) (*conn, head, func() bool, *pipeline.Error) {
	ctx := r.Context()
	for fresh := false; ; fresh = true {
		c, reused, err := t.pool.get(ctx, x.Start, h.up.connectTimeout)
		if err != nil {
			return nil, head{}, nil, h.classify("connect", err)
		}
		if reused && hasBody && !alive(c) {
			c.close()
			continue
		}
		stop := interruptOnCancel(ctx, c)
		hd, kind, err := h.exchange(dst, c, r, x, t, hasBody, bodyLen)
		if err == nil {
			return c, hd, stop, nil
		}
		stop()
		c.close()
		if kind == "body" {
			if errors.Is(err, pipeline.ErrBodyTooLarge) {
				return nil, head{}, nil, pipeline.ErrBodyTooLarge
			}
			return nil, head{}, nil, pipeline.BadRequest("the request body could not be read")
		}
		if ctx.Err() != nil {
			// The client left and interrupted the exchange: not the
			// upstream's failure, so not counted as one (Serve answers 499).
			return nil, head{}, nil, pipeline.ErrBadGateway
		}
		if reused && !fresh && !hasBody && kind == "reset" {
			continue // the upstream closed the idle connection: resend on a new one
		}
		return nil, head{}, nil, h.classify(kind, err)
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// exchange writes the request and reads the response head on c into dst.
// On failure dst is left as it was found, but for what was added to it.
func (h *Handler) exchange(dst http.Header, c *conn, r *http.Request, x *pipeline.Exchange, t *Target, hasBody bool, bodyLen int64) (head, string, error) {
	wait := h.timeout
	if h.up.perTry > 0 && h.up.perTry < wait {
		wait = h.up.perTry
	}
	c.within(wait)
	// The client-disconnect hook interrupts c by setting a past deadline;
	// had it run just before the line above, it was undone. It runs only
	// after the context is done, so checking here closes the gap.
	if err := r.Context().Err(); err != nil {
		return head{}, "reset", err
	}
	writeRequestHead(c.bw, r, x, t, bodyLen, false)
	if hasBody {
		written, kind, err := writeBody(c.bw, r.Body, bodyLen)
		x.BytesIn = written
		if err != nil {
			return head{}, kind, err
		}
	}
	if err := c.bw.Flush(); err != nil {
		return head{}, "reset", err
	}
	id := dst["X-Request-Id"]
	hd, err := readHead(c, dst, r.Method, x.GatewayCORS)
	if err == nil && hd.status == http.StatusSwitchingProtocols {
		err = errors.New("upstream switched protocols without being asked")
	}
	if err != nil {
		clear(dst)
		dst["X-Request-Id"] = id
		return head{}, readErrorKind(err), err
	}
	if dst["X-Request-Id"] == nil { // an interim response cleared it
		dst["X-Request-Id"] = id
	}
	return hd, "", nil
}

func readErrorKind(err error) string {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), isReset(err):
		return "reset"
	case errors.Is(err, errMalformedStatus), errors.Is(err, errMalformedHeader),
		errors.Is(err, errHeaderTooLarge), errors.Is(err, errBadFraming):
		return "protocol"
	default:
		return "protocol"
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe)
}

func (h *Handler) classify(kind string, err error) *pipeline.Error {
	h.errs.UpstreamError(h.up.Name, kind)
	var ne net.Error
	if kind == "timeout" || errors.As(err, &ne) && ne.Timeout() {
		return pipeline.ErrTimeout
	}
	return pipeline.ErrBadGateway
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// writeBody copies the request body to the upstream: as is when its length
// is known, chunked otherwise, and returns how many bytes of it it wrote.
// The kind of a failure says which side broke.
func writeBody(bw *bufio.Writer, body io.Reader, n int64) (written int64, kind string, err error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		nr, rerr := body.Read(buf)
		if nr > 0 {
			if n >= 0 && written+int64(nr) > n {
				return written, "body", errors.New("request body is longer than its Content-Length")
			}
			var werr error
			if n < 0 {
				var size [20]byte
				_, werr = bw.Write(append(strconv.AppendInt(size[:0], int64(nr), 16), '\r', '\n'))
				if werr == nil {
					_, werr = bw.Write(buf[:nr])
				}
				if werr == nil {
					_, werr = bw.WriteString("\r\n")
				}
			} else {
				_, werr = bw.Write(buf[:nr])
			}
			if werr != nil {
				return written, "reset", werr
			}
			written += int64(nr)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return written, "body", rerr
		}
	}
	if n >= 0 && written != n {
		return written, "body", io.ErrUnexpectedEOF
	}
	if n < 0 {
		if _, err := bw.WriteString("0\r\n\r\n"); err != nil {
			return written, "reset", err
		}
	}
	return written, "", nil
}

// respond streams the response body on c to the client, whose status and
// headers are ready, and then recycles or closes c. stop unregisters the
// hook that interrupts c when the client leaves; it is called before c can
// go back to the pool, so the hook can never hit another request's
// connection.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange, c *conn, hd head, stop func() bool) error {
	status := hd.status
	if t := x.Response; t != nil {
		status = t.Header(w.Header(), status)
		if max := t.MaxBody(w.Header()); max > 0 && !c.body.done {
			return h.respondTransformed(w, r, t, max, c, hd, status, stop)
		}
	}
	w.WriteHeader(status)
	body := &c.body
	if body.done {
		h.release(c, hd, stop)
		return nil
	}
	defer stop() // for the paths that close c
	// Flush as data arrives unless the length is known and the content is
	// not an event stream, so SSE and long polls reach the client at once
	// — but not while more has arrived already (the next chunk, the end):
	// what came together leaves in one write.
	flusher, _ := w.(http.Flusher)
	stream := body.chunked || body.untilEOF || strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream")
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		if c.br.Buffered() == 0 { // the next read goes to the network
			c.within(h.timeout)
			if r.Context().Err() != nil { // see exchange: a new deadline may undo the hook's
				c.close()
				return nil
			}
		}
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				stop()
				c.close()
				return nil // the client is gone; its status is already logged
			}
			if stream && flusher != nil && !body.ready() {
				flusher.Flush()
			}
		}
		if errors.Is(rerr, io.EOF) {
			// The client has the whole answer before the connection goes
			// back to its pool and the gateway logs the request.
			_ = server.End(w)
			h.release(c, hd, stop)
			return nil
		}
		if rerr != nil {
			stop()
			c.close()
			if r.Context().Err() != nil {
				return nil
			}
			h.errs.UpstreamError(h.up.Name, "body")
			// The client must see an aborted response, never a clean end
			// of a truncated one: abort the connection.
			panic(http.ErrAbortHandler)
		}
	}
}

// respondTransformed reads the whole response body (at most max bytes),
// has t transform it, and sends the result. Nothing reaches the client
// before the body is read and transformed, so a failure is a clean 502.
func (h *Handler) respondTransformed(w http.ResponseWriter, r *http.Request, t pipeline.ResponseTransformer, max int64, c *conn, hd head, status int, stop func() bool) error {
	c.within(h.timeout)
	if r.Context().Err() != nil { // see exchange: a new deadline may undo the hook's
		stop()
		c.close()
		return ErrClientGone
	}
	b, err := io.ReadAll(io.LimitReader(&c.body, max+1))
	if err != nil || int64(len(b)) > max {
		stop()
		c.close()
		if r.Context().Err() != nil {
			return ErrClientGone
		}
		if err != nil {
			return h.classify("body", err)
		}
	} else {
		h.release(c, hd, stop)
	}
	out, perr := t.Body(w.Header(), b)
	if perr != nil {
		clearUpstreamHeaders(w.Header())
		return perr
	}
	w.Header().Del("Transfer-Encoding")
	w.WriteHeader(status)
	// The upstream's body, mapped: proxied as any response body is, with
	// the upstream's own Content-Type.
	_, _ = w.Write(out) //nolint:gosec // a proxied body, not a page Portico renders
	return nil
}

// clearUpstreamHeaders removes the upstream's headers before the gateway
// answers an error instead of the response.
func clearUpstreamHeaders(h http.Header) {
	for k := range h {
		if k != "X-Request-Id" && !strings.HasPrefix(k, "Ratelimit-") && !strings.HasPrefix(k, "Access-Control-") && k != "Vary" {
			delete(h, k)
		}
	}
}

// release pools c after a response that ended cleanly, unless the
// response or the client says otherwise. stop reports false when the
// client's hook already ran (or is running), which may have interrupted c.
func (h *Handler) release(c *conn, hd head, stop func() bool) {
	if !stop() || hd.close || c.body.untilEOF {
		c.close()
		return
	}
	c.pool.put(c, time.Now())
}

func idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE":
		return true
	}
	return false
}
