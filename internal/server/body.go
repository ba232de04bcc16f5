package server

import (
	"bufio"
	"errors"
	"io"
	"net/http/httputil"
	"sync"
	"time"
)

// body is a request's body: exactly Content-Length bytes, or the chunked
// coding (decoded by the standard library's strict reader) followed by a
// trailer section, which is read and dropped.
type body struct {
	c       *conn
	br      *bufio.Reader
	chunked io.Reader // nil when framed by length
	left    int64     // bytes left when framed by length
	expect  bool      // 100 Continue not sent yet
	mu      sync.Mutex
	done    bool // read to its end
	err     error
	closed  bool // the handler returned; reads fail
}

var errBodyClosed = errors.New("http: invalid Read on closed Body")

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errBodyClosed
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.expect {
		b.expect = false
		if err := b.c.sendContinue(); err != nil {
			b.err = err
			return 0, err
		}
	}
	var n int
	var err error
	if b.chunked == nil {
		if b.left <= 0 {
			b.finish()
			return 0, io.EOF
		}
		if int64(len(p)) > b.left {
			p = p[:b.left]
		}
		n, err = b.br.Read(p)
		b.left -= int64(n)
		if b.left == 0 {
			b.finish()
			err = io.EOF
		} else if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
	} else {
		n, err = b.chunked.Read(p)
		if errors.Is(err, io.EOF) {
			if terr := b.readTrailer(); terr != nil {
				err = terr
			} else {
				b.finish()
			}
		}
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

// readTrailer reads the trailer fields after the last chunk, up to the
// empty line, and drops them: Portico forwards no request trailers.
func (b *body) readTrailer() error {
	var size int
	for {
		line, err := b.br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		size += len(line)
		if size > maxTrailer {
			return errors.New("http: request trailer too large")
		}
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return errors.New("http: malformed trailer line")
		}
		if len(line) == 2 {
			return nil
		}
		// Each line must be a field line, as in the head: a message the
		// next hop would read differently is refused.
		if _, err := parseFields(string(line)); err != nil {
			return errors.New("http: malformed trailer line")
		}
	}
}

const maxTrailer = 8 << 10

// finish records that the body was read to its end: the connection's
// next request starts where it stopped.
func (b *body) finish() {
	b.done = true
	b.err = io.EOF
	b.c.bodyRead()
}

func (b *body) Close() error { return nil }

// discard reads what is left of the body, at most limit bytes and for at
// most a second, so the connection can serve its next request; false
// means the connection must close instead.
func (b *body) discard(limit int64) bool {
	b.mu.Lock()
	done, err, expect, left := b.done, b.err, b.expect, b.left
	b.mu.Unlock()
	if done {
		return true
	}
	if err != nil || expect || b.chunked == nil && left > limit {
		// A broken body cannot be skipped; one the client is still
		// waiting to be asked for was never sent; a long one is not
		// worth reading.
		return false
	}
	b.c.setReadDeadline(time.Now().Add(time.Second))
	n, err := io.Copy(io.Discard, io.LimitReader(b, limit+1))
	return err == nil && n <= limit && b.isDone()
}

func (b *body) isDone() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done
}

// close makes every later Read fail: the handler has returned.
func (b *body) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
}

func newBody(c *conn, h head) *body {
	b := &body{c: c, br: c.br, left: h.length, expect: h.expect}
	if h.chunked {
		b.chunked = httputil.NewChunkedReader(c.br)
	}
	return b
}

var _ io.ReadCloser = (*body)(nil)

// noBody reports whether a request has no body at all.
func noBody(h head) bool { return !h.chunked && h.length == 0 }
