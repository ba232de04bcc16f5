package server

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// response is the http.ResponseWriter of one request. It writes the head
// in the order the handler set it (no sort), frames the body with the
// handler's Content-Length, or chunked when there is none; a small body
// written before the handler returns or flushes gets its length computed
// instead.
type response struct {
	c      *conn
	req    *http.Request
	header http.Header
	status int

	wroteHeader bool // WriteHeader called (or implied)
	committed   bool // the head is on the wire (in bw)
	chunked     bool
	bodyless    bool  // HEAD, 1xx, 204, 304
	length      int64 // the declared Content-Length, -1 when none
	written     int64
	pending     []byte // body held until the head is committed
	closeAfter  bool
	hijacked    bool
	ended       bool  // the response is whole on the wire (End, or the handler returned)
	endErr      error // what ending it reported
}

// holdMax is how much body is held back to compute a Content-Length
// before the response is sent chunked.
const holdMax = 2 << 10

// newResponse readies the connection's response writer for r. The writer,
// its header map and its held-body buffer are the connection's, reused
// request after request: the http.ResponseWriter contract forbids using
// them once ServeHTTP has returned, and a hijacked connection serves no
// further request.
func (c *conn) newResponse(r *http.Request) *response {
	w := &c.resp
	h := w.header
	if h == nil {
		h = make(http.Header, 8)
	} else {
		clear(h)
	}
	*w = response{c: c, req: r, header: h, pending: w.pending[:0]}
	return w
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.hijacked || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 {
		// An informational answer goes out at once; the final one
		// follows.
		if code == http.StatusSwitchingProtocols || w.req.ProtoMinor == 0 {
			return
		}
		bw := w.c.bw
		writeStatus(bw, code)
		writeFields(bw, w.header)
		_, _ = bw.WriteString("\r\n")
		_ = bw.Flush()
		return
	}
	w.wroteHeader = true
	w.status = code
	w.length = -1
	if cl, ok := w.header["Content-Length"]; ok {
		// One valid length is the body's framing; anything else would
		// give the client two, and is dropped.
		if n, err := parseLength(cl[0]); len(cl) == 1 && err == nil {
			w.length = n
		} else {
			delete(w.header, "Content-Length")
		}
	}
	w.bodyless = w.req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.ended {
		return 0, errEnded
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.bodyless {
		if w.req.Method == http.MethodHead {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.committed {
		switch {
		case w.length >= 0:
			w.commit(w.length)
		case len(w.pending)+len(p) <= holdMax:
			w.pending = append(w.pending, p...)
			return len(p), nil
		default:
			// Too much to hold: chunked from here, the held part first.
			w.commit(-1)
			if err := w.writePending(); err != nil {
				return 0, err
			}
		}
	}
	if w.chunked {
		return w.writeChunk(p)
	}
	if _, err := w.c.bw.Write(p); err != nil {
		w.c.broken(err)
		return 0, err
	}
	if w.written == w.length {
		// The declared body is whole: it leaves now, not when the handler
		// returns, so what the gateway does after the answer (metering,
		// the access log, metrics) is not the client's wait.
		if err := w.c.bw.Flush(); err != nil {
			w.c.broken(err)
			return len(p), err
		}
	}
	return len(p), nil
}

func (w *response) writeChunk(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	bw := w.c.bw
	var size [16]byte
	_, _ = bw.Write(strconv.AppendInt(size[:0], int64(len(p)), 16))
	_, _ = bw.WriteString("\r\n")
	_, _ = bw.Write(p)
	if _, err := bw.WriteString("\r\n"); err != nil {
		w.c.broken(err)
		return 0, err
	}
	return len(p), nil
}

// commit writes the head into the connection's buffer. n is the body's
// length when known (the declared or the held one), -1 to go chunked.
// The framing headers of the handler's map are made the server's here
// (a computed Content-Length added; Connection, Transfer-Encoding and
// Trailer removed), so what a handler reads back after the head is out is
// what the client got.
func (w *response) commit(n int64) {
	w.committed = true
	w.c.headSent.Store(true)
	h := w.header
	if !w.bodyless && w.status >= 200 {
		switch {
		case w.length >= 0:
		case n >= 0:
			h["Content-Length"] = []string{strconv.FormatInt(n, 10)}
		case w.req.ProtoMinor == 0:
			w.closeAfter = true // the body ends when the connection does
		default:
			w.chunked = true
		}
	}
	if w.status == http.StatusNoContent || w.status == http.StatusNotModified {
		delete(h, "Content-Length")
	}
	if w.req.Close || w.c.closing() {
		w.closeAfter = true
	}
	if v, ok := h["Connection"]; ok {
		if httpguts.HeaderValuesContainsToken(v, "close") {
			w.closeAfter = true
		}
		delete(h, "Connection")
	}
	// Framing is Portico's: a handler's Transfer-Encoding or Trailer
	// would contradict it.
	delete(h, "Transfer-Encoding")
	delete(h, "Trailer")
	bw := w.c.bw
	writeStatus(bw, w.status)
	writeFields(bw, h)
	if _, ok := h["Date"]; !ok {
		_, _ = bw.WriteString("Date: ")
		_, _ = bw.WriteString(date())
		_, _ = bw.WriteString("\r\n")
	}
	if w.chunked {
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case w.closeAfter:
		_, _ = bw.WriteString("Connection: close\r\n")
	case w.req.ProtoMinor == 0:
		_, _ = bw.WriteString("Connection: keep-alive\r\n")
	}
	_, _ = bw.WriteString("\r\n")
}

var errEnded = errors.New("server: write after the response ended")

// End sends the rest of w's response and its end at once, before the
// handler returns, when w is a response of this server or wraps one
// (through Unwrap): the client has its whole answer while the handler
// finishes its own work — metering, a connection's drain — and the
// gateway its access log and metrics. Nothing can be written after. With
// another server's writer (net/http's) it does nothing: the response
// ends when the handler returns.
func End(w http.ResponseWriter) error {
	for {
		switch rw := w.(type) {
		case *response:
			return rw.finish()
		case interface{ Unwrap() http.ResponseWriter }:
			w = rw.Unwrap()
		default:
			return nil
		}
	}
}

// finish ends the response once — after the handler returned, or earlier
// through End — and reports what ending it reported.
func (w *response) finish() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if !w.ended {
		w.ended = true
		w.endErr = w.end()
	}
	return w.endErr
}

// end commits the head (with the held body's length), ends a chunked
// body, and flushes.
func (w *response) end() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		if w.length >= 0 && w.written < w.length && !w.bodyless {
			// The handler wrote less than it declared: the client must
			// not take the next response for the rest of this one.
			w.closeAfter = true
		}
		w.commit(int64(len(w.pending)))
		_ = w.writePending()
	} else if w.length >= 0 && w.written < w.length && !w.bodyless {
		w.closeAfter = true
	}
	if w.chunked {
		_, _ = w.c.bw.WriteString("0\r\n\r\n")
	}
	return w.c.bw.Flush()
}

// writePending writes the body held before the head was committed.
func (w *response) writePending() error {
	p := w.pending
	w.pending = p[:0] // bw has copied it when this returns
	if len(p) == 0 || w.bodyless {
		return nil
	}
	if w.chunked {
		_, err := w.writeChunk(p)
		return err
	}
	if _, err := w.c.bw.Write(p); err != nil {
		w.c.broken(err)
		return err
	}
	return nil
}

// Flush sends the head and what the body has so far.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush, reporting a failed write (http.ResponseController
// uses it).
func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if w.ended {
		return w.endErr
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		if w.length >= 0 {
			w.commit(w.length)
		} else {
			w.commit(-1)
		}
		if err := w.writePending(); err != nil {
			return err
		}
	}
	if err := w.c.bw.Flush(); err != nil {
		w.c.broken(err)
		return err
	}
	return nil
}

// Hijack hands the connection to the handler (WebSocket tunnels); what
// the client sent beyond the request head is in the returned reader.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.committed {
		return nil, nil, http.ErrHijacked
	}
	w.hijacked = true
	w.c.hijack()
	return w.c.nc, bufio.NewReadWriter(w.c.br, w.c.bw), nil
}

// SetReadDeadline bounds the reads of the request body.
func (w *response) SetReadDeadline(t time.Time) error {
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rd.Set(t)
	return c.nc.SetReadDeadline(t)
}

// SetWriteDeadline bounds the writes of the response.
// It replaces the send timeout until the request ends.
func (w *response) SetWriteDeadline(t time.Time) error {
	w.c.wdFixed = true
	return w.c.nc.SetWriteDeadline(t)
}

// EnableFullDuplex is a no-op: the request body can always be read while
// the response is written.
func (w *response) EnableFullDuplex() error { return nil }

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
	_ http.Hijacker       = (*response)(nil)
)

// writeStatus writes the status line.
func writeStatus(bw *bufio.Writer, code int) {
	if code < len(statusLines) && statusLines[code] != "" {
		_, _ = bw.WriteString(statusLines[code])
		return
	}
	_, _ = bw.WriteString("HTTP/1.1 ")
	var b [3]byte
	_, _ = bw.Write(strconv.AppendInt(b[:0], int64(code), 10))
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(http.StatusText(code))
	_, _ = bw.WriteString("\r\n")
}

var statusLines = func() []string {
	s := make([]string, 600)
	for code := 100; code < 600; code++ {
		if t := http.StatusText(code); t != "" {
			s[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + t + "\r\n"
		}
	}
	return s
}()

// writeFields writes the header fields. A name that is not a token is
// dropped and CR or LF in a value become spaces, so no handler can split
// a response.
func writeFields(bw *bufio.Writer, h http.Header) {
	for k, vs := range h {
		if !httpguts.ValidHeaderFieldName(k) || framingAlias(k) {
			continue
		}
		for _, v := range vs {
			_, _ = bw.WriteString(k)
			_, _ = bw.WriteString(": ")
			if strings.ContainsAny(v, "\r\n") {
				v = strings.Map(func(r rune) rune {
					if r == '\r' || r == '\n' {
						return ' '
					}
					return r
				}, v)
			}
			_, _ = bw.WriteString(strings.TrimSpace(v))
			_, _ = bw.WriteString("\r\n")
		}
	}
}

// framingAlias reports whether k is a framing header in a spelling other
// than the canonical one, which the server reads: a handler that set
// "content-length" by hand must not add a second framing.
func framingAlias(k string) bool {
	switch len(k) {
	case len("Connection"), len("Content-Length"), len("Transfer-Encoding"), len("Trailer"):
		for _, f := range [...]string{"Connection", "Content-Length", "Transfer-Encoding", "Trailer"} {
			if k != f && strings.EqualFold(k, f) {
				return true
			}
		}
	}
	return false
}

// date returns the Date header's value for now, formatted once a second.
func date() string {
	now := time.Now().Unix()
	if d := cachedDate.Load(); d != nil && d.unix == now {
		return d.text
	}
	d := &dateText{unix: now, text: time.Unix(now, 0).UTC().Format(http.TimeFormat)}
	cachedDate.Store(d)
	return d.text
}

type dateText struct {
	unix int64
	text string
}

var cachedDate atomic.Pointer[dateText]
